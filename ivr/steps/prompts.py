"""What the step machine itself says, per language (a flow's own step prompts come first)."""

from __future__ import annotations

from ..types import Lang

__all__ = ["system_text"]

_TEXT: dict[str, dict[str, str]] = {
    "invalid": {"zh": "输入无效。", "en": "Sorry, that was not valid.",
                "ko": "올바른 입력이 아닙니다."},
    "no_input": {"zh": "没有收到您的输入。", "en": "Sorry, I did not get that.",
                 "ko": "입력이 없었습니다."},
    "confirm": {"zh": "您输入的是{value}，正确请按1或说“对”，重新输入请按2。",
                "en": "You entered {value}. Press 1 or say yes if that is right, 2 to enter "
                      "it again.",
                "ko": "입력하신 번호는 {value}입니다. 맞으면 1번을 누르거나 네라고 말씀해 "
                      "주세요. 다시 입력하려면 2번을 누르세요."},
    "auth_retry": {"zh": "验证未通过，请重新输入。", "en": "We could not verify you. Please "
                   "try again.", "ko": "본인 확인에 실패했습니다. 다시 입력해 주세요."},
    "auth_locked": {"zh": "验证多次未通过，正在为您转接人工服务。",
                    "en": "We could not verify you. Transferring you to an agent.",
                    "ko": "본인 확인에 여러 번 실패하여 상담원에게 연결해 드리겠습니다."},
    "backend_error": {"zh": "系统暂时无法处理，正在为您转接人工服务。",
                      "en": "Our systems cannot complete this right now. Transferring you "
                            "to an agent.",
                      "ko": "지금은 시스템에서 처리할 수 없어 상담원에게 연결해 드리겠습니다."},
}


def system_text(key: str, lang: Lang) -> str:
    """A built-in step prompt."""
    return _TEXT[key][lang]

"""What a caller says they do not mean is left out of routing (ivr/nlu/contrast.py)."""

from __future__ import annotations

import pytest

from ivr.call import Hotline
from ivr.flow import Flow
from ivr.nlu.contrast import focus
from ivr.types import Lang

DROPPED = [
    ("ko", "카드 말고 계좌로 돈 부치는 거요", "계좌로 돈 부치는 거요"),
    ("ko", "기계 말고 사람", "사람"),
    ("ko", "녹음된 목소리 말고 사람이 받아 주세요", "사람이 받아 주세요"),
    ("ko", "노인은 기계 말고 사람이 도와주나요", "노인은 사람이 도와주나요"),
    ("ko", "상담원 바꿔 주세요 ARS 말고", "상담원 바꿔 주세요"),
    ("ko", "분실은 아니고요, 기계가 카드를 안 돌려줘요.", "기계가 카드를 안 돌려줘요."),
    ("ko", "기계 오류가 아니라 누가 몰래 돈을 뺐어요", "누가 몰래 돈을 뺐어요"),
    ("ko", "카드가 기계에 먹혔어요 분실은 아니고요", "카드가 기계에 먹혔어요"),
    ("zh", "卡不是丢了,是被柜员机吞了", "卡 是被柜员机吞了"),
    ("zh", "不是挂失而是查余额", "而是查余额"),
    ("en", "it's not lost, it's stuck in the machine", "it's stuck in the machine"),
    ("en", "I'm not calling about the bill, I'm calling to complain", "I'm calling to complain"),
    ("en", "put me through to a person, not this machine", "put me through to a person"),
    ("en", "not the credit card bill but my credit report", "my credit report"),
]

KEPT = [  # a negation that is the request itself, or no contrast at all
    ("ko", "제가 한 게 아니라고요"),
    ("ko", "카드뿐만 아니라 통장도 잃어버렸어요"),
    ("ko", "돈이 안 나왔어요"),
    ("ko", "모르는 결제가 찍혔어요, 제가 한 거 아니에요"),  # the denial is the report
    ("ko", "수수료가 너무 비싸요, 부당한 거 아니에요?"),
    ("zh", "有一笔不是我的贷款,是不是你们报错了?"),
    ("zh", "不是我转的钱"),
    ("zh", "是不是银行搞错了,是我的钱少了"),
    ("zh", "不是很清楚是什么问题"),
    ("en", "I did not make this payment"),
    ("en", "I'm not able to log in, my password is wrong"),
    ("en", "there's not a single cent left in my account"),
    ("en", "not only my card but my phone was stolen"),
    ("ko", "말고"),  # nothing would be left to route
    ("en", "not the app"),
]


@pytest.mark.parametrize(("lang", "said", "focused"), DROPPED)
def test_the_negated_part_is_dropped(lang: Lang, said: str, focused: str) -> None:
    assert focus(said, lang) == focused


@pytest.mark.parametrize(("lang", "said"), KEPT)
def test_a_negation_without_a_contrast_is_kept(lang: Lang, said: str) -> None:
    assert focus(said, lang) == said


# each of these went to the negated intent before the contrast rule (2026-12-06)
ROUTED = [
    ("ko", "비밀번호 변경 아니고요, 잔액 확인이요", "balance_inquiry"),
    ("ko", "카드 분실 신고 말고 잔액 조회", "balance_inquiry"),
    ("ko", "사기 신고 아니고, 이체 한도가 궁금해요", "transfer"),
    ("en", "It's not a lost card, I just need my balance", "balance_inquiry"),
    ("en", "I'm not reporting fraud, I just want to know my balance", "balance_inquiry"),
    ("en", "not the credit card bill but my credit report", "credit_report"),
]


@pytest.fixture(scope="module")
def hotline(bank: Flow) -> Hotline:
    return Hotline(bank)


@pytest.mark.parametrize(("lang", "said", "intent"), ROUTED)
def test_contrasts_route_to_what_the_caller_means(hotline: Hotline, lang: Lang, said: str,
                                                  intent: str) -> None:
    routed = hotline.route(said, lang)
    assert (routed.intent, routed.decision in ("accept", "confirm")) == (intent, True)


def test_route_explain_shows_what_was_read(capsys: pytest.CaptureFixture[str]) -> None:
    from ivr.cli import main

    from .conftest import BANK

    assert main(["route", "--flow", str(BANK), "--lang", "en", "--explain",
                 "It's not a lost card, I just need my balance"]) == 0
    assert "read as 'I just need my balance'" in capsys.readouterr().out
    assert main(["route", "--flow", str(BANK), "--lang", "en", "--json", "--explain",
                 "my card is lost"]) == 0
    assert '"read_as": "my card is lost"' in capsys.readouterr().out

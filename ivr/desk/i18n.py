"""The desk's labels in zh, en and ko: the flow's own where it has them, this table for the rest.

Intent labels come from the flow (`Intent.label`, the phrase callers hear in confirmations);
queue and node names are the flow's ids. Everything else an agent reads on the desk is here.
A missing entry falls back to English, then to the key itself (a test checks none is missing).
"""

from __future__ import annotations

from collections.abc import Callable

from ..flow import Flow

__all__ = ["STRINGS", "Labels", "labels"]

STRINGS: dict[str, tuple[str, str, str]] = {
    # key: (zh, en, ko)
    "title": ("坐席工作台", "Agent desk", "상담원 데스크"),
    "supervisor": ("班长视图", "Supervisor", "관리자 화면"),
    "login": ("登录", "Log in", "로그인"),
    "logout": ("退出", "Log out", "로그아웃"),
    "name": ("用户名", "Name", "이름"),
    "password": ("密码", "Password", "비밀번호"),
    "bad_login": ("用户名或密码错误", "Wrong name or password", "이름 또는 비밀번호가 틀렸습니다"),
    "throttled": ("尝试次数过多，请稍后再试", "Too many attempts; try again later",
                  "시도가 너무 많습니다. 잠시 후 다시 시도하세요"),
    "language": ("界面语言", "Language", "언어"),
    "apply": ("应用", "Apply", "적용"),
    "queues": ("队列", "Queues", "대기열"),
    "queue": ("队列", "Queue", "대기열"),
    "waiting": ("等待中", "Waiting", "대기 중"),
    "nobody": ("无人等待", "Nobody waiting", "대기 중인 고객 없음"),
    "take_next": ("接听下一位", "Take next caller", "다음 고객 받기"),
    "take_here": ("接听此队列", "Take next in this queue", "이 대기열에서 받기"),
    "nothing_to_take": ("没有可接听的来电", "No caller waiting for you",
                        "받을 수 있는 고객이 없습니다"),
    "held": ("我的来电", "My callers", "내 고객"),
    "open": ("打开", "Open", "열기"),
    "call": ("来电", "Call", "통화"),
    "reason": ("转人工原因", "Handoff reason", "상담 연결 사유"),
    "lang": ("语言", "Language", "언어"),
    "priority": ("优先级", "Priority", "우선순위"),
    "intent": ("意图", "Intent", "의도"),
    "waited": ("等待", "Waited", "대기 시간"),
    "heard": ("客户所说（逐轮）", "What the caller said, turn by turn", "고객 발화 (턴별)"),
    "candidates": ("候选意图与置信度", "Candidates and confidence", "후보 의도와 신뢰도"),
    "slots": ("已收集信息（已遮蔽）", "Slots (masked)", "수집 정보 (마스킹)"),
    "path": ("流程路径", "Path through the flow", "흐름 경로"),
    "overlays": ("生效的覆盖层", "Active overlays", "적용 중인 오버레이"),
    "none": ("无", "none", "없음"),
    "release": ("放回队列", "Release to queue", "대기열로 돌려보내기"),
    "transfer": ("转到队列", "Transfer to queue", "다른 대기열로 전환"),
    "close": ("结束并记录", "Close with disposition", "처리 결과와 함께 종료"),
    "disposition": ("处理结果", "Disposition", "처리 결과"),
    "lost": ("此来电已不在您手中（租约已过期或已被处理）",
             "You no longer hold this caller (lease expired or closed)",
             "이 고객은 더 이상 배정되어 있지 않습니다 (임대 만료 또는 종료)"),
    "not_yours": ("此来电不在您手中", "You do not hold this caller",
                  "배정된 고객이 아닙니다"),
    "forbidden": ("无权访问", "Not allowed", "권한이 없습니다"),
    "agents": ("坐席", "Agents", "상담원"),
    "holds": ("正在处理", "Holding", "처리 중"),
    "longest": ("最长等待", "Longest wait", "최장 대기"),
    "sla": ("服务水平", "Service level", "서비스 수준"),
    "taken": ("处理中", "Taken", "처리 중"),
    "done": ("已结束", "Closed", "종료"),
    "last_hour": ("最近一小时", "The last hour", "최근 1시간"),
    "filed": ("转人工", "Handed off", "상담 연결"),
    "answered": ("已接听", "Answered", "응답"),
    "released": ("放回", "Released", "반환"),
    "expired": ("租约过期", "Leases expired", "임대 만료"),
    "transferred": ("转队列", "Transferred", "전환"),
    "by_reason": ("按原因的转人工", "Handoffs by reason", "사유별 상담 연결"),
    "busiest": ("最繁忙节点", "Busiest nodes", "가장 많이 거친 노드"),
    "closed_by_agents": ("坐席结束率", "Closed by agents", "상담원 종료율"),
    "calls": ("来电结果", "Calls", "통화 결과"),
    "window": ("统计窗口", "Window", "집계 구간"),
    "minutes": ("分钟", "min", "분"),
    "calls_ended": ("结束的来电", "Calls ended", "종료된 통화"),
    "containment": ("自助完成率", "Containment", "자동 처리율"),
    "contained": ("自助完成", "Contained", "자동 처리"),
    "handed_off": ("转人工", "Handed off", "상담 연결"),
    "failed": ("系统故障转人工", "Failed (to a human)", "장애로 상담 연결"),
    "transfers": ("按原因的转接", "Transfers by reason", "사유별 연결"),
    "navigation": ("导航准确率", "Navigation accuracy", "안내 정확도"),
    "labelled": ("有标注的来电", "labelled calls", "라벨된 통화"),
    "no_labels": ("暂无质检标注", "No QA labels yet", "QA 라벨 없음"),
    "busiest_nodes": ("最多来电的节点", "Busiest nodes (calls)", "통화가 가장 많은 노드"),
    "skills": ("技能", "Skills", "기술"),
    "live": ("实时", "live", "실시간"),
    "offline": ("连接中断，正在重连…", "Connection lost, reconnecting…", "연결 끊김, 재연결 중…"),
    "back": ("返回", "Back", "뒤로"),
    "resolved": ("已解决", "Resolved", "해결"),
    "callback": ("需回电", "Call back", "콜백 필요"),
    "fraud_confirmed": ("确认欺诈", "Fraud confirmed", "사기 확인"),
    "fraud_cleared": ("排除欺诈", "Not fraud", "사기 아님"),
    "wrong_queue": ("队列错误", "Wrong queue", "잘못된 대기열"),
    "caller_hung_up": ("客户挂断", "Caller hung up", "고객이 끊음"),
}
"""UI strings: key -> (zh, en, ko)."""

_INDEX = {"zh": 0, "en": 1, "ko": 2}
_NAMES = {"zh": "中文", "en": "English", "ko": "한국어"}


class Labels:
    """The labels of one language, as a callable for templates (`t("take_next")`)."""

    def __init__(self, lang: str, flow: Flow) -> None:
        self.lang = lang if lang in _INDEX else "en"
        self._flow = flow
        self.names = _NAMES

    def __call__(self, key: str) -> str:
        entry = STRINGS.get(key)
        if entry is None:
            return key
        return entry[_INDEX[self.lang]] or entry[1]

    def intent(self, intent_id: str | None) -> str:
        """The flow's label for an intent in this language (its id when the flow has none)."""
        if intent_id is None:
            return "-"
        intent = self._flow.intents.get(intent_id)
        if intent is None:
            return intent_id
        return intent.label.get(self.lang) or intent.label.get("en") or intent_id  # type: ignore[call-overload]


def labels(flow: Flow) -> Callable[[str], Labels]:
    """A factory: language -> its `Labels` for this flow."""
    return lambda lang: Labels(lang, flow)

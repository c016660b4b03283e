"""Synthetic but realistic flows of any size, for the flow-scaling bench and tests.

Each intent is a made-up banking request (zh, en or ko: one language per flow, so that 10,000
intents fit the file caps), built from word banks with a fixed seed, so the same size always
gives the same file: a verb, a product, a detail and a circumstance, in caller-like templates.
Intents target shared service nodes; a tenth of them are local to one of several sub-menus (the
rest are global), so not every pair of intents is understood at the same menu.
"""

from __future__ import annotations

import random

__all__ = ["synthetic_flow"]


def _bank(text: str) -> tuple[str, ...]:
    return tuple(text.split("|"))


_WORDS = {
    "en": (
        _bank("block|open|close|renew|check|change|cancel|report|pay|upgrade|freeze|unlock|"
              "transfer|dispute|activate|update|review|replace|register|refund|split|extend|"
              "verify|top up"),
        _bank("debit card|credit card|savings account|mortgage|car loan|pension|overdraft|"
              "standing order|direct debit|travel card|gold card|business account|"
              "student loan|deposit box|insurance|bond|fund|cheque book|mobile banking|"
              "online banking|wire|allowance|voucher|mileage points|salary account|"
              "joint account|payroll|fixed deposit"),
        _bank("limit|statement|interest rate|fee|pin|address|contract|due date|balance|"
              "password|beneficiary|currency|receipt|plan|schedule|nickname|alerts|"
              "certificate|tax form|overdue notice"),
        _bank("today|this month|for my son|abroad|before friday|online|for my wife|"
              "right now|next week|at the branch|by phone|for my company"),
        ("i want to {v} my {t} {d} {w}", "{v} the {t} {d} {w} please",
         "how do i {v} my {t} {d} {w}", "can you {v} my {d} for the {t} {w}"),
    ),
    "zh": (
        _bank("挂失|开通|注销|续期|查询|修改|取消|投诉|缴纳|升级|冻结|解冻|转出|申诉|激活|更新|"
              "复核|补办|登记|退回|分期|延长|核实|充值"),
        _bank("借记卡|信用卡|储蓄账户|房贷|车贷|养老金|透支|定期转账|代扣|旅行卡|金卡|对公账户|"
              "助学贷款|保险箱|保险|债券|基金|支票本|手机银行|网上银行|电汇|零花钱|优惠券|"
              "里程积分|工资卡|联名账户|代发工资|定期存款"),
        _bank("额度|账单|利率|手续费|密码|地址|合同|还款日|余额|登录密码|收款人|币种|回单|套餐|"
              "计划|昵称|提醒|证明|税表|催收通知"),
        _bank("今天|这个月|给我儿子|在国外|周五前|在网上|给我太太|现在|下周|去网点|打电话|"
              "给公司"),
        ("我要{w}{v}{t}{d}", "帮我{w}{v}{t}的{d}", "{t}{d}{w}怎么{v}", "想{w}{v}一下{t}{d}"),
    ),
    "ko": (
        _bank("정지|개설|해지|갱신|조회|변경|취소|신고|납부|업그레이드|동결|해제|이체|이의 제기|"
              "활성화|업데이트|검토|재발급|등록|환불|분할|연장|확인|충전"),
        _bank("체크카드|신용카드|저축 계좌|주택 대출|자동차 대출|연금|마이너스 통장|자동 이체|"
              "정기 출금|여행 카드|골드 카드|법인 계좌|학자금 대출|대여 금고|보험|채권|펀드|"
              "수표책|모바일 뱅킹|인터넷 뱅킹|해외 송금|용돈|쿠폰|마일리지|급여 통장|"
              "공동 명의 계좌|급여 이체|정기 예금"),
        _bank("한도|명세서|금리|수수료|비밀번호|주소|계약서|결제일|잔액|로그인 비밀번호|수취인|"
              "통화|영수증|요금제|일정|별명|알림|증명서|세금 서류|연체 안내"),
        _bank("오늘|이번 달|아들 것|해외에서|금요일 전에|온라인으로|아내 것|지금|다음 주|"
              "지점에서|전화로|회사 것"),
        ("{w} {t} {d} {v}해 주세요", "{t} {d} {w} {v} 부탁해요", "{w} {t} {d} {v}하려고요",
         "제 {t} {d} {v}요 {w}"),
    ),
}

_SYSTEM = {
    "en": ("prompts:", "  confirm: {en: 'You want {label}, right?'}",
           "  reprompt: {en: Please say that again}", "  no_input: {en: Are you still there?}",
           "  handoff: {en: Transferring you}",
           "confirm_words: {yes: {en: ['yes', correct]}, no: {en: ['no', wrong]}}"),
    "zh": ("prompts:", "  confirm: {zh: '您是要{label}，对吗？'}", "  reprompt: {zh: 请再说一遍}",
           "  no_input: {zh: 您还在吗}", "  handoff: {zh: 正在为您转接}",
           "confirm_words: {yes: {zh: [是, 对]}, no: {zh: [不是, 不对]}}"),
    "ko": ("prompts:", "  confirm: {ko: '{label}, 맞으신가요?'}",
           "  reprompt: {ko: 다시 말씀해 주세요}", "  no_input: {ko: 듣고 계신가요}",
           "  handoff: {ko: 연결해 드리겠습니다}",
           "confirm_words: {yes: {ko: [네, 맞아요]}, no: {ko: [아니요, 아니]}}"),
}
_PROMPT = {"en": "Go ahead", "zh": "请讲", "ko": "말씀하세요"}


def _combos(n: int, lang: str, rng: random.Random) -> list[tuple[int, ...]]:
    """n distinct (verb, thing, detail, circumstance) index tuples."""
    sizes = [len(bank) for bank in _WORDS[lang][:4]]
    total = sizes[0] * sizes[1] * sizes[2] * sizes[3]
    out = []
    for k in rng.sample(range(total), min(n, total)):
        digits = []
        for size in reversed(sizes):
            k, d = divmod(k, size)
            digits.append(d)
        out.append(tuple(reversed(digits)))
    return out


def synthetic_flow(n_intents: int, lang: str = "en", *, seed: int = 7, phrases: int = 2) -> str:
    """The YAML text of a one-language flow with `n_intents` intents, `phrases` phrases each."""
    rng = random.Random(seed)
    verbs, things, details, whens, templates = _WORDS[lang]
    n_menus = max(1, n_intents // 500)
    n_services = max(1, n_intents // 10)
    lines = ["flow: synthetic", f"languages: [{lang}]", "start: root",
             "queues: {general: {priority: normal}}", *_SYSTEM[lang], "intents:"]
    local: dict[int, list[str]] = {m: [] for m in range(n_menus)}
    for k, (v, t, d, w) in enumerate(_combos(n_intents, lang, rng)):
        iid = f"i{k:05d}"
        said = [tpl.format(v=verbs[v], t=things[t], d=details[d], w=whens[w])
                for tpl in rng.sample(templates, phrases)]
        scope = ""
        if k % 10 == 9 and n_menus > 1:
            scope = "global: false, "
            local[k % n_menus].append(iid)
        lines.append(f"  {iid}: {{target: s{k % n_services}, {scope}label: {{{lang}: "
                     f"{things[t]}}}, phrases: {{{lang}: [{', '.join(said)}]}}}}")
    prompt = f"{{{lang}: {_PROMPT[lang]}}}"
    lines += ["nodes:", f"  root: {{type: menu, prompt: {prompt}, on_fail: agent, "
                        f"dtmf: {{'0': agent, '1': m0}}}}"]
    for m, ids in local.items():
        lines.append(f"  m{m}: {{type: menu, prompt: {prompt}, on_fail: agent, "
                     f"intents: [{', '.join(ids)}]}}")
    for s in range(n_services):
        lines.append(f"  s{s}: {{type: service, prompt: {prompt}, next: m{s % n_menus}}}")
    lines.append(f"  agent: {{type: transfer, queue: general, prompt: {prompt}}}")
    return "\n".join(lines) + "\n"

"""Made-up customers for the sample bank, from a seed: the same seed gives the same bank.

`customers(n, seed)` yields each customer's facts with the PIN in clear (tests and the demo
need to know them); `seed_db` stores them with the PIN as a salted scrypt hash. The first
three are the demo personas (docs/backend.md), the same for every seed.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass

from .atms import ATMS
from .pins import DEFAULT_COST, hash_pin
from .store import Store

__all__ = ["PERSONAS", "Customer", "customers", "seed_db"]

_HOME_CURRENCY = {"zh": "CNY", "en": "USD", "ko": "KRW"}
_PIN_DIGITS = {"zh": 6, "en": 4, "ko": 4}
_SURNAMES = {"zh": "王李张刘陈杨赵黄周吴", "ko": "김이박최정강조윤장임",
             "en": ("Smith", "Johnson", "Carter", "Brown", "Garcia", "Miller", "Davis", "Lopez")}
_GIVEN = {"zh": ("伟", "芳", "娜", "敏", "静", "磊", "洋", "婷", "强", "杰"),
          "ko": ("민준", "서연", "지호", "하은", "도윤", "수아", "현우", "지민", "예준", "채원"),
          "en": ("Emily", "James", "Olivia", "Noah", "Ava", "Liam", "Mia", "Ethan", "Grace")}
_MERCHANTS = {"CNY": ("美团外卖", "京东商城", "星巴克", "滴滴出行", "盒马鲜生", "中国石化"),
              "KRW": ("이마트", "쿠팡", "스타벅스", "GS25", "카카오T", "배달의민족"),
              "USD": ("Amazon", "Whole Foods", "Uber", "Starbucks", "Shell", "Target")}
_SPEND = {"CNY": (500, 200_000), "KRW": (3_000, 300_000), "USD": (300, 30_000)}
_BALANCE = {"CNY": 20_000_000, "KRW": 50_000_000, "USD": 5_000_000}


@dataclass(frozen=True)
class Customer:
    """One made-up customer's facts (the PIN in clear: for tests and the demo only)."""

    id: str
    name: str
    lang: str
    caller_number: str
    """E.164 without the plus: country code and number, digits only."""
    birth_date: str
    pin: str
    cards: tuple[str, ...]
    """Card tails; the first is the primary card."""


PERSONAS: tuple[Customer, ...] = (
    Customer("C00001", "김민준", "ko", "821012345678", "1985-03-14", "4829", ("5312", "7740")),
    Customer("C00002", "王芳", "zh", "8613800138000", "1979-11-02", "305917", ("6225",)),
    Customer("C00003", "Emily Carter", "en", "14155550123", "1990-07-21", "7164", ("4417",)),
)
"""The demo callers: a Korean, a Chinese and an English-speaking customer."""


def _phone(rng: random.Random, lang: str) -> str:
    if lang == "zh":
        return "86" + rng.choice(("138", "139", "150", "186")) + f"{rng.randrange(10**8):08d}"
    if lang == "ko":
        return "8210" + f"{rng.randrange(10**8):08d}"
    return "1" + rng.choice(("212", "415", "646", "917")) + "555" + f"{rng.randrange(10**4):04d}"


def _name(rng: random.Random, lang: str) -> str:
    surname, given = rng.choice(_SURNAMES[lang]), rng.choice(_GIVEN[lang])
    return f"{given} {surname}" if lang == "en" else surname + given


def customers(n: int, seed: int = 0) -> Iterator[Customer]:
    """`n` customers: the personas, then made-up ones drawn from `seed`."""
    rng = random.Random(seed)
    numbers = {p.caller_number for p in PERSONAS}
    for i in range(n):
        if i < len(PERSONAS):
            yield PERSONAS[i]
            continue
        lang = rng.choice(("zh", "zh", "ko", "ko", "en"))
        number = _phone(rng, lang)
        while number in numbers:
            number = _phone(rng, lang)
        numbers.add(number)
        birth = dt.date(1940, 1, 1) + dt.timedelta(days=rng.randrange(365 * 64))
        pin = "".join(rng.choice("0123456789") for _ in range(_PIN_DIGITS[lang]))
        tails = tuple(f"{rng.randrange(10**4):04d}" for _ in range(rng.choice((1, 1, 2))))
        yield Customer(f"C{i + 1:05d}", _name(rng, lang), lang, number, birth.isoformat(), pin,
                       tuple(dict.fromkeys(tails)))


def seed_db(store: Store, n: int, seed: int = 0, *, today: dt.date | None = None,
            pin_cost: int = DEFAULT_COST) -> int:
    """Fill `store` with `n` customers and every ATM (an empty bank first); how many."""
    today = today or dt.date.today()
    rng = random.Random(seed + 1)
    with store.tx() as db:
        for table in ("customers", "cards", "accounts", "transactions", "atms", "loans", "cases",
                      "idempotency", "request_log", "meta"):
            db.execute(f"DELETE FROM {table}")
        db.execute("INSERT INTO meta VALUES ('seed', ?), ('today', ?)", (str(seed), str(today)))
        count = 0
        for c in customers(n, seed):
            _store_customer(db, c, rng, today, pin_cost)
            count += 1
        for a in ATMS:
            db.execute("INSERT INTO atms VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (a.id, json.dumps(a.name, ensure_ascii=False),
                        json.dumps(a.area, ensure_ascii=False),
                        json.dumps(a.landmarks, ensure_ascii=False),
                        json.dumps(a.address, ensure_ascii=False), a.hours, a.utc_offset))
    return count


def _store_customer(db: sqlite3.Connection, c: Customer, rng: random.Random, today: dt.date,
                    pin_cost: int) -> None:
    db.execute("INSERT INTO customers (id, name, lang, caller_number, birth_date, pin_hash) "
               "VALUES (?, ?, ?, ?, ?, ?)", (c.id, c.name, c.lang, c.caller_number,
                                             c.birth_date, hash_pin(c.pin, cost=pin_cost)))
    persona = c in PERSONAS
    for i, tail in enumerate(c.cards):
        frozen = not persona and rng.random() < 0.05
        db.execute("INSERT INTO cards (customer_id, tail, is_primary, frozen) VALUES (?, ?, ?, ?)",
                   (c.id, tail, int(i == 0), int(frozen)))
    home = _HOME_CURRENCY[c.lang]
    currencies = [home] + [x for x in _BALANCE if x != home and rng.random() < 0.2]
    for cur in currencies:
        db.execute("INSERT INTO accounts VALUES (?, ?, ?, ?)",
                   (c.id, cur, int(cur == home), rng.randrange(_BALANCE[cur])))
    for k in range(rng.randrange(8, 25)):
        low, high = _SPEND[home]
        day = today - dt.timedelta(days=rng.randrange(90))
        amount = -rng.randrange(low, high) if rng.random() < 0.9 else rng.randrange(low, high * 5)
        if home == "KRW":
            amount -= amount % 10
        db.execute("INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?)",
                   (f"T{c.id[1:]}{k:03d}", c.id, day.isoformat(), amount, home,
                    rng.choice(_MERCHANTS[home])))
    if persona or rng.random() < 0.4:
        due = today + dt.timedelta(days=rng.randrange(1, 28))
        arrears = 0 if persona or rng.random() < 0.85 else rng.randrange(1, 4)
        db.execute("INSERT INTO loans (customer_id, principal_minor, currency, due_date, "
                   "arrears_months) VALUES (?, ?, ?, ?, ?)",
                   (c.id, rng.randrange(_BALANCE[home] * 10), home, due.isoformat(), arrears))

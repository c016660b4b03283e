"""What a SIP call says about itself: called number, language, SIP INFO keys (sans-I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.phone.callinfo import call_lang, called_number, calling_number, info_key
from ivr.types import Dtmf

LANGS = ("zh", "en", "ko")


@pytest.mark.parametrize(("uri", "to", "number"), [
    ("sip:1588@127.0.0.1:5080", None, "1588"),
    ("sip:1588@pbx.example;user=phone", "<sip:1599@x>", "1588"),
    ("sips:ivr-ko@10.0.0.1", None, "ivr-ko"),
    ("tel:+8215881234", None, "+8215881234"),
    ("sip:127.0.0.1:5080", "\"Bank\" <sip:1599@127.0.0.1>;tag=1", "1599"),
    ("sip:1588:secret@127.0.0.1", None, "1588"),
    ("", "\"Bank\" <sip:1599@127.0.0.1>;tag=1", "1599"),
    ("", None, None),
])
def test_the_called_number_is_the_request_uri_user_else_to(
    uri: str, to: str | None, number: str | None
) -> None:
    assert called_number(uri, to) == number


@pytest.mark.parametrize(("asserted", "from_", "number"), [
    (None, "<sip:+821012345678@127.0.0.1>;tag=a", "821012345678"),
    (None, "\"Kim\" <sip:01012345678@pbx>;tag=b", "01012345678"),
    ("<tel:+8613800138000>", "<sip:anonymous@anonymous.invalid>;tag=c", "8613800138000"),
    (None, "<sip:anonymous@anonymous.invalid>;tag=c", None),
    (None, "<sip:caller@127.0.0.1>;tag=d", None),
    (None, "<sip:12@127.0.0.1>;tag=e", None),
    (None, "<sip:" + "1" * 40 + "@x>", None),
    (None, None, None),
])
def test_the_calling_number_is_asserted_identity_else_from_when_a_phone_number(
    asserted: str | None, from_: str | None, number: str | None
) -> None:
    assert calling_number(asserted, from_) == number


def test_the_header_wins_then_the_number_then_the_default() -> None:
    lang_for = {"1588": "ko", "1599": "en"}
    assert call_lang("1588", None, lang_for=lang_for, languages=LANGS) == "ko"
    assert call_lang("1599", None, lang_for=lang_for, languages=LANGS) == "en"
    assert call_lang("1599", " KO ", lang_for=lang_for, languages=LANGS) == "ko"
    assert call_lang("1600", None, lang_for=lang_for, languages=LANGS) is None
    assert call_lang(None, "zh", lang_for=lang_for, languages=("ko", "en")) is None
    assert call_lang("1588", "fr", lang_for=lang_for, languages=LANGS) == "ko"


@pytest.mark.parametrize(("kind", "body", "key"), [
    ("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", Dtmf.D5),
    ("Application/DTMF-Relay; charset=x", "signal= #\r\nDuration=100", Dtmf.HASH),
    ("application/dtmf-relay", "Signal=*\nDuration=250\n", Dtmf.STAR),
    ("application/dtmf", "7", Dtmf.D7),
    ("application/dtmf", " 0\r\n", Dtmf.D0),
    ("application/dtmf-relay", "Signal=Z\r\n", None),
    ("application/dtmf-relay", "Duration=160\r\n", None),
    ("application/dtmf", "12", None),
    ("application/dtmf", "1" * 2000, None),
    ("application/media_control+xml", "<x/>", False),
    (None, "Signal=5", False),
])
def test_info_bodies(kind: str | None, body: str, key: Dtmf | bool | None) -> None:
    assert info_key(kind, body) == key


@settings(max_examples=2000, deadline=None)
@given(st.one_of(st.none(), st.sampled_from(["application/dtmf-relay", "application/dtmf"]),
                 st.text(max_size=40)),
       st.text(max_size=300), st.text(max_size=300), st.one_of(st.none(), st.text(max_size=40)))
def test_nothing_a_peer_sends_raises(kind: str | None, body: str, uri: str,
                                     header: str | None) -> None:
    key = info_key(kind, body)
    assert key is None or key is False or isinstance(key, Dtmf)
    number = called_number(uri, header)
    assert number is None or (number and "@" not in number)
    caller = calling_number(header, uri)
    assert caller is None or caller.isdigit()
    assert call_lang(number, header, lang_for={}, languages=LANGS) in (None, *LANGS)

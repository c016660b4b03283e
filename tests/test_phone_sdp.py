"""SDP offer/answer: the offer's codec order wins, hostile bodies give an error value."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from ivr.phone.sdp import (
    MAX_BYTES,
    Answer,
    SdpError,
    SessionDescription,
    answer_offer,
    build_offer,
    parse_sdp,
    reanswer,
)

BARESIP_OFFER = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "a=tool:baresip\r\nm=audio 10000 RTP/AVP 8 0 101\r\nb=AS:64\r\n"
    "a=rtpmap:8 PCMA/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
    "a=fmtp:101 0-15\r\na=rtcp-rsize\r\na=ptime:20\r\na=sendrecv\r\n"
)


def answer(body: str, **kwargs: object) -> Answer | SdpError:
    offer = parse_sdp(body)
    assert isinstance(offer, SessionDescription), offer
    return answer_offer(offer, address="127.0.0.1", port=40000, session_id=7, **kwargs)  # type: ignore[arg-type]


def test_the_offers_first_g711_codec_and_its_event_type_are_chosen() -> None:
    result = answer(BARESIP_OFFER)
    assert isinstance(result, Answer)
    assert (result.codec, result.payload_type, result.telephone_event) == ("PCMA", 8, 101)
    assert (result.remote_address, result.remote_port, result.direction) == (
        "127.0.0.1", 10000, "sendrecv")
    assert "m=audio 40000 RTP/AVP 8 101\r\n" in result.sdp
    assert "a=rtpmap:101 telephone-event/8000\r\n" in result.sdp
    again = parse_sdp(result.sdp)
    assert isinstance(again, SessionDescription) and again.media[0].port == 40000


def test_pcmu_first_and_a_dynamic_event_type() -> None:
    body = BARESIP_OFFER.replace("8 0 101", "0 8 96").replace(":101", ":96")
    result = answer(body)
    assert isinstance(result, Answer) and (result.codec, result.telephone_event) == ("PCMU", 96)


def test_static_types_without_rtpmap_and_no_telephone_event() -> None:
    body = "v=0\r\nc=IN IP4 10.0.0.9\r\nm=audio 5004 RTP/AVP 18 0\r\n"
    result = answer(body)
    assert isinstance(result, Answer)
    assert (result.codec, result.telephone_event, result.remote_address) == ("PCMU", None,
                                                                              "10.0.0.9")


def test_other_streams_are_refused_with_port_zero_in_order() -> None:
    body = BARESIP_OFFER.replace("m=audio", "m=video 9000 RTP/AVP 96\r\nm=audio")
    result = answer(body)
    assert isinstance(result, Answer)
    m_lines = [line for line in result.sdp.splitlines() if line.startswith("m=")]
    assert m_lines == ["m=video 0 RTP/AVP 96", "m=audio 40000 RTP/AVP 8 101"]


def test_a_sendonly_offer_gets_recvonly_and_media_level_c_wins() -> None:
    body = BARESIP_OFFER.replace("a=sendrecv", "a=sendonly\r\nc=IN IP4 192.0.2.1")
    result = answer(body)
    assert isinstance(result, Answer)
    assert (result.direction, result.remote_address) == ("recvonly", "192.0.2.1")


def test_an_offer_without_g711_is_an_error_value() -> None:
    body = "v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 4000 RTP/AVP 9 96\r\na=rtpmap:96 opus/48000/2\r\n"
    result = answer(body)
    assert isinstance(result, SdpError) and "PCMU or PCMA" in result.reason


def test_a_codec_restriction_is_honoured() -> None:
    result = answer(BARESIP_OFFER, codecs=("PCMU",))
    assert isinstance(result, Answer) and result.codec == "PCMU"


def test_our_offer_is_answerable() -> None:
    offer = build_offer(address="127.0.0.1", port=30000, session_id=1, codecs=("PCMA", "PCMU"))
    result = answer(offer)
    assert isinstance(result, Answer) and result.codec == "PCMA" and result.remote_port == 30000


def test_limits_and_garbage_give_error_values() -> None:
    assert isinstance(parse_sdp("v=0\r\n" + "a=x\r\n" * 300), SdpError)
    assert isinstance(parse_sdp("v=0\r\n" + "a" * MAX_BYTES), SdpError)
    assert isinstance(parse_sdp(b"v=0\r\n\xff\xfe"), SdpError)
    assert isinstance(parse_sdp("v=0\r\nc=IN IP4 not-an-ip\r\n"), SdpError)
    assert isinstance(parse_sdp("v=0\r\nm=audio 70000 RTP/AVP 0\r\n"), SdpError)
    assert isinstance(parse_sdp("v=0\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:999 X/1\r\n"), SdpError)
    assert isinstance(parse_sdp("hello"), SdpError)


def _answer_any(body: bytes | str) -> None:
    offer = parse_sdp(body)
    if isinstance(offer, SessionDescription):
        result = answer_offer(offer, address="127.0.0.1", port=40000, session_id=1)
        assert isinstance(result, Answer | SdpError)
    else:
        assert isinstance(offer, SdpError)


@settings(max_examples=2000)
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(body: bytes) -> None:
    _answer_any(body)
    _answer_any(b"v=0\r\n" + body)


@settings(max_examples=3000)
@given(st.data())
def test_mutated_offers_never_raise(data: st.DataObject) -> None:
    lines = BARESIP_OFFER.split("\r\n")
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        choice = data.draw(st.integers(0, 3))
        if choice == 0:
            lines[i] = data.draw(st.text(max_size=30))
        elif choice == 1:
            del lines[i]
        elif choice == 2:
            lines.insert(i, lines[data.draw(st.integers(0, len(lines) - 1))])
        else:
            cut = data.draw(st.integers(0, max(len(lines[i]), 1)))
            lines[i] = lines[i][:cut] + data.draw(st.text(max_size=6)) + lines[i][cut:]
    _answer_any("\r\n".join(lines))


HOLD_OFFER = BARESIP_OFFER.replace("a=sendrecv", "a=sendonly")


def _current() -> Answer:
    result = answer(BARESIP_OFFER)
    assert isinstance(result, Answer)
    return result


def test_a_reinvite_holds_resumes_and_keeps_the_codec() -> None:
    current = _current()
    held = reanswer(current, HOLD_OFFER, address="127.0.0.1", port=40000)
    assert isinstance(held, Answer)
    assert (held.codec, held.direction, held.sending, held.version) == (
        "PCMA", "recvonly", False, current.version + 1)
    assert f"o=ivr {current.session_id} {current.version + 1} " in held.sdp
    old_style = reanswer(current, BARESIP_OFFER.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0"),
                         address="127.0.0.1", port=40000)
    assert isinstance(old_style, Answer) and not old_style.sending  # RFC 2543 hold
    moved = reanswer(held, BARESIP_OFFER.replace("m=audio 10000", "m=audio 10002"),
                     address="127.0.0.1", port=40000)
    assert isinstance(moved, Answer) and moved.sending and moved.remote_port == 10002
    pcmu_only = BARESIP_OFFER.replace("8 0 101", "0 101")
    assert isinstance(reanswer(current, pcmu_only, address="127.0.0.1", port=40000), SdpError)


@settings(max_examples=3000)
@given(st.data())
def test_mutated_reinvite_offers_never_raise_nor_change_the_codec(data: st.DataObject) -> None:
    current = _current()
    lines = HOLD_OFFER.split("\r\n")
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(lines) - 1))
        choice = data.draw(st.integers(0, 3))
        if choice == 0:
            lines[i] = data.draw(st.text(max_size=30))
        elif choice == 1:
            del lines[i]
        elif choice == 2:
            lines.insert(i, lines[data.draw(st.integers(0, len(lines) - 1))])
        else:
            cut = data.draw(st.integers(0, max(len(lines[i]), 1)))
            lines[i] = lines[i][:cut] + data.draw(st.text(max_size=6)) + lines[i][cut:]
    result = reanswer(current, "\r\n".join(lines), address="127.0.0.1", port=40000)
    assert isinstance(result, Answer | SdpError)
    if isinstance(result, Answer):
        assert result.codec == current.codec and result.version == current.version + 1


@settings(max_examples=1000)
@given(st.binary(max_size=400))
def test_random_reinvite_bodies_never_raise(body: bytes) -> None:
    assert isinstance(reanswer(_current(), body, address="127.0.0.1", port=40000),
                      Answer | SdpError)


def test_non_ascii_digits_are_an_error_value_not_a_crash() -> None:
    """str.isdigit() holds for '²' but int() refuses it (found by the mutation fuzz)."""
    assert isinstance(parse_sdp("v=0\r\nm=audio ²8 RTP/AVP 0\r\n"), SdpError)
    assert isinstance(parse_sdp("v=0\r\nm=audio 8 RTP/AVP 0\r\na=rtpmap:²8 PCMA/8000\r\n"),
                      SdpError)
    assert isinstance(answer("v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 8 RTP/AVP ²8 0\r\n"), Answer)

"""The desk in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by
playwright's bundled driver; no browser is downloaded) against a real `ivr desk` process, with
callers handed off by a real engine (`ivr replay` of call scripts into the same SQLite queue).

Screenshots (1280x720) are kept in tests/artifacts/desk/ (git-ignored): login, the two agents'
pages, the masked call, the hostile call, the supervisor's board.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr.handoff import open_queue

from .conftest import BANK, ROOT

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync"]
ARTIFACTS = ROOT / "tests" / "artifacts" / "desk"
PASSWORD = "desk-test-password"
LEASE_S = 3.0
"""Short leases: the open page must keep renewing them."""
AGENTS = {"alice": ("agent", "fraud,en"), "bob": ("agent", "en"), "sue": ("supervisor", "en")}
CALLS = """lang: en
calls:
  - call: desk-card
    turns: [{say: "my card number is 4111 1111 1111 1234 and I want a real person"}]
  - call: desk-scam
    turns: [{say: "I think I'm being scammed, someone called pretending to be the police"}]
  - call: desk-hostile
    turns:
      - say: "<script>document.title='pwned'</script><img src=x onerror=alert(1)>
          I want a real person"
      - say: "yes"
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian's chromium"),
]


def ivr(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "ivr.cli", *argv], input=stdin, text=True,
                          capture_output=True, cwd=ROOT, env=env, timeout=120, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("desk")
    agents, queue = tmp / "agents.sqlite3", tmp / "queue.sqlite3"
    for name, (role, skills) in AGENTS.items():
        out = ivr("desk", "agent", "add", name, "--agents", str(agents), "--role", role,
                  "--skills", skills, stdin=PASSWORD + "\n")
        assert out.returncode == 0, out.stderr
    assert PASSWORD.encode() not in agents.read_bytes()  # only the argon2 hash is kept
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "ivr.cli", "desk", "--queue", str(queue),
                             "--flow", str(BANK), "--agents", str(agents), "--listen",
                             f"127.0.0.1:{port}", "--lease", str(LEASE_S)], cwd=ROOT,
                            stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the desk did not start listening"
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}", queue
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def page_for(browser: object, url: str, name: str) -> object:
    context = browser.new_context(viewport={"width": 1280, "height": 720})  # type: ignore[attr-defined]
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.dialogs = dialogs
    page.goto(f"{url}/login")
    page.fill("#name", name)
    page.fill("#password", PASSWORD)
    page.press("#password", "Enter")  # the keyboard alone
    page.wait_for_url(f"{url}/*")
    return page


def shot(page: object, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))  # type: ignore[attr-defined]


def test_agents_take_callers_live_with_skills_masking_and_escaping(
        desk: tuple[str, Path], browser: object) -> None:
    url, queue_path = desk
    alice, bob = page_for(browser, url, "alice"), page_for(browser, url, "bob")
    alice.goto(f"{url}/queues/general")
    for page in (alice, bob):
        page.wait_for_selector("body[data-live=open]")
        page.evaluate("window.notReloaded = true")
    shot(alice, "1-alice-empty-queue")

    out = ivr("replay", "--flow", str(BANK), "--queue", str(queue_path),
              str(_calls(queue_path.parent)))
    assert out.returncode == 0, out.stdout + out.stderr

    # the callers appear live, without a reload; bob has no fraud skill
    alice.wait_for_selector('tr[data-call="desk-card"]')
    bob.wait_for_selector('tr[data-call="desk-hostile"]')
    assert alice.evaluate("window.notReloaded") and bob.evaluate("window.notReloaded")
    assert bob.query_selector('section[data-queue="fraud"]') is None
    assert bob.query_selector('tr[data-call="desk-scam"]') is None
    shot(bob, "2-bob-live-without-fraud")

    # alice takes the next general caller with the keyboard and sees the masked context
    alice.focus("#take")
    alice.keyboard.press("Enter")
    alice.wait_for_url("**/call?id=desk-card")
    heard = alice.inner_text("#heard")
    assert "I want a real person" in heard and "4111" not in heard and "1111" not in heard
    assert "4111" not in alice.content()
    assert alice.inner_text("#reason") == "caller_asked"
    assert "root → human_agent" in alice.inner_text("#path")
    shot(alice, "3-alice-masked-call")

    # the open page keeps the lease: held well past LEASE_S
    time.sleep(3 * LEASE_S)
    with open_queue(queue_path) as q:  # type: ignore[attr-defined]
        q.expire()
        record = q.get("desk-card")
        assert record is not None and (record.status, record.taken_by) == ("taken", "alice")

    # bob's page loses the caller live
    bob.wait_for_selector('tr[data-call="desk-card"]', state="detached")
    assert bob.evaluate("window.notReloaded")

    # alice closes it with a disposition
    alice.select_option("#disposition", "resolved")
    alice.click("#close")
    alice.wait_for_url(f"{url}/desk")
    with open_queue(queue_path) as q:  # type: ignore[attr-defined]
        record = q.get("desk-card")
        assert record is not None and record.status == "done"
        assert record.disposition == "resolved" and record.taken_by == "alice"

    # bob: the fraud queue's URL is forbidden
    response = bob.goto(f"{url}/queues/fraud")
    assert response is not None and response.status == 403
    shot(bob, "4-bob-403-fraud")

    # bob takes the hostile caller: the script is shown as text and never runs
    bob.goto(f"{url}/desk")
    bob.click("#take")
    bob.wait_for_url("**/call?id=desk-hostile")
    assert "<script>document.title='pwned'</script>" in bob.inner_text("#heard")
    assert bob.eval_on_selector("#heard", "e => e.querySelectorAll('script, img').length") == 0
    assert bob.title() != "pwned" and bob.dialogs == []  # type: ignore[attr-defined]
    shot(bob, "5-bob-hostile-as-text")

    sue = page_for(browser, url, "sue")
    sue.wait_for_selector("#board")
    assert "bob" in sue.inner_text("#agents") and "desk-hostile" in sue.inner_text("#agents")
    shot(sue, "6-supervisor")

    # bob's browser dies holding the caller: after the lease, the caller is back in line
    bob.context.close()
    time.sleep(2 * LEASE_S)
    with open_queue(queue_path) as q:  # type: ignore[attr-defined]
        q.expire()
        record = q.get("desk-hostile")
        assert record is not None and record.status == "waiting"


SAMPLES = ROOT / "samples" / "audio"
KO_CALLS = f"""lang: ko
calls:
  - call: sup-ko-card-loss
    turns: [{{audio: {SAMPLES / "ko_card_loss.wav"}}}, {{audio: {SAMPLES / "ko_yes.wav"}}}]
    expect: {{outcome: {{type: node, node: card_loss}}}}
  - call: sup-ko-password
    turns: [{{audio: {SAMPLES / "ko_password.wav"}}}, {{audio: {SAMPLES / "ko_yes.wav"}}}]
    expect: {{outcome: {{type: node, node: password_reset}}}}
"""
"""Real Korean callers (the committed sample WAVs, decoded by real Vosk), each labelled with
the node its script expects."""
EN_CALLS = """lang: en
calls:
  - call: sup-en-person
    xfail: "a QA label the engine misses on purpose: the caller asks for a person"
    turns: [{say: "I want a real person please"}]
    expect: {outcome: {type: node, node: balance_inquiry}}
"""


def test_supervisor_sees_the_calls_engines_finished(desk: tuple[str, Path],
                                                    browser: object) -> None:
    url, queue_path = desk
    sue = page_for(browser, url, "sue")
    sue.wait_for_selector("#calls")
    sue.evaluate("window.notReloaded = true")
    before = sue.request.get(f"{url}/supervisor.json").json()["calls"]  # type: ignore[attr-defined]
    (queue_path.parent / "sup_ko.yaml").write_text(KO_CALLS, "utf-8")
    (queue_path.parent / "sup_en.yaml").write_text(EN_CALLS, "utf-8")
    out = ivr("replay", "--flow", str(BANK), "--queue", str(queue_path),
              str(queue_path.parent / "sup_ko.yaml"), str(queue_path.parent / "sup_en.yaml"))
    assert out.returncode == 0, out.stdout + out.stderr

    # the board updates live (no reload) with the three calls the engine finished
    want = before["calls"] + 3
    sue.wait_for_function(f"document.querySelector('#calls-total').textContent == '{want}'",
                          timeout=30_000)
    assert sue.evaluate("window.notReloaded")
    after = sue.request.get(f"{url}/supervisor.json").json()["calls"]  # type: ignore[attr-defined]
    kinds, old = after["by_kind"], before["by_kind"]
    assert kinds["contained"] - old["contained"] == 2  # both Korean callers served
    assert kinds["handed_off"] - old["handed_off"] == 1
    nav, old_nav = after["navigation"], before["navigation"]
    assert (nav["labelled"] - old_nav["labelled"], nav["reached"] - old_nav["reached"]) == (3, 2)
    assert after["containment"] == kinds["contained"] / after["calls"]
    shown = sue.inner_text("#calls")
    assert f"{100 * after['containment']:.0f} %" in sue.inner_text("#containment")
    assert f"({nav['reached']}/{nav['labelled']}" in shown
    nodes = sue.inner_text("#nodes")
    assert "card_loss: 1" in nodes and "password_reset: 1" in nodes
    assert "caller_asked" in sue.inner_text("#transfers")
    metrics = sue.request.get(f"{url}/metrics").text()  # type: ignore[attr-defined]
    assert 'ivr_desk_window_calls{kind="contained",window_s="3600"}' in metrics
    assert "ivr_desk_window_navigation_accuracy" in metrics
    sue.locator("#calls").scroll_into_view_if_needed()
    shot(sue, "7-supervisor-call-figures")


def _calls(folder: Path) -> Path:
    path = folder / "desk_calls.yaml"
    path.write_text(CALLS, "utf-8")
    return path

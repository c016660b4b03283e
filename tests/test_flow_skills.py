"""Queue skills in a flow: `queues: {fraud: {priority: urgent, skills: [fraud]}}` (issue 13).

The agent desk shows a queue only to agents whose skills include all of the queue's; the flow is
where those skills are named, so the loader, the schema and lint check them like any other key.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ivr.errors import FlowErrors
from ivr.flow import Flow, lint_flow, load_flow
from ivr.flow.schema import schema_problems

from .conftest import BANK, FLOWS


def _mini_with(tmp_path: Path, queues: str) -> Path:
    text = (FLOWS / "mini.yaml").read_text("utf-8")
    old = "  general: {priority: normal}\n  fraud: {priority: urgent}\n"
    assert old in text
    path = tmp_path / "skills.yaml"
    path.write_text(text.replace(old, queues), "utf-8")
    return path


def test_a_queue_without_skills_is_open_to_everyone(mini: Flow) -> None:
    assert mini.queue_skills == {"general": frozenset(), "fraud": frozenset()}


def test_the_bank_flows_fraud_queue_needs_the_fraud_skill(bank: Flow) -> None:
    assert bank.queue_skills["fraud"] == frozenset({"fraud"})
    assert bank.queue_skills["general"] == frozenset()


def test_skills_are_loaded_as_sets(tmp_path: Path) -> None:
    path = _mini_with(tmp_path, "  general: {priority: normal, skills: [en]}\n"
                                "  fraud: {priority: urgent, skills: [fraud, zh]}\n")
    flow = load_flow(path)
    assert flow.queue_skills == {"general": frozenset({"en"}),
                                 "fraud": frozenset({"fraud", "zh"})}
    assert schema_problems(path) == []


@pytest.mark.parametrize("skills, message", [
    ("fraud", "queue 'fraud' skills must be a list"),
    ("[fraud, fraud]", "skill 'fraud' is listed twice"),
    ('["fr\u200baud"]', "contains U+200B ZERO WIDTH SPACE"),
    ('[""]', "queue 'fraud' skills item is empty"),
    ("[12]", "queue 'fraud' skills item must be text"),
])
def test_bad_skills_are_refused_with_their_place(tmp_path: Path, skills: str,
                                                 message: str) -> None:
    path = _mini_with(tmp_path, f"  general: {{priority: normal}}\n"
                                f"  fraud: {{priority: urgent, skills: {skills}}}\n")
    with pytest.raises(FlowErrors) as info:
        load_flow(path)
    text = str(info.value)
    assert message in text and f"{path}:14:" in text, text


def test_a_misspelt_key_beside_skills_is_still_caught(tmp_path: Path) -> None:
    path = _mini_with(tmp_path, "  general: {priority: normal}\n"
                                "  fraud: {priority: urgent, skill: [fraud]}\n")
    with pytest.raises(FlowErrors, match="did you mean 'skills'"):
        load_flow(path)


def test_lint_warns_about_a_language_skill_the_flow_does_not_speak(tmp_path: Path) -> None:
    path = _mini_with(tmp_path, "  general: {priority: normal, skills: [ko]}\n"
                                "  fraud: {priority: urgent, skills: [fraud, en]}\n")
    found = [f for f in lint_flow(path).findings if f.code == "skills"]
    assert [(f.level, f.problem.line) for f in found] == [("warning", 13)]
    assert "queue 'general' needs language skill 'ko'" in found[0].problem.message


def test_the_bank_flow_still_lints_without_skill_findings() -> None:
    assert not [f for f in lint_flow(BANK).findings if f.code == "skills"]

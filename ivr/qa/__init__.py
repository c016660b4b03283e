"""QA: call scripts, replay reports."""

"""QA: call scripts replayed at scale, checked, measured and reported.

script (YAML call scripts, suites) -> runner (parallel replay, one Hotline per worker) ->
expect (turn and call expectations, intent labels) -> metrics (accuracy, rates, latency,
confusion) -> summary (JSON report, text, baseline diff), junit, html + svg; calibrate
(thresholds from labelled replays); redact (masking for everything printed); commands
(`ivr test`, `ivr calibrate`); report (the `ivr replay` printouts).
"""

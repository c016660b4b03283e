"""The agent desk and the supervisor's view: a web server over the human queue (issue 13).

`ivr desk --queue URL --flow FLOW --agents FILE [--listen 127.0.0.1:8080]` serves it. Agents log
in (argon2 hashes, signed HttpOnly SameSite=Strict session cookies, CSRF tokens on every form,
throttled failures), see the queues their skills allow live (server-sent events), take the next
caller under a lease the open page keeps renewing, read everything the engine heard (masked,
escaped), and release, transfer or close. Supervisors see the floor; `/metrics` is Prometheus
text. One module per concern:

    agents.py      the agents file (SQLite, argon2)         sessions.py  sessions, CSRF, throttle
    floor.py       skills -> queues and languages; actions   live.py      one queue reader, SSE
    views.py       jinja2 templates (autoescape)             i18n.py      zh / en / ko labels
    pages.py       request handlers                          app.py       routes, security headers
    supervisor.py  the supervisor's figures                  metrics.py   /metrics
    commands.py    `ivr desk`, `ivr desk agent add`

The desk is a driver (layer 8): it imports the queue, the flow and privacy, nothing above.
"""

from __future__ import annotations

__all__: list[str] = []

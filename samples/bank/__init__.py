"""A sample bank back-end: a small separate HTTP service over its own SQLite data.

The engine talks to it exactly as to a bank's gateway (docs/backend.md): ``POST /v1/<operation>``
with a bearer token, JSON in and out. Run it with ``python -m samples.bank --listen
127.0.0.1:8765 --db var/bank.sqlite3``; fill the database first with ``python -m samples.bank
seed --db var/bank.sqlite3 --customers 300``. It imports nothing from the engine.
"""

"""ivr: offline voice navigation for bank hotlines."""

__version__ = "0.1.0"

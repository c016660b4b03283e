"""The bank's systems, over HTTP: the client a flow's `request` step calls (layer 1).

`Backend(config).call(operation, payload)` -> the reply object, or `BackendError(reason,
detail)` with reason timeout, http_500, refused, breaker_open, bad_reply or http_4xx. One
`Backend` (and so one `CircuitBreaker`) per process: `shared_backend(config)`. See
docs/backend.md for the operations, the retry rule and the sample service (samples/bank).
"""

from .breaker import CircuitBreaker, State
from .client import Backend, JsonValue, shared_backend
from .config import DEFAULT_URL_ENV, BackendConfig
from .errors import REASONS, BackendError, Reason
from .operations import OPERATIONS, Operation

__all__ = [
    "DEFAULT_URL_ENV",
    "OPERATIONS",
    "REASONS",
    "Backend",
    "BackendConfig",
    "BackendError",
    "CircuitBreaker",
    "JsonValue",
    "Operation",
    "Reason",
    "State",
    "shared_backend",
]

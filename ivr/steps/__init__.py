"""Steps inside a service node, run for one call: collect, authenticate, request, say, branch.

The flow declares them (ivr.flow.steps); this room runs them beside the dialog, synchronous
and sans-I/O: the bank is reached only through the `Services` the Hotline hands in.
"""

from .runner import CallState, Next, StepRunner
from .services import ServiceError, Services
from .speak import fill, money, spoken_date, spoken_value

__all__ = ["CallState", "Next", "ServiceError", "Services", "StepRunner", "fill", "money",
           "spoken_date", "spoken_value"]

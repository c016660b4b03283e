"""Call flows: YAML loading with positions, validation, the Flow model."""

from .loader import load_flow
from .model import Flow, Intent, Node, Settings

__all__ = ["Flow", "Intent", "Node", "Settings", "load_flow"]

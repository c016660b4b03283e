"""Call flows: YAML loading with positions, validation, overlays, lint, pictures, hot reload."""

from .lint import Finding, LintReport, lint_flow, load_linted
from .loader import load_flow
from .model import Flow, Intent, Node, Settings
from .overlay import Overlay, apply_overlays, load_flow_with_overlays, load_overlay
from .reload import FlowReloader

__all__ = [
    "Finding", "Flow", "FlowReloader", "Intent", "LintReport", "Node", "Overlay", "Settings",
    "apply_overlays", "lint_flow", "load_flow", "load_flow_with_overlays", "load_linted",
    "load_overlay",
]

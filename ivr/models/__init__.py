"""Find, download and verify Vosk speech models; the catalogue in `models/catalog.yaml`.

Rooms: `catalog` (the catalogue file and pins), `find` (which model directory a language
uses), `fetch` (HTTP and unzip), `trust` (digests recorded on this machine at first download),
`download` (the verified install), `listing` (`ivr models list`), `commands` (the CLI).
"""

from __future__ import annotations

from .catalog import Catalog, ModelEntry, catalog_path, load_catalog, pin_digest
from .download import download
from .find import EMBEDDED_NAME, LANG_NAMES, embedded_model, is_model_dir, models_dir, resolve_model
from .listing import format_model_list, list_models
from .trust import TRUST_FILE, TrustRecord, forget, load_trust

__all__ = [
    "EMBEDDED_NAME", "LANG_NAMES", "TRUST_FILE", "Catalog", "ModelEntry", "TrustRecord",
    "catalog_path", "download", "embedded_model", "forget", "format_model_list", "is_model_dir",
    "list_models", "load_catalog", "load_trust", "models_dir", "pin_digest", "resolve_model",
]

"""How a Vosk model decodes here: a prepared copy of its configuration beside the real files.

Vosk reads its decoding options only from the model's `conf/` directory, so three settings
that matter for a telephone front-end are applied by preparing a *shadow* model directory in a
cache: every entry of the model is a symlink to the original except `conf/`, whose files are
copied with these changes:

* Kaldi's feature dither is switched off (`--dither=0`). Kaldi draws it from an unseeded
  random generator, so the same audio decoded twice gave different scores and, near a
  decision threshold, different words. The front-end adds its own dither from a seeded
  generator instead (`DecoderConfig.dither`), so a replay is byte-identical.
* Vosk's own endpointer is switched off: the front-end ends utterances with its own
  voice-activity detector and timers (`ivr.speech.endpoint`).
* The search beam is narrowed (`max_active`, `beam`): on the small Korean model,
  max-active 1500 / beam 9 decodes free speech 1.8x and grammars 1.35x faster than the
  shipped 3000 / 10, and every committed sample call still routes (1000 / 8 was faster
  again, but lost two). Set either to None to keep the model's own value.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DecoderConfig", "cache_dir", "prepare_model"]

_log = logging.getLogger(__name__)
_OFF = 100000.0
"""Seconds of trailing silence that Vosk's endpoint rules wait for: never, in practice."""


@dataclass(frozen=True)
class DecoderConfig:
    """Decoding settings shared by every recogniser of one model."""

    max_active: int | None = 1500
    """Most active search states per frame (None: the model's own setting)."""
    beam: float | None = 9.0
    """Search beam (None: the model's own setting)."""
    dither: float = 1.0
    """Standard deviation, in 16-bit sample units, of the seeded dither added to the audio."""
    narrowband_dither: float = 40.0
    """The same for audio from an 8 kHz line. Resampled to 16 kHz it is silent above 4 kHz
    but for the folded image (`ivr.asr.condition.condition`); a noise floor near -58 dBFS fills
    the empty band as a real line's would. On the tuning callers at 8 kHz mu-law (306 in
    scope, 32 out of scope) right accepts went from 32 to 45, wrong ones from 18 to 12, and
    out-of-scope accepts from 3 to 1, against dither 1 (20: 46 / 11 / 4; 60: 49 / 15 / 2);
    with pink noise at 10 dB SNR right accepts 20 -> 28, out-of-scope accepts 3 -> 0."""
    own_endpointing: bool = True
    """Switch Vosk's endpointer off; utterances end when the front-end says so."""
    free_slots: int = 8
    """Most free-decoding recognisers a worker keeps (busy and warm idle ones): a bound on
    memory, not the load shedding. Free decoding is shed by lag (`ivr.asr.worker.SHED_LAG_S`:
    when the worker's frames wait, new streams decode with the grammar views only), by the
    live budget (`live_budget`), and while the pool's one young recogniser is busy
    (`ivr.asr.pool.FreePool.young_max`: a new recogniser costs 0.72 CPU-s per audio second
    until it has decoded 20 s), which under concurrency is most of the time: after six
    bursts of 24 callers each worker still held one (docs/phone.md). It was 1 slot, and
    with one slot per worker free decoding was shed by count: with 8 calls on 2 workers a
    third of turns were judged on the grammar views alone while the workers kept up."""
    young_free: int = 1
    """Free recognisers a worker may have young (decoded under 20 s) and busy at once when
    `warm`; a stream that finds that many busy decodes with its grammar views only (see
    `free_slots`). Accuracy benches set it to their call threads, so that no turn is judged
    without free decoding while the pool warms up (bench.speech_independent shed 7 of 345
    turns at 1)."""
    warm: bool = True
    """Lend recognisers warm (`ivr.asr.pool`): a reused one has built its search graph
    already and decodes 2x (grammar) to 13x (free) cheaper than a new one (RTF 0.027 / 0.05
    against 0.05 / 0.72, the committed Korean callers). But it built that graph in the order
    earlier utterances led it, and Kaldi's beam search visits states in their number order,
    so what an utterance is heard as can depend, rarely, on the audio decoded before: two
    runs of the dev callers (300 turns, calls spread over workers differently) heard 3
    grammar-view and 3 free transcripts differently, with the same figures; ko_fraud.wav was
    heard as noise after ko_credit_report.wav. False: every utterance gets new recognisers,
    so its words depend on its own audio only (QA: `ivr test` unless --warm)."""
    free_life_s: float = 3600.0
    """Audio seconds a free recogniser decodes before it is replaced."""
    free_memory_mb: float = 300.0
    """Worker memory growth above its size after loading at which free recognisers are
    replaced. A reused free recogniser decodes 4-5x faster than a new one, but keeps every
    search state it built (about 230 MB after 7 minutes of speech, growing ever slower), so
    its memory, not its age, is what recycling bounds."""
    chunk_ms: int = 100
    """Audio handed to each recogniser at once, in ms (a stream's 20 ms frames are gathered
    into pieces of this length, cut by audio time, so a replay is still byte-identical;
    `ivr.asr.dual`). Larger pieces cost less CPU per second of audio; a partial result lags
    by up to this much, a settle or final hands over the rest first."""
    live_budget: float | None = 0.6
    """Cores of live decoding one worker takes on (`ivr.asr.budget`): past it, the newest
    live streams decode with their grammar views only. None: no budget (lag alone sheds)."""
    narrowband_budget: float | None = 0.3
    """The same for an 8 kHz caller's free decoding, when lower (None: `live_budget`). On a
    phone line the fast grammar view leads and free decoding adds little, so it gives way
    sooner: 24 baresip calls arriving over 4 s, interleaved, two runs each, p95 end of
    speech -> decision 329 / 317 ms at 0.3 against 608 / 468 ms at 0.6, the same nodes and
    the same narrowband accuracy (docs/phone.md). A call alone keeps it (about 0.13 cores)."""
    side_by_side: int = 3
    """Recognisers of one stream (its grammar views and free decoding) decoded at once, on
    threads (Vosk lets go of the GIL while it decodes): a settle, what a caller waits on,
    takes about as long as its slowest recogniser instead of their sum when a core is free.
    1: one after the other. The words are the same either way."""
    alternatives: int = 3
    """N-best transcripts kept from each final result."""
    views: tuple[str, ...] = ("plain", "fast")
    """Grammar decoders per stream, each on differently prepared audio ("plain", "fast": 10 %
    faster); their hypotheses vote (`ivr.speech.judge`). One view halves the grammar cost."""
    max_utterance_s: float = 60.0
    """Longest audio one stream decodes; frames past it are dropped. A stream keeps its
    utterance's audio (to decode it again from the start when the caller goes on after a
    settle) and Vosk keeps its search lattice, both growing with the utterance: this bounds
    them whatever a client sends. The front-end's endpointer ends turns well before (12 s)."""


def cache_dir() -> Path:
    """Where prepared model directories live: $IVR_CACHE, else $XDG_CACHE_HOME/ivr, ~/.cache/ivr.

    `IVR_CACHE=off` turns off the classifier cache (ivr/nlu/cache.py); a prepared model
    directory is needed to decode at all, so here it means the default place, not a folder
    named "off" in the working directory."""
    configured = os.environ.get("IVR_CACHE", "")
    if configured and configured != "off":
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "ivr"


def _conf_texts(model_dir: Path, config: DecoderConfig) -> dict[str, str]:
    """The conf/ files of the prepared model: name -> text."""
    texts: dict[str, str] = {}
    conf = model_dir / "conf"
    for path in sorted(conf.iterdir()) if conf.is_dir() else ():
        if path.is_file():
            texts[path.name] = path.read_text("utf-8", "replace")
    overrides = {"--endpoint.rule1.min-trailing-silence": _OFF,
                 "--endpoint.rule2.min-trailing-silence": _OFF,
                 "--endpoint.rule3.min-trailing-silence": _OFF,
                 "--endpoint.rule4.min-trailing-silence": _OFF,
                 "--endpoint.rule5.min-utterance-length": _OFF} if config.own_endpointing else {}
    if config.max_active is not None:
        overrides["--max-active"] = config.max_active
    if config.beam is not None:
        overrides["--beam"] = config.beam
    texts["model.conf"] = _override(texts.get("model.conf", ""), overrides)
    texts["mfcc.conf"] = _override(texts.get("mfcc.conf", ""), {"--dither": 0})
    return texts


def _override(text: str, values: dict[str, float | int]) -> str:
    kept = [line for line in text.splitlines()
            if line.strip() and line.split("=", 1)[0].strip() not in values]
    return "\n".join([*kept, *(f"{key}={value}" for key, value in values.items())]) + "\n"


def prepare_model(model_dir: Path, config: DecoderConfig | None = None) -> Path:
    """The directory Vosk should load: a prepared shadow of `model_dir` (see the module doc).

    Built once per model and configuration in `cache_dir()` and reused. Where the cache cannot
    be written or symlinks are not allowed, `model_dir` itself is returned (decoding then
    keeps the model's own settings and Kaldi's random dither) and a warning is logged.
    """
    config = config or DecoderConfig()
    source = model_dir.resolve()
    texts = _conf_texts(source, config)
    digest = hashlib.sha256(repr((str(source), sorted(texts.items()))).encode()).hexdigest()
    target = cache_dir() / "models" / f"{source.name}-{digest[:16]}"
    if (target / "conf" / "model.conf").is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        building = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{source.name}."))
        try:
            for entry in source.iterdir():
                if entry.name != "conf":
                    (building / entry.name).symlink_to(entry)
            (building / "conf").mkdir()
            for name, text in texts.items():
                (building / "conf" / name).write_text(text, "utf-8")
            building.chmod(0o755)
            building.rename(target)
        except OSError:
            shutil.rmtree(building, ignore_errors=True)
            if not (target / "conf" / "model.conf").is_file():
                raise
    except OSError as exc:
        _log.warning("ivr: cannot prepare %s in %s (%s); decoding with the model's own "
                     "settings and random dither", source, target.parent, exc)
        return model_dir
    return target

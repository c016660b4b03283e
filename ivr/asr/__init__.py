"""The speech room: Vosk recognition, streamed, isolated in worker processes.

`from ivr.asr import ...`:

* `Recognizer`, `RecognitionStream` — the interface (whole recordings, or streamed utterances
  with partial and final results).
* `SpeechService` — recognition in worker processes; a dead worker raises `AsrCrash` for its
  own streams only. `VoskRecognizer` — the same in this process, for tools and tests.
* `StreamSpec`, `DualResult`, `Hypothesis` — what a stream is asked to decode, and its
  grammar and free transcripts (`ivr.asr.results`: the values that cross the seam).
* `grammar_words`, `read_vocabulary`, `segment`, `GrammarWords` — phrase grammars in words
  the model knows, with the unknown ones reported.
* `DecoderConfig`, `prepare_model` — decoding settings (deterministic dither, own
  endpointing, beam) and the prepared model directory that applies them.
"""

from __future__ import annotations

from .condition import condition
from .dual import DualStream
from .modeldir import DecoderConfig, cache_dir, prepare_model
from .recognizer import RecognitionStream, Recognizer, VoskRecognizer, utterance_from
from .results import DualResult, Hypothesis, StreamSpec
from .service import AsrCrash, ServiceConfig, ServiceStream, SpeechService
from .vocab import GrammarWords, grammar_words, read_vocabulary, segment
from .vosk import Engine

__all__ = [
    "AsrCrash",
    "DecoderConfig",
    "DualResult",
    "DualStream",
    "Engine",
    "GrammarWords",
    "Hypothesis",
    "RecognitionStream",
    "Recognizer",
    "ServiceConfig",
    "ServiceStream",
    "SpeechService",
    "StreamSpec",
    "VoskRecognizer",
    "cache_dir",
    "condition",
    "grammar_words",
    "prepare_model",
    "read_vocabulary",
    "segment",
    "utterance_from",
]

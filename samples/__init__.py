"""Samples that live beside the engine: demo calls and audio, and the sample bank (samples.bank)."""

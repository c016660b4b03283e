#!/usr/bin/env bash
# Regenerate this suite's synthetic Korean caller WAVs from sentences.tsv (needs espeak-ng, sox):
# espeak-ng's Korean voice at 220 wpm, converted to 16 kHz PCM16 mono without dither (-D), so
# the files come out the same byte for byte on every run. A sentence was kept only when the
# embedded Vosk model decoded it into the right route (see ../ko_audio.yaml); after changing
# phrases or regenerating, re-check with `ivr test tests/calls --flow flows/bank_hotline.yaml`.
set -euo pipefail
cd "$(dirname "$0")"
for tool in espeak-ng sox; do command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }; done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
grep -v '^#' sentences.tsv | while IFS=$'\t' read -r id text; do
  espeak-ng -v ko -s 220 -w "$tmp/$id.wav" "$text"
  sox -V1 -D "$tmp/$id.wav" -r 16000 -c 1 -b 16 -e signed-integer "$id.wav"
done
ls -l ./*.wav

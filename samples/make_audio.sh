#!/usr/bin/env bash
# Regenerate the sample caller WAVs from sentences.tsv with espeak-ng (Korean voice) and sox.
#   16 kHz PCM16 mono for each sentence, plus telephone-style copies of two of them:
#   8 kHz mu-law mono (what a phone system writes) and 8 kHz A-law stereo (caller on the left),
#   and 3 s of silence.
set -euo pipefail
cd "$(dirname "$0")"
for tool in espeak-ng sox; do command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }; done
mkdir -p audio
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
grep -v '^#' sentences.tsv | while IFS=$'\t' read -r id text; do
  espeak-ng -v ko -s 220 -w "$tmp/$id.wav" "$text"
  sox "$tmp/$id.wav" -r 16000 -c 1 -b 16 -e signed-integer "audio/$id.wav"
done
# telephone copies: 8 kHz mu-law mono, and 8 kHz A-law stereo with the caller on the left
for id in ko_salary ko_complaint; do
  sox "audio/$id.wav" -r 8000 -c 1 -e u-law "audio/${id}_8k_mulaw.wav"
  rm "audio/$id.wav"
done
sox audio/ko_fraud.wav -r 8000 -e a-law "$tmp/left.wav"
sox -n -r 8000 -e a-law "$tmp/right.wav" trim 0 "$(soxi -D "$tmp/left.wav")"
sox -M "$tmp/left.wav" "$tmp/right.wav" -e a-law "audio/ko_fraud_8k_alaw_stereo.wav"
sox -n -r 16000 -c 1 -b 16 -e signed-integer "audio/silence_3s.wav" trim 0 3
ls -l audio

#!/usr/bin/env bash
# Generate the speech fixtures in test/fixtures/ (committed; tests never run this script), and the
# offline demo's spoken question, tools/demo/question.wav (the same sentence as weather.wav).
#
# Needs: espeak-ng (1.51 made the committed files), sox (14.4.2), and for the end-of-turn fixtures
# festival (2.5.0) with its HTS US English voice, e.g.
#   apt-get install -y espeak-ng sox festival festvox-us-slt-hts
# Run from anywhere:
#   bash scripts/make-fixtures.sh
#
# Idempotent: every run overwrites the same files from the same pinned settings. Output is
# byte-for-byte reproducible with the same espeak-ng and sox versions (sox dither is off, -D);
# another espeak-ng version may shift durations a little, so re-check test/fixtures/README.md
# and test/fixtures.test.ts if the tests start failing after regenerating.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/test/fixtures"

# Pinned voice settings: en-us, 150 words/min, pitch 50, amplitude 100, no extra word gap.
ESPEAK=(espeak-ng -v en-us -s 150 -p 50 -a 100 -g 0)
# Sustained vowels need the slowest speed so each vowel lasts well over 600 ms.
ESPEAK_VOWEL=(espeak-ng -v en-us -s 80 -p 50 -a 100 -g 0)

for tool in espeak-ng sox text2wave; do
  command -v "$tool" >/dev/null || { echo "make-fixtures: $tool not found (apt-get install -y espeak-ng sox festival festvox-us-slt-hts)" >&2; exit 1; }
done

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"

# to_s16 IN OUT RATE [EFFECTS...]: mono signed 16-bit at RATE, high-quality resampling, no dither.
to_s16() {
  local in="$1" out="$2" rate="$3"
  shift 3
  sox -D "$in" -c 1 -b 16 -e signed-integer "$out" "$@" rate -h "$rate"
}

# speak NAME RATE TEXT: a sentence, as espeak-ng says it (its own leading/trailing silence kept).
speak() {
  local name="$1" rate="$2" text="$3"
  "${ESPEAK[@]}" -w "$TMP/$name.raw.wav" "$text"
  to_s16 "$TMP/$name.raw.wav" "$OUT/$name.wav" "$rate"
}

speak hello 16000 "Hello there, can you hear me?"

# say NAME TEXT: a sentence in festival's HTS voice (cmu_us_slt_arctic_hts), at 16 kHz, with
# 200 ms of silence added to the voice's own ~180 ms at the end (as espeak-ng ends its sentences).
# LiveKit's end-of-turn model (v1-mini) hears intonation: on espeak-ng's flat prosody it rates even
# finished questions below its English threshold (0.18 for weather.wav, threshold 0.36), so every
# turn would be held; on this voice a finished question rates 0.7 and a sentence cut mid-way 0.15.
say() {
  local name="$1" text="$2"
  echo "$text" | text2wave -eval "(voice_cmu_us_slt_arctic_hts)" -o "$TMP/$name.raw.wav"
  to_s16 "$TMP/$name.raw.wav" "$OUT/$name.wav" 16000 pad 0 0.2
}

say finished "Hello there, can you hear me?"
say unfinished "What is the weather like in"
say unfinished_rest "Paris today?"
speak weather 16000 "What is the weather like in Paris today?"
speak count 24000 "One, two, three, four, five."

# vowels_24k.wav: 300 ms silence, then a, i, u for 600 ms each with 300 ms silence after each
# (3.0 s). espeak-ng cannot be told an exact vowel length, so ask for an over-long one
# (phoneme input [[a::]] at -s 80 gives ~800+ ms of steady vowel), cut the leading silence,
# keep exactly 600 ms and fade 10/30 ms at the ends so the cuts do not click. Real voiced vowels
# (formants from the synthesiser) rather than sox tones, so lip-sync tests see speech-like spectra.
sox -D -n -r 24000 -c 1 -b 16 -e signed-integer "$TMP/gap.wav" trim 0 0.3
parts=("$TMP/gap.wav")
for v in a i u; do
  "${ESPEAK_VOWEL[@]}" -w "$TMP/$v.raw.wav" "[[$v::]]"
  to_s16 "$TMP/$v.raw.wav" "$TMP/$v.24k.wav" 24000
  sox -D "$TMP/$v.24k.wav" "$TMP/$v.wav" silence 1 0.005 1% trim 0 0.6 fade t 0.01 0.6 0.03
  parts+=("$TMP/$v.wav" "$TMP/gap.wav")
done
sox -D "${parts[@]}" "$OUT/vowels_24k.wav"

# `npm run demo` plays this as the user's question (product code never reads test/).
mkdir -p "$ROOT/tools/demo"
cp "$OUT/weather.wav" "$ROOT/tools/demo/question.wav"

for f in hello weather count vowels_24k finished unfinished unfinished_rest; do
  printf '%-16s %s\n' "$f.wav" "$(soxi -r "$OUT/$f.wav") Hz, $(soxi -c "$OUT/$f.wav") ch, $(soxi -D "$OUT/$f.wav") s, $(stat -c %s "$OUT/$f.wav") bytes"
done

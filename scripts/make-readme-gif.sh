#!/usr/bin/env bash
# Makes docs/avatar.gif, the README's moving picture of the avatar: our own preview
# (`npm run avatar:preview`: the same sink, lip sync, renderer and frame clock as a call, on a
# virtual clock) saying the committed fixture test/fixtures/count.wav ("One, two, three, four,
# five."), then ffmpeg turns its frames into a looping GIF (a GIF has no sound; the README says
# what is said). Re-run it when the face or the lip sync changes, and commit the GIF.
#
# Needs ffmpeg on PATH (`apt-get install -y ffmpeg`); nothing in the tests or CI runs this.
# Output: 320x320 at 15 fps, 4.4 s (0.5 s of idle face before and after the speech), ~120 KB.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

command -v ffmpeg >/dev/null || { echo 'needs ffmpeg on PATH (apt-get install -y ffmpeg)' >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

npm run --silent avatar:preview -- --input test/fixtures/count.wav --output "$tmp/count.y4m" \
  --size 320x320 --fps 15

# One 128-colour palette for the whole clip (the face's gradients need more than 64), ordered
# dither, and only the changed rectangle stored per frame: the mouth and eyes, not the face.
ffmpeg -hide_banner -loglevel error -y -i "$tmp/count.y4m" \
  -vf 'split[a][b];[a]palettegen=max_colors=128:stats_mode=diff[p];[b][p]paletteuse=dither=bayer:bayer_scale=4:diff_mode=rectangle' \
  -loop 0 docs/avatar.gif

ls -l docs/avatar.gif

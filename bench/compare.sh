#!/usr/bin/env bash
# Runs `recur bench` and bench/torch_charrnn.py side by side on the matrix of BENCHMARKS.md,
# alternating which goes first so that machine drift hits both alike, and prints a table of
# ratios (recur / PyTorch).
#   PYTHON=~/torch-venv/bin/python bench/compare.sh [threads] [rounds]
# With RAW=path in the environment the JSON of every run is kept there, one line per run;
# CONFIGS="cell embed hidden layers; ..." limits the matrix to those rows.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
THREADS=${1:-2}
ROUNDS=${2:-1}
cargo build --release -q
RECUR=./target/release/recur
results=$(mktemp)
trap 'if [[ -n "${RAW:-}" ]]; then cp "$results" "$RAW"; fi; rm -f "$results"' EXIT
configs=(
  "rnn 64 128 1" "lstm 64 128 1" "gru 64 128 1"
  "rnn 128 256 2" "lstm 128 256 2" "gru 128 256 2"
  "rnn 256 512 2" "lstm 256 512 2" "gru 256 512 2"
)
# CONFIGS="lstm 256 512 2; gru 256 512 2" runs only those rows.
if [[ -n "${CONFIGS:-}" ]]; then
  IFS=';' read -r -a configs <<<"$CONFIGS"
fi
i=0
for round in $(seq "$ROUNDS"); do
  for c in "${configs[@]}"; do
    read -r cell embed hidden layers <<<"$c"
    args=(--cell "$cell" --embed "$embed" --hidden "$hidden" --layers "$layers" --batch-size 32 --seq-len 64 --threads "$THREADS")
    run_recur() { echo "recur $cell $embed $hidden $layers $($RECUR bench "${args[@]}" --json)" >>"$results"; }
    run_torch() { echo "torch $cell $embed $hidden $layers $("$PYTHON" bench/torch_charrnn.py "${args[@]}")" >>"$results"; }
    if (( i % 2 == 0 )); then run_recur; run_torch; else run_torch; run_recur; fi
    i=$((i + 1))
    echo "done: round $round, $c" >&2
  done
done
"$PYTHON" - "$results" "$THREADS" <<'PY'
import json, statistics, sys
from collections import defaultdict
runs = defaultdict(lambda: defaultdict(list))
for line in open(sys.argv[1]):
    who, cell, embed, hidden, layers, rest = line.split(" ", 5)
    runs[(cell, embed, hidden, layers)][who].append(json.loads(rest))
def med(rs, key):
    return statistics.median(r[key] for r in rs)
print(f"threads {sys.argv[2]}, batch 32, seq-len 64; ratio = recur / PyTorch (median over rounds)\n")
print("| cell | (embed, hidden, layers) | train tok/s recur | PyTorch | ratio | generate tok/s recur | PyTorch | ratio | forward ratio | train GFLOP/s recur / PyTorch | peak RSS MB recur / PyTorch |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for (cell, e, h, l), who in runs.items():
    r, t = who["recur"], who["torch"]
    tr, tt = med(r, "train_tokens_per_s"), med(t, "train_tokens_per_s")
    gr, gt = med(r, "generate_tokens_per_s"), med(t, "generate_tokens_per_s")
    fr, ft = med(r, "forward_tokens_per_s"), med(t, "forward_tokens_per_s")
    print(f"| {cell} | ({e}, {h}, {l}) | {tr:,.0f} | {tt:,.0f} | {tr/tt:.2f}× | {gr:,.0f} | {gt:,.0f} | {gr/gt:.1f}× "
          f"| {fr/ft:.2f}× | {med(r, 'train_gflops'):.0f} / {med(t, 'train_gflops'):.0f} "
          f"| {med(r, 'peak_rss_mb'):.0f} / {med(t, 'peak_rss_mb'):.0f} |")
print("\nTraining ratio of each round (the runs of one round ran back to back):\n")
print("| cell | (embed, hidden, layers) | per round |")
print("|---|---|---|")
for (cell, e, h, l), who in runs.items():
    pairs = zip(who["recur"], who["torch"])
    rounds = ", ".join(f"{a['train_tokens_per_s'] / b['train_tokens_per_s']:.2f}" for a, b in pairs)
    print(f"| {cell} | ({e}, {h}, {l}) | {rounds} |")
PY

#!/usr/bin/env bash
# Runs `recur translate bench` and bench/torch_seq2seq.py side by side, alternating which goes
# first, and prints a table of ratios (recur / PyTorch) for BENCHMARKS.md.
#   PYTHON=~/torch-venv/bin/python bench/compare_seq2seq.sh [threads] [rounds]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
THREADS=${1:-2}
ROUNDS=${2:-3}
cargo build --release -q
RECUR=./target/release/recur
results=$(mktemp)
trap 'rm -f "$results"' EXIT
configs=("gru 256 512 1 general" "lstm 256 512 1 general" "gru 256 512 1 additive" "gru 128 256 2 general")
i=0
for round in $(seq "$ROUNDS"); do
  for c in "${configs[@]}"; do
    read -r cell embed hidden layers attention <<<"$c"
    args=(--cell "$cell" --embed "$embed" --hidden "$hidden" --layers "$layers" --attention "$attention"
          --batch-size 64 --src-len 14 --tgt-len 14 --beam 5 --decode-steps 20 --threads "$THREADS")
    run_recur() { echo "recur $c $($RECUR translate bench "${args[@]}" --json)" >>"$results"; }
    run_torch() { echo "torch $c $("$PYTHON" bench/torch_seq2seq.py "${args[@]}")" >>"$results"; }
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
    parts = line.split(" ", 6)
    runs[tuple(parts[1:6])][parts[0]].append(json.loads(parts[6]))
med = lambda rs, k: statistics.median(r[k] for r in rs)
print(f"threads {sys.argv[2]}, batch 64, 14 source and 14 target tokens, vocabularies 8000/6000, beam 5 over 20 steps; median over rounds\n")
print("| cell | embed | hidden | layers | attention | train tok/s recur | PyTorch | ratio | beam-5 sent/s recur | PyTorch | ratio |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for key, who in runs.items():
    rt, pt = med(who["recur"], "train_tokens_per_s"), med(who["torch"], "train_tokens_per_s")
    rb, pb = med(who["recur"], "translate_sentences_per_s"), med(who["torch"], "translate_sentences_per_s")
    print(f"| {' | '.join(key)} | {rt:.0f} | {pt:.0f} | {rt/pt:.2f} | {rb:.1f} | {pb:.1f} | {rb/pb:.2f} |")
PY

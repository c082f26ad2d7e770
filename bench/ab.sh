#!/usr/bin/env bash
# Two recur binaries side by side: `recur bench` on the nine rows of BENCHMARKS.md, alternating
# which goes first in each round, one JSON line per run ("round binary cell embed hidden layers json").
#   BEFORE=/path/to/old/recur AFTER=target/release/recur bench/ab.sh [threads] [rounds]
set -euo pipefail
THREADS=${1:-2}
ROUNDS=${2:-2}
: "${BEFORE:?set BEFORE to the old binary}"
: "${AFTER:?set AFTER to the new binary}"
for r in $(seq "$ROUNDS"); do
  for c in "rnn 64 128 1" "lstm 64 128 1" "gru 64 128 1" "rnn 128 256 2" "lstm 128 256 2" \
    "gru 128 256 2" "rnn 256 512 2" "lstm 256 512 2" "gru 256 512 2"; do
    read -r cell e h l <<<"$c"
    if (( r % 2 == 1 )); then order="B A"; else order="A B"; fi
    for w in $order; do
      bin=$BEFORE; [[ $w == A ]] && bin=$AFTER
      echo "$r $w $cell $e $h $l $("$bin" bench --cell "$cell" --embed "$e" --hidden "$h" --layers "$l" \
        --batch-size 32 --seq-len 64 --threads "$THREADS" --json)"
    done
  done
done

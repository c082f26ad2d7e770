#!/usr/bin/env bash
# One global model against one model per series, at the defaults: writes the five monthly series
# of shared/data/timeseries with test spans of two seasons or more (airline, CO2, electrical
# equipment, PBS, sunspots) as one long file, trains `recur forecast --id series` on it and
# `recur forecast` on each series alone, for the given seeds, and prints each series' model MASE
# and the mean over the series.
# Usage: scripts/forecast_panel.sh DATA_DIR OUT_DIR [SEEDS...]   (build with cargo build --release)
set -euo pipefail
data=$1; out=$2; shift 2
seeds=${*:-1 2 3}
bin=${RECUR:-target/release/recur}
names=(airline co2 elec_equip pbs sunspots)
mkdir -p "$out"
python3 "$(dirname "$0")/make_forecast_panel.py" "$data" "$out/panel.csv" "${names[@]}"
for name in "${names[@]}"; do
  python3 - "$out/panel.csv" "$name" "$out/$name.csv" <<'PY'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1])) if r["series"] == sys.argv[2]]
with open(sys.argv[3], "w", newline="") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["month", "value"])
    w.writerows((r["month"], r["value"]) for r in rows)
PY
done
for seed in $seeds; do
  "$bin" forecast --csv "$out/panel.csv" --target value --id series --seed "$seed" \
    --out "$out/global-seed$seed" --overwrite --quiet >/dev/null
  for name in "${names[@]}"; do
    "$bin" forecast --csv "$out/$name.csv" --target value --seed "$seed" \
      --out "$out/$name-seed$seed" --overwrite --quiet >/dev/null
  done
  python3 - "$out" "$seed" "${names[@]}" <<'PY'
import json, sys
out, seed, names = sys.argv[1], sys.argv[2], sys.argv[3:]
g = json.load(open(f"{out}/global-seed{seed}/metrics.json"))
glob = {s["id"]: s["metrics"]["model"]["mase"] for s in g["series"]}
own = {n: json.load(open(f"{out}/{n}-seed{seed}/metrics.json"))["metrics"]["model"]["mase"]
       for n in names}
for n in names:
    print(f"seed {seed} {n:12s} global {glob[n]:.3f} per-series {own[n]:.3f}")
mean = lambda d: sum(d[n] for n in names) / len(names)
print(f"seed {seed} {'mean':12s} global {mean(glob):.3f} per-series {mean(own):.3f} "
      f"(global transform {g['transform']})", flush=True)
PY
done

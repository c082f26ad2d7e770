#!/usr/bin/env bash
# Runs `recur forecast` at its defaults (only --csv, --target, --time) on the eight series of
# shared/data/timeseries for the given seeds, and prints one line per run from metrics.json:
# the MASE of the model and of each baseline, the chosen transform and the intervals' scores.
# Usage: scripts/forecast_bars.sh DATA_DIR OUT_DIR [SEEDS...]   (build with cargo build --release)
set -euo pipefail
data=$1; out=$2; shift 2
seeds=${*:-1 2 3}
bin=${RECUR:-target/release/recur}
series=(
  "airline_passengers_monthly.csv|Passengers|Date"
  "co2_mauna_loa_monthly.csv|CO2|Date"
  "elec_equip_monthly_eurostat.csv|STS.M.I7.W.TOVT.NS0016.4.000|DATE"
  "pbs_scripts_monthly.csv|Scripts|Month"
  "shampoo_sales_monthly.csv|Sales|Time"
  "sunspots_monthly_1749_2009.csv|sunspots|year,month"
  "us_births_daily_1969_1988.csv|births|year,month,date_of_month"
  "uschange_quarterly.csv|Consumption|Quarter"
)
mkdir -p "$out"
for seed in $seeds; do
  for s in "${series[@]}"; do
    IFS='|' read -r file target time <<<"$s"
    dir="$out/${file%.csv}-seed$seed"
    start=$(date +%s.%N)
    "$bin" forecast --csv "$data/$file" --target "$target" --time "$time" --seed "$seed" \
      --out "$dir" --overwrite --quiet >/dev/null
    secs=$(echo "$(date +%s.%N) - $start" | bc)
    python3 - "$dir/metrics.json" "$seed" "$secs" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
mase = {k: v["mase"] for k, v in m["metrics"].items()}
iv = {round(i["level"] * 100): i for i in m["intervals"]}
print(f'{m["csv"].split("/")[-1]:34s} seed {sys.argv[2]} period {m["period"]:3d} '
      f'test {m["test_points"]:4d} transform {m["transform"]:18s} ' +
      " ".join(f'{k} {v:.3f}' for k, v in mase.items()) +
      f' | cov80 {iv[80]["coverage"]:.3f} cov95 {iv[95]["coverage"]:.3f} '
      f'msis95 {iv[95]["msis"]:.3f} | {float(sys.argv[3]):.1f} s', flush=True)
PY
  done
done

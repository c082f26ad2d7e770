#!/usr/bin/env python3
"""Writes a long-format CSV (`series,month,value`) of monthly series from shared/data/timeseries:
one row per series and month, the months written as YYYY-MM, each series in its own span.

    python3 scripts/make_forecast_panel.py ../shared/data/timeseries OUT.csv [--last N] [NAME...]

With --last N only the last N months of each series are kept (the test fixture
tests/fixtures/forecast/monthly_panel.csv is `--last 60` of the six monthly series, PBS cut at
2000-12 so that its slice is not all zeros). NAME picks series (default: every monthly one).
Sources and licences of the series: shared/data/README.md (airline and shampoo: sktime, BSD-3;
CO2: vega-datasets, CC-BY-4.0 Scripps; electrical equipment and sunspots: statsmodels, public
domain; PBS: aeon, fpp data).
"""
import csv
import sys
from datetime import datetime

MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()

# name: (file, time columns, value column, how the time reads, last month kept or None)
SERIES = {
    "airline": ("airline_passengers_monthly.csv", ["Date"], "Passengers", "%Y-%m", None),
    "co2": ("co2_mauna_loa_monthly.csv", ["Date"], "CO2", "%Y-%m-%d", None),
    "elec_equip": ("elec_equip_monthly_eurostat.csv", ["DATE"], "STS.M.I7.W.TOVT.NS0016.4.000",
                   "%b-%d-%Y", None),
    "pbs": ("pbs_scripts_monthly.csv", ["Month"], "Scripts", "%Y %b", None),
    "shampoo": ("shampoo_sales_monthly.csv", ["Time"], "Sales", "%Y-%m", None),
    "sunspots": ("sunspots_monthly_1749_2009.csv", ["year", "month"], "sunspots", "%Y-%m", None),
}


def read(data, name, cut):
    file, time, value, fmt, _ = SERIES[name]
    rows = []
    with open(f"{data}/{file}", newline="", encoding="utf-8-sig") as f:
        for r in csv.DictReader(f):
            label = "-".join(r[c].strip() for c in time)
            month = datetime.strptime(label, fmt).strftime("%Y-%m")
            if cut and month > cut:
                continue
            rows.append((month, r[value].strip()))
    rows.sort()
    return rows


def main():
    args = sys.argv[1:]
    last = None
    if "--last" in args:
        i = args.index("--last")
        last = int(args[i + 1])
        del args[i:i + 2]
    data, out, names = args[0], args[1], args[2:] or list(SERIES)
    with open(out, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["series", "month", "value"])
        for name in names:
            cut = "2000-12" if (last and name == "pbs") else None
            rows = read(data, name, cut)
            for month, v in rows[-last:] if last else rows:
                w.writerow([name, month, v])


if __name__ == "__main__":
    main()

"""The table of docs/FORECAST_RESULTS.md from the run directories that scripts/forecast_bars.sh wrote.

Usage: python3 scripts/forecast_table.py OUT_DIR [OUT_DIR...]
"""
import json, glob, os, sys, collections
runs = collections.defaultdict(dict)
for d in [d for o in sys.argv[1:] for d in glob.glob(o + '/*-seed*')]:
    name, seed = os.path.basename(d).rsplit('-seed', 1)
    runs[name][int(seed)] = json.load(open(d + '/metrics.json'))
rows = []
cov = {80: [], 95: []}
beats_all = ets_wins = 0
print('| series | freq, period | test pts | transform (seeds 1/2/3) | model MASE seeds 1/2/3 | naive | seasonal naive | drift | AutoETS | 80 % cover | 95 % cover | MSIS 95 % |')
print('|---|---|---|---|---|---|---|---|---|---|---|---|')
for name in sorted(runs):
    r = runs[name]
    m1 = r[1]
    base = {k: m1['metrics'][k]['mase'] for k in ['naive', 'seasonal_naive', 'drift', 'ets']}
    model = [r[s]['metrics']['model']['mase'] for s in (1, 2, 3)]
    tr = '/'.join(r[s]['transform'] for s in (1, 2, 3))
    c80 = sum(next(i['coverage'] for i in r[s]['intervals'] if round(i['level']*100) == 80) for s in (1,2,3)) / 3
    c95 = sum(next(i['coverage'] for i in r[s]['intervals'] if round(i['level']*100) == 95) for s in (1,2,3)) / 3
    msis = sum(next(i['msis'] for i in r[s]['intervals'] if round(i['level']*100) == 95) for s in (1,2,3)) / 3
    cov[80].append(c80); cov[95].append(c95)
    worst = max(model)
    ok = worst <= base['naive'] and worst <= base['seasonal_naive']
    beats_all += ok
    mean_model = sum(model) / 3
    ets_wins += mean_model <= base['ets']
    print(f"| {name} | {m1['frequency']}, {m1['period']} | {m1['test_points']} | {tr} | " +
          ' / '.join(f'{v:.3f}' for v in model) +
          f" | {base['naive']:.3f} | {base['seasonal_naive']:.3f} | {base['drift']:.3f} | {base['ets']:.3f} | {c80:.2f} | {c95:.2f} | {msis:.2f} |")
print()
print(f'worst seed <= naive and seasonal naive on {beats_all}/{len(runs)} series; mean over seeds <= AutoETS on {ets_wins}/{len(runs)}')
print(f'mean coverage over series: 80 % -> {sum(cov[80])/len(cov[80]):.3f}, 95 % -> {sum(cov[95])/len(cov[95]):.3f}')

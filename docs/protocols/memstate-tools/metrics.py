#!/usr/bin/env python3
"""Figures for docs/protocols/memstate.md (the gist's question): runs a
scenario on seeds A..B with --history and --json and prints outcome rates,
ok latency percentiles per function, lost increments and check verdicts."""
import json, subprocess, sys, collections
B = 'target/release/dsim'
scen, a, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
window = tuple(map(float, sys.argv[4:6])) if len(sys.argv) > 5 else None
kinds = collections.Counter(); lat = collections.defaultdict(list)
verdicts = collections.Counter(); acked = final = 0; pernode = collections.defaultdict(collections.Counter)
for s in range(a, b):
    out = subprocess.run([B, 'run', scen, '--seed', str(s), '--json', '--history', '/tmp/m.jsonl'], capture_output=True, text=True)
    rep = json.loads(out.stdout)
    for c, v in rep['checks'].items():
        verdicts[f'{c}:{v}'] += 1
    inv = {}
    last_get = None
    for l in open('/tmp/m.jsonl'):
        e = json.loads(l)
        if e['type'] == 'invoke':
            inv[e['process']] = e; continue
        i = inv.pop(e['process'], None)
        if i is None: continue
        t0 = i['time'] / 1000
        if window and not (window[0] <= t0 < window[1]): continue
        k = e['type']
        if k == 'fail':
            v = str(e.get('value'))
            k = 'fail-conflict' if 'mismatch' in v else ('fail-not-leader' if 'leader' in v else 'fail-other')
        kinds[k] += 1
        kinds[f"{i['f']}:{k}"] += 1
        if e['type'] == 'ok':
            lat[i['f']].append((e['time'] - i['time']) / 1000)
            if i['f'] == 'incr': acked += 1
            if i['f'] == 'get' and t0 >= 2999 and isinstance(e['value'], list): final += e['value'][0]
n = sum(kinds[k] for k in ('ok', 'info', 'fail-conflict', 'fail-not-leader', 'fail-other'))
print(f'{scen} seeds {a}..{b}: {n} ops' + (f' invoked in {window}' if window else ''))
for k in ('ok', 'fail-conflict', 'fail-not-leader', 'fail-other', 'info'):
    print(f'  {k}: {kinds[k]} ({100*kinds[k]/max(n,1):.1f} %)')
for f, ls in sorted(lat.items()):
    ls.sort(); p = lambda q: ls[min(len(ls)-1, int(q*len(ls)))]
    print(f'  latency {f}: p50 {p(0.5):.1f} ms, p99 {p(0.99):.1f} ms ({len(ls)} ok)')
if acked:
    print(f'  incr acknowledged {acked}, final values summed {final}, lost {acked-final} ({100*(acked-final)/acked:.1f} %)')
print('  verdicts: ' + ', '.join(f'{k} {v}' for k, v in sorted(verdicts.items())))

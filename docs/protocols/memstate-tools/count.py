import json,sys,collections
c=collections.Counter(); seeds=collections.defaultdict(list); n=0
for line in sys.stdin:
    line=line.strip()
    if not line.startswith('{'): continue
    d=json.loads(line)
    if 'failed' not in d: continue
    n+=1
    for f in d['failed']:
        k=f"{f['check']}:{f['status']}"
        c[k]+=1
        if len(seeds[k])<12: seeds[k].append(d['seed'])
print(f"seeds not as expected: {n}")
for k,v in sorted(c.items()): print(f"  {k}: {v}  e.g. {seeds[k]}")

#!/bin/bash
# usage: mem.sh MODE PORT : hold 15000 conns (1% active), snapshot smaps in the idle window
set -u
cd /work/wt/green
mode=$1; port=$2
out=target/prof/mem-$mode-$port; mkdir -p $out
taskset -c 0 target/release/netpoll-echo --addr 127.0.0.1:$port --mode $mode --idle-timeout 30 > $out/server.log 2>&1 &
spid=$!
for i in $(seq 1 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
grep -E "VmRSS|RssAnon" /proc/$spid/status > $out/before.txt
taskset -c 1 target/release/loadgen --addr 127.0.0.1:$port --mode hold --conns 15000 --size 64 --active 0.01 --interval-ms 100 --warmup 0.5 --duration 3 --idle 6 > $out/load.json 2> $out/load.err &
lpid=$!
for i in $(seq 1 200); do grep -q idle-start $out/load.err 2>/dev/null && break; sleep 0.1; done
sleep 1
cp /proc/$spid/smaps $out/smaps; grep -E "VmRSS|RssAnon|VmPTE" /proc/$spid/status > $out/idle.txt
wait $lpid
kill $spid; wait $spid 2>/dev/null
cat $out/before.txt $out/idle.txt
python3 - $out/smaps <<'PY'
import sys,re,collections
maps=[];cur=None
for l in open(sys.argv[1]):
    m=re.match(r'([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)',l)
    if m:
        cur={'size':int(m.group(2),16)-int(m.group(1),16),'perm':m.group(3),'name':m.group(4),'rss':0}; maps.append(cur)
    elif l.startswith('Rss:'): cur['rss']=int(l.split()[1])
agg=collections.defaultdict(lambda:[0,0])
for m in maps:
    k=m['name'] or f"anon {m['perm']} size={m['size']//1024}K" 
    if not m['name'] and m['size']//1024 in (252,256,260): k='anon stack-sized (~256K)'
    agg[k][0]+=1; agg[k][1]+=m['rss']
for k,(n,r) in sorted(agg.items(),key=lambda x:-x[1][1])[:8]: print(f"{r:9d} KiB rss in {n:6d} maps  {k}")
PY

#!/usr/bin/env bash
# cg.sh BIN PORT OUTDIR [extra server args...]: callgrind Ir per message like the runner's CG
set -u
bin=$1; port=$2; out=$3; shift 3
lg=/tmp/perf_bins/loadgen
mkdir -p $out; rm -f $out/cg.*
taskset -c 0 valgrind --tool=callgrind --callgrind-out-file=$out/cg.%p --dump-instr=no $bin --addr 127.0.0.1:$port "$@" > $out/server.log 2>&1 &
vpid=$!
for i in $(seq 1 600); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
load() { taskset -c 1 $lg --addr 127.0.0.1:$port --mode closed --duration 600 --conns 100 --size 64 --messages $1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["messages"])'; }
load 200 >/dev/null
callgrind_control -z $vpid >/dev/null
m1=$(load 200); callgrind_control -d $vpid >/dev/null; f1=$(ls -t $out/cg.*.* | head -1)
callgrind_control -z $vpid >/dev/null
m2=$(load 1000); callgrind_control -d $vpid >/dev/null; f2=$(ls -t $out/cg.*.* | head -1)
kill $vpid; wait $vpid 2>/dev/null
t1=$(grep -m1 '^summary:' $f1 | awk '{print $2}'); t2=$(grep -m1 '^summary:' $f2 | awk '{print $2}')
python3 -c "print('Ir/msg', ($t2-$t1)/($m2-$m1), 'msgs', $m1, $m2)"
echo $f2

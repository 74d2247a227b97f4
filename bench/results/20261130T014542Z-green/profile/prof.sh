#!/bin/bash
# usage: prof.sh MODE PORT LOADARGS...   (profiles netpoll-echo --mode MODE under a loadgen load)
set -u
cd /work/wt/green
mode=$1; port=$2; shift 2
out=target/prof/$mode-$port
mkdir -p $out
taskset -c 0 target/release/netpoll-echo --addr 127.0.0.1:$port --mode $mode > $out/server.log 2>&1 &
spid=$!
for i in $(seq 1 50); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
taskset -c 1 target/release/loadgen --addr 127.0.0.1:$port "$@" > $out/load.json 2> $out/load.err &
lpid=$!
sleep 2.5
perf stat -x, -e raw_syscalls:sys_enter,syscalls:sys_enter_read,syscalls:sys_enter_write,syscalls:sys_enter_recvfrom,syscalls:sys_enter_sendto,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_epoll_pwait,syscalls:sys_enter_epoll_ctl,syscalls:sys_enter_futex,syscalls:sys_enter_writev,syscalls:sys_enter_readv -p $spid -o $out/syscalls.csv -- sleep 3 &
ppid=$!
perf record -q -e cpu-clock -F 4000 -g -p $spid -o $out/perf.data -- sleep 3 > /dev/null 2>&1
wait $ppid
wait $lpid
kill $spid; wait $spid 2>/dev/null
python3 -c "import json;d=json.load(open('$out/load.json'));print('$mode', 'msg/s',round(d['throughput']))"
cat $out/syscalls.csv | grep -v '^#' | awk -F, '$1>0{print $1, $3}'

#!/usr/bin/env bash
# Interleaved before/after callgrind of netpoll-echo async, plain and with a 30 s idle deadline.
set -u
out=/tmp/perf_runs/ba; mkdir -p $out
port=17600
for it in 0 1 2; do
  for v in before after; do
    for dl in plain dl; do
      port=$((port+1))
      args="--mode async"; [ $dl = dl ] && args="$args --idle-timeout 30"
      r=$(/tmp/perf_bins/cg.sh /tmp/perf_bins/netpoll-echo.$v $port $out/$v-$dl-$it $args 2>/dev/null | grep Ir/msg)
      echo "$v $dl it$it $r" | tee -a $out/results.txt
    done
  done
done

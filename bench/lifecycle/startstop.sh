#!/bin/bash
# usage: bench/lifecycle/startstop.sh BINARY RUNS — start serve on a fresh data dir, wait for /readyz, SIGTERM, time until exit.
# Prints, per run, the milliseconds from launch to a 200 from /readyz (first start: key file,
# SQLite file, migrations, default organisation) and from SIGTERM to exit (HTTP stopped, the
# background workers cancelled and waited for, the store closed). Build first:
#   go build -o /tmp/plugboard ./cmd/plugboard && bench/lifecycle/startstop.sh /tmp/plugboard 10
bin=$1; runs=${2:-10}
for i in $(seq $runs); do
  dir=$(mktemp -d)
  t0=$(date +%s%N)
  $bin serve --addr 127.0.0.1:0 --data-dir $dir >/dev/null 2>$dir/log &
  pid=$!
  addr=""
  until [ -n "$addr" ] && curl -sf http://$addr/readyz >/dev/null; do
    kill -0 $pid 2>/dev/null || { echo "died"; cat $dir/log; exit 1; }
    addr=$(grep -o 'msg=listening addr=[0-9.:]*' $dir/log | sed 's/.*addr=//'); sleep 0.01
  done
  t1=$(date +%s%N)
  kill -TERM $pid; wait $pid; rc=$?
  t2=$(date +%s%N)
  echo "start_ms=$(( (t1-t0)/1000000 )) stop_ms=$(( (t2-t1)/1000000 )) rc=$rc"
  rm -rf $dir
done

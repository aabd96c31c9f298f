#!/usr/bin/env bash
# driftgate against two no-op floors, side by side, on this machine. See BENCHMARKS.md.
#
#   bench/run.sh [--objects 100000] [--rounds 3] [--duration 10s] [--warmup 2s]
#                [--connections "16 64"] [--rate 1000] [--workloads "generated corpus"]
#                [--soak 10m] [--floor-only] [--quick] [--out DIR]
#
# Builds release binaries, writes certs (`driftgate certs`), imports a Git repository of N
# generated objects (git fast-import), starts the floor (parses the review), the transport
# floor (finds the uid with a byte scan: TLS, HTTP and the body only) and `driftgate serve` on
# 127.0.0.1, waits for them, then runs every scenario (closed loop at each connection count,
# and open loop at the fixed rate; for each workload) once per round, reversing the order of
# the servers every other round. Results: DIR/results.jsonl (one line per run), DIR/rss.tsv,
# and the two tables printed by `loadgen report` (driftgate / floor, driftgate / transport). `--soak 10m` then drives driftgate alone at the fixed rate and samples its
# resident memory every minute. Everything started here is killed on exit.
set -euo pipefail

OBJECTS=100000
ROUNDS=3
DURATION=10s
WARMUP=2s
CONNECTIONS="16 64"
RATE=1000
WORKLOADS="generated corpus"
SOAK=""
FLOOR_ONLY=0
OUT=""
FLOOR_PORT=${FLOOR_PORT:-18443}
TRANSPORT_PORT=${TRANSPORT_PORT:-18445}
DG_PORT=${DG_PORT:-18444}
ADMIN_PORT=${ADMIN_PORT:-18080}

while [ $# -gt 0 ]; do
  case "$1" in
    --objects) OBJECTS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --warmup) WARMUP=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --workloads) WORKLOADS=$2; shift 2 ;;
    --soak) SOAK=$2; shift 2 ;;
    --floor-only) FLOOR_ONLY=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    --quick) OBJECTS=1000; ROUNDS=1; DURATION=1s; WARMUP=200ms; RATE=200; shift ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CORPUS=${CORPUS:-$ROOT/../shared/corpus/admission-reviews}
WORK=$(mktemp -d -t driftgate-bench.XXXXXX)
OUT=${OUT:-$WORK/out}
mkdir -p "$OUT"
PIDS=()

cleanup() {
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]:-}"; do
    [ -n "$pid" ] && wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK/repo" "$WORK/certs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "run.sh: $*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# to_seconds 10m|90s|1h -> seconds
to_seconds() {
  case "$1" in
    *h) echo $(( ${1%h} * 3600 )) ;;
    *m) echo $(( ${1%m} * 60 )) ;;
    *s) echo "${1%s}" ;;
    *) echo "$1" ;;
  esac
}

if [ ! -d "$CORPUS" ]; then
  log "corpus not found at $CORPUS: corpus workload skipped"
  WORKLOADS=${WORKLOADS//corpus/}
fi

log "building release binaries"
(cd "$ROOT" && cargo build --release --quiet --bin driftgate --example floor \
  --example transport_floor --example loadgen)
BIN=$ROOT/target/release
DRIFTGATE=$BIN/driftgate
FLOOR=$BIN/examples/floor
TRANSPORT=$BIN/examples/transport_floor
LOADGEN=$BIN/examples/loadgen

log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
"$DRIFTGATE" certs --service driftgate --namespace driftgate-system --out "$WORK/certs" >/dev/null
CA=$WORK/certs/ca.crt

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }

# wait_for DEADLINE_S COMMAND...: polls until COMMAND succeeds.
wait_for() {
  local deadline=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then return 1; fi
    sleep 0.2
  done
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# FLOOR_ARGS=--lazy: a floor that leaves object/oldObject unparsed (the stricter comparison).
# shellcheck disable=SC2086
"$FLOOR" --cert "$WORK/certs/tls.crt" --key "$WORK/certs/tls.key" --listen "127.0.0.1:$FLOOR_PORT" \
  ${FLOOR_ARGS:-} 2>"$OUT/floor.log" &
FLOOR_PID=$!
PIDS+=("$FLOOR_PID")
wait_for 30 port_open "$FLOOR_PORT" || { log "floor did not start"; cat "$OUT/floor.log" >&2; exit 1; }

# The transport floor: what TLS, HTTP and reading the body cost, with no JSON parse at all.
"$TRANSPORT" --cert "$WORK/certs/tls.crt" --key "$WORK/certs/tls.key" \
  --listen "127.0.0.1:$TRANSPORT_PORT" 2>"$OUT/transport.log" &
TRANSPORT_PID=$!
PIDS+=("$TRANSPORT_PID")
wait_for 30 port_open "$TRANSPORT_PORT" || { log "transport floor did not start"; cat "$OUT/transport.log" >&2; exit 1; }

SERVERS="floor transport"
DG_PID=""
if [ "$FLOOR_ONLY" = 0 ]; then
  log "importing $OBJECTS generated objects into a Git repository"
  git -c init.defaultBranch=main init -q "$WORK/repo"
  start=$(now)
  "$LOADGEN" gen-repo --objects "$OBJECTS" | git -C "$WORK/repo" fast-import --quiet
  log "imported in $(since "$start") s"
  start=$(now)
  DRIFTGATE_LOG=warn "$DRIFTGATE" serve --repo "$WORK/repo" --ref main \
    --cert "$WORK/certs/tls.crt" --key "$WORK/certs/tls.key" \
    --listen "127.0.0.1:$DG_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" 2>"$OUT/driftgate.log" &
  DG_PID=$!
  PIDS+=("$DG_PID")
  if ! wait_for 600 curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz"; then
    log "driftgate not ready"; cat "$OUT/driftgate.log" >&2; exit 1
  fi
  log "driftgate ready in $(since "$start") s: $(curl -s "http://127.0.0.1:$ADMIN_PORT/readyz" | head -1)"
  SERVERS="floor transport driftgate"
fi

printf 'server\tphase\tvmrss_kb\n' >"$OUT/rss.tsv"
url_of() {
  case "$1" in
    floor) echo "https://127.0.0.1:$FLOOR_PORT/validate" ;;
    transport) echo "https://127.0.0.1:$TRANSPORT_PORT/validate" ;;
    *) echo "https://127.0.0.1:$DG_PORT/validate" ;;
  esac
}
pid_of() {
  case "$1" in
    floor) echo "$FLOOR_PID" ;;
    transport) echo "$TRANSPORT_PID" ;;
    *) echo "$DG_PID" ;;
  esac
}
for s in $SERVERS; do
  printf '%s\tidle\t%s\n' "$s" "$(rss_kb "$(pid_of "$s")")" >>"$OUT/rss.tsv"
done

# one SERVER SCENARIO ROUND WORKLOAD ARGS...: one loadgen run, with the server's peak RSS.
one() {
  local server=$1 scenario=$2 round=$3 workload=$4; shift 4
  local pid; pid=$(pid_of "$server")
  local peak_file=$WORK/peak.$server
  echo 0 >"$peak_file"
  ( peak=0; while kill -0 "$pid" 2>/dev/null; do
      r=$(rss_kb "$pid"); [ "${r:-0}" -gt "$peak" ] && peak=$r && echo "$peak" >"$peak_file"
      sleep 0.5; done ) &
  local sampler=$!
  "$LOADGEN" run --url "$(url_of "$server")" --ca "$CA" --workload "$workload" \
    --objects "$OBJECTS" --corpus "$CORPUS" --duration "$DURATION" --warmup "$WARMUP" \
    --label "$server/$scenario/$round" "$@" | tee -a "$OUT/results.jsonl" >&2
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
  printf '%s\t%s/%s\t%s\n' "$server" "$scenario" "$round" "$(cat "$peak_file")" >>"$OUT/rss.tsv"
}

for round in $(seq 1 "$ROUNDS"); do
  order=$SERVERS
  if [ $((round % 2)) = 0 ]; then order=$(echo "$SERVERS" | tr ' ' '\n' | tac | xargs); fi
  for workload in $WORKLOADS; do
    for c in $CONNECTIONS; do
      for s in $order; do one "$s" "$workload-c$c" "$round" "$workload" --connections "$c"; done
    done
    for s in $order; do
      one "$s" "$workload-rate$RATE" "$round" "$workload" --connections 16 --rate "$RATE"
    done
  done
done

for s in $SERVERS; do
  printf '%s\tafter\t%s\n' "$s" "$(rss_kb "$(pid_of "$s")")" >>"$OUT/rss.tsv"
done

if [ -n "$SOAK" ]; then
  if [ -z "$DG_PID" ]; then log "--soak needs driftgate (not with --floor-only)"; exit 2; fi
  secs=$(to_seconds "$SOAK")
  segments=$(( secs / 60 )); [ "$segments" -lt 1 ] && segments=1
  seg=$(( secs / segments ))
  log "soak: $segments x ${seg}s at $RATE req/s against driftgate"
  printf 'minute\tvmrss_kb\tp99_us\n' >"$OUT/soak.tsv"
  for m in $(seq 1 "$segments"); do
    line=$("$LOADGEN" run --url "$(url_of driftgate)" --ca "$CA" --workload generated \
      --objects "$OBJECTS" --duration "${seg}s" --warmup "$WARMUP" --connections 16 --rate "$RATE" \
      --label "driftgate/soak/$m")
    echo "$line" >>"$OUT/soak.jsonl"
    p99=$(echo "$line" | jq -r .p99_us)
    printf '%s\t%s\t%s\n' "$m" "$(rss_kb "$DG_PID")" "$p99" | tee -a "$OUT/soak.tsv" >&2
  done
fi

echo
echo "## Results ($ROUNDS rounds, $DURATION each after $WARMUP warm-up, $OBJECTS objects)"
echo
"$LOADGEN" report "$OUT/results.jsonl"
echo
echo "## Resident memory (kB)"
echo
column -t -s$'\t' "$OUT/rss.tsv"
if [ -f "$OUT/soak.tsv" ]; then echo; echo "## Soak"; echo; column -t -s$'\t' "$OUT/soak.tsv"; fi
echo
log "raw results in $OUT"

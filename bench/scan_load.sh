#!/usr/bin/env bash
# The webhook's latency while a drift scan of the whole declared set runs on the same cores, and
# the scan's own time and peak memory. See BENCHMARKS.md.
#
#   bench/scan_load.sh [--objects 100000] [--rounds 3] [--duration 20s] [--rate 1000] [--out DIR]
#
# Imports N generated objects into a Git repository (`loadgen gen-repo`), writes the cluster
# that applied them as a dump (`loadgen gen-live`, as `kubectl get -A -o json` prints it), starts
# `driftgate serve` on 127.0.0.1, then per round drives it open-loop at the fixed rate twice:
# once alone ("quiet") and once while `driftgate scan --objects DUMP` runs back to back beside
# it ("scanning"), the order reversed every other round. The scan is a separate process reading
# the dump, not the periodic scan inside `serve` (which reads the apiserver, absent here): it
# competes for the same two cores, and also reads Git itself, so it is the harsher case.
# Results: DIR/results.jsonl, DIR/scans.txt (`/usr/bin/time` of each scan, the first one
# alone). Everything started
# here is killed on exit.
set -euo pipefail

OBJECTS=100000
ROUNDS=3
DURATION=20s
RATE=1000
OUT=""
DG_PORT=${DG_PORT:-18454}
ADMIN_PORT=${ADMIN_PORT:-18090}

while [ $# -gt 0 ]; do
  case "$1" in
    --objects) OBJECTS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "scan_load.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d -t driftgate-scan-load.XXXXXX)
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
  rm -rf "$WORK/repo" "$WORK/certs" "$WORK/live.json"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "scan_load.sh: $*" >&2; }

log "building release binaries"
(cd "$ROOT" && cargo build --release --quiet --bin driftgate --example loadgen)
DRIFTGATE=$ROOT/target/release/driftgate
LOADGEN=$ROOT/target/release/examples/loadgen
command -v /usr/bin/time >/dev/null || { log "/usr/bin/time is needed (apt-get install time)"; exit 1; }

"$DRIFTGATE" certs --service driftgate --namespace driftgate-system --out "$WORK/certs" >/dev/null
git -c init.defaultBranch=main init -q "$WORK/repo"
"$LOADGEN" gen-repo --objects "$OBJECTS" | git -C "$WORK/repo" fast-import --quiet
"$LOADGEN" gen-live --objects "$OBJECTS" >"$WORK/live.json"
log "repository of $OBJECTS objects; dump $(du -m "$WORK/live.json" | cut -f1) MB"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
DRIFTGATE_LOG=warn "$DRIFTGATE" serve --repo "$WORK/repo" --ref main \
  --cert "$WORK/certs/tls.crt" --key "$WORK/certs/tls.key" \
  --listen "127.0.0.1:$DG_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" 2>"$OUT/driftgate.log" &
PIDS+=("$!")
deadline=$(( $(date +%s) + 600 ))
until curl -sf "http://127.0.0.1:$ADMIN_PORT/readyz" >/dev/null 2>&1; do
  [ "$(date +%s)" -ge "$deadline" ] && { log "driftgate not ready"; cat "$OUT/driftgate.log" >&2; exit 1; }
  sleep 0.2
done

# scans_until FILE: runs scans back to back until FILE exists; each one's time and peak RSS.
scans_until() {
  while [ ! -e "$1" ]; do
    /usr/bin/time -f "scan of $OBJECTS objects: %e s, peak RSS %M KB" \
      "$DRIFTGATE" scan --repo "$WORK/repo" --ref main --objects "$WORK/live.json" --format json \
      >/dev/null 2>>"$OUT/scans.txt" || true
  done
}

one() {
  local label=$1
  "$LOADGEN" run --url "https://127.0.0.1:$DG_PORT/validate" --ca "$WORK/certs/ca.crt" \
    --workload generated --objects "$OBJECTS" --duration "$DURATION" --warmup 2s \
    --connections 16 --rate "$RATE" --label "$label" | tee -a "$OUT/results.jsonl" >&2
}

# One scan alone first: its time and memory with the webhook idle.
/usr/bin/time -f "scan of $OBJECTS objects alone: %e s, peak RSS %M KB" \
  "$DRIFTGATE" scan --repo "$WORK/repo" --ref main --objects "$WORK/live.json" --format json \
  >/dev/null 2>>"$OUT/scans.txt" || true

for round in $(seq 1 "$ROUNDS"); do
  order="quiet scanning"
  [ $((round % 2)) = 0 ] && order="scanning quiet"
  for side in $order; do
    if [ "$side" = quiet ]; then
      one "quiet/$round"
    else
      stop=$WORK/stop.$round
      scans_until "$stop" &
      scanner=$!
      sleep 1 # the scan is under way (reading Git and the dump) before the load starts
      one "scanning/$round"
      touch "$stop"
      wait "$scanner" || true
    fi
  done
done

python3 - "$OUT/results.jsonl" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip().startswith("{")]
for side in ("quiet", "scanning"):
    mine = [r for r in rows if r.get("label", "").startswith(side + "/")]
    def med(key):
        vals = [r[key] for r in mine if key in r]
        return statistics.median(vals) if vals else float("nan")
    print(f"{side:9} p50 {med('p50_us'):8.0f} us  p99 {med('p99_us'):8.0f} us  "
          f"p99.9 {med('p999_us'):8.0f} us  errors {sum(r.get('errors', 0) for r in mine)}  "
          f"non-200 {sum(r.get('non_200', 0) for r in mine)}  ({len(mine)} runs, median)")
PY
cat "$OUT/scans.txt"

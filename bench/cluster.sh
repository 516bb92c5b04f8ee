#!/usr/bin/env bash
# The cluster benchmark (issue 24): the same load with publishers and subscribers on ONE node against publishers on
# node A and subscribers on node B (CROSS), over a 3-server NATS cluster on loopback, and the route convergence after
# a subscribe (target: p99 < 50 ms). See bench/README.md, "Cluster: across nodes vs one node".
#
#   bench/cluster.sh                 # 3 rounds, one and cross alternating (< 10 min)
#   bench/cluster.sh --quick         # 1 round, short windows (< 3 min)
#   bench/cluster.sh --rounds 5 --out /tmp/cbench --cases p2p,convergence
#
# Prints a table of medians (cross / one ratios) and writes it to OUT/summary.md, with every bench report in
# OUT/results.jsonl and the brokers' and NATS servers' logs in OUT/logs/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

quick=0
rounds=""
out=""
cases="p2p,p2prate,fanin,convergence,conn"
build=1
nodes=2
conn_count_option=""
port_broker=${PORT_BROKER:-18850}        # node i listens on port_broker + i
port_nats=${PORT_NATS:-14222}            # NATS server i: client port port_nats + i, route port port_nats + 100 + i

usage() {
    sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'
Options:
  --quick          1 round, 4 s windows, 20 pairs / 20 publishers, 50 convergence rounds, 3000 connections
  --rounds R       rounds, ONE and CROSS alternating within each (default 3; 1 with --quick)
  --cases LIST     comma-separated subset of: p2p (100 pairs QoS 1 as fast as possible), p2prate (the same pairs at
                   20k msg/s), fanin (50 publishers -> 1 subscriber QoS 1 at 5k msg/s), convergence (SUBACK on one node
                   to first delivery of what is published on another), conn (idle connections on a cluster node
                   against a broker with the cluster off: RSS per connection) (default: all)
  --conn-count N   the conn case's idle connections (default 10000; 3000 with --quick)
  --nodes N        broker nodes, 2 or 3 (default 2; a third stays idle, as a cluster's other members would)
  --out DIR        where results go (default: a new temp directory)
  --no-build       use the existing Release builds
Environment: OURS_DLL (broker.dll to run; default: this tree's Release build), PORT_BROKER (18850: node i on
             18850+i), PORT_NATS (14222: NATS server i on 14222+i, its cluster route on 14322+i).
EOF
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) quick=1 ;;
        --rounds) rounds="$2"; shift ;;
        --cases) cases="$2"; shift ;;
        --nodes) nodes="$2"; shift ;;
        --conn-count) conn_count_option="$2"; shift ;;
        --out) out="$2"; shift ;;
        --no-build) build=0 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "cluster.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[[ $nodes == 2 || $nodes == 3 ]] || { echo "cluster.sh: --nodes must be 2 or 3" >&2; exit 2; }

if [[ $quick == 1 ]]; then
    rounds=${rounds:-1}
    duration=4s; warmup=2s; rate_warmup=2s
    pairs=20; fanin_publishers=20
    convergence_rounds=50
    conn_count=3000; conn_rate=3000; conn_hold=3s
else
    rounds=${rounds:-3}
    duration=8s; warmup=2s
    rate_warmup=5s   # fixed rates: past most of the optimizing JIT's work (bench/README.md), in less time than compare.sh
    pairs=100; fanin_publishers=50
    convergence_rounds=200
    conn_count=10000; conn_rate=5000; conn_hold=8s
fi
p2p_rate=20000; fanin_rate=5000
conn_count=${conn_count_option:-$conn_count}
conn_ifaddr=127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9

out=${out:-$(mktemp -d /tmp/broker-cluster-XXXXXX)}
mkdir -p "$out/logs"
results="$out/results.jsonl"
: > "$results"
work=$(mktemp -d /tmp/broker-cluster-run-XXXXXX)
nats_pids=()
node_pids=()

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

stop_pid() {
    local pid="$1"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

stop_nodes() {
    local pid
    for pid in "${node_pids[@]}"; do stop_pid "$pid"; done
    node_pids=()
}

cleanup() {
    stop_nodes
    local pid
    for pid in "${nats_pids[@]}"; do stop_pid "$pid"; done
    nats_pids=()
    rm -rf "$work"
}
trap cleanup EXIT

# --- prerequisites --------------------------------------------------------------------------------------------

nats_server=/usr/sbin/nats-server
if [[ ! -x $nats_server ]]; then
    nats_server=$(command -v nats-server || true)
    [[ -n $nats_server ]] || { echo "cluster.sh: needs nats-server (Debian package nats-server)" >&2; exit 1; }
fi
command -v python3 >/dev/null || { echo "cluster.sh: needs python3" >&2; exit 1; }

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) * 9 / 10 - 500 < conn_count )); then
    conn_count=$(( $(ulimit -n) * 9 / 10 - 500 ))
    log "ulimit -n is $(ulimit -n): conn case lowered to $conn_count connections"
fi

if [[ $build == 1 ]]; then
    log "building broker and bench (Release)"
    dotnet build "$root/src/Broker.Server" -c Release -nologo -v:quiet >&2
    dotnet build "$root/src/Broker.Bench" -c Release -nologo -v:quiet >&2
fi
broker_dll=${OURS_DLL:-"$root/src/Broker.Server/bin/Release/net10.0/broker.dll"}
bench_dll="$root/src/Broker.Bench/bin/Release/net10.0/bench.dll"
[[ -f $broker_dll ]] || { echo "cluster.sh: $broker_dll missing (build it, or drop --no-build)" >&2; exit 1; }
[[ -f $bench_dll ]] || { echo "cluster.sh: $bench_dll missing (build it, or drop --no-build)" >&2; exit 1; }

# --- NATS: three servers routed to each other, up for the whole script ------------------------------------------

wait_for_log() {
    local file="$1" text="$2" what="$3" pid="$4"
    for _ in $(seq 600); do
        grep -q -- "$text" "$file" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { echo "cluster.sh: $what exited:" >&2; tail -20 "$file" >&2; exit 1; }
        sleep 0.1
    done
    echo "cluster.sh: $what: no '$text' within 60 s" >&2; tail -20 "$file" >&2; exit 1
}

nats_url() { echo "nats://127.0.0.1:$(( port_nats + $1 ))"; }
routes=""
for i in 0 1 2; do routes+="${routes:+,}nats://127.0.0.1:$(( port_nats + 100 + i ))"; done
for i in 0 1 2; do
    mkdir -p "$work/nats-$i"
    (cd "$work/nats-$i" && exec "$nats_server" -a 127.0.0.1 -p $(( port_nats + i )) -n "n$i" --cluster_name bench \
        --cluster "nats://127.0.0.1:$(( port_nats + 100 + i ))" --routes "$routes") > "$out/logs/nats-$i.log" 2>&1 &
    nats_pids+=($!)
done
for i in 0 1 2; do wait_for_log "$out/logs/nats-$i.log" "Server is ready" "nats-server n$i" "${nats_pids[$i]}"; done
# Each server routed to both others before any broker connects.
for i in 0 1 2; do
    for _ in $(seq 100); do
        (( $(grep -c "Route connection created" "$out/logs/nats-$i.log" || true) >= 2 )) && break
        sleep 0.1
    done
done
log "NATS cluster up: $(nats_url 0), $(nats_url 1), $(nats_url 2) (pids ${nats_pids[*]})"

# --- broker nodes -----------------------------------------------------------------------------------------------

node_name() { printf '%s@127.0.0.1' "$(printf "\\x$(printf %x $(( 97 + $1 )))")"; }   # a@, b@, c@127.0.0.1

# start_node I RUN [cluster|single]: node I on port_broker + I, attached to NATS server I first (so a message from A
# to B crosses a NATS route, as between machines); "single" starts it with the cluster off.
start_node() {
    local i="$1" run="$2" mode="${3:-cluster}"
    local home="$work/node-$i-$run" servers
    rm -rf "$home"; mkdir -p "$home/data"
    cp -r "$root/etc" "$home/"
    # The default plugins but the dashboard, whose fixed port (18083) two nodes (or another broker here) would share.
    grep -v '^dashboard$' "$root/data/loaded_plugins" > "$home/data/loaded_plugins" || true
    servers="$(nats_url "$i")"
    for j in 0 1 2; do [[ $j == "$i" ]] || servers+=",$(nats_url "$j")"; done
    local enable=on; [[ $mode == single ]] && enable=off
    BROKER_NODE__NAME="$(node_name "$i")" BROKER_CLUSTER__ENABLE=$enable BROKER_CLUSTER__NAME=bench \
    BROKER_CLUSTER__NATS__SERVERS="$servers" \
    BROKER_LISTENER__TCP__EXTERNAL="127.0.0.1:$(( port_broker + i ))" BROKER_LISTENER__SSL__EXTERNAL=off \
    BROKER_LISTENER__WS__EXTERNAL=off BROKER_LISTENER__WSS__EXTERNAL=off BROKER_MANAGEMENT__LISTENER=127.0.0.1:0 \
    BROKER_ALLOW_ANONYMOUS=true \
        dotnet "$broker_dll" --home "$home" > "$out/logs/node-$i-$run.log" 2>&1 &
    node_pids+=($!)
    wait_for_log "$out/logs/node-$i-$run.log" "Listener tcp:external started" "node $(node_name "$i")" "$!"
}

# start_cluster RUN: every node, fresh, and waits until each has met every other.
start_cluster() {
    local run="$1" i j
    for (( i = 0; i < nodes; i++ )); do start_node "$i" "$run"; done
    for (( i = 0; i < nodes; i++ )); do
        for (( j = 0; j < nodes; j++ )); do
            [[ $i == "$j" ]] || wait_for_log "$out/logs/node-$i-$run.log" "node $(node_name "$j") joined" \
                "node $(node_name "$i") meeting $(node_name "$j")" "${node_pids[$i]}"
        done
    done
}

# run_bench CASE MODE ROUND bench-args... : one bench run; appends {"case","mode","round","nodes","report"} to
# results.jsonl. --broker-pid gets the running nodes first, then the three NATS servers: the report's
# broker_processes holds each one's CPU, and the summary splits nodes from NATS by the count "nodes".
run_bench() {
    local name="$1" mode="$2" round="$3"; shift 3
    local report rc=0 pids
    pids=$(IFS=,; echo "${node_pids[*]},${nats_pids[*]}")
    echo "=== $name $mode round $round: bench $* (pids $pids)" >> "$out/logs/bench.log"
    report=$(dotnet "$bench_dll" "$@" --broker-pid "$pids" --json --label "$mode" 2>>"$out/logs/bench.log") || rc=$?
    if [[ $rc != 0 || -z "$report" ]]; then
        log "bench failed (exit $rc): $name $mode (see logs/bench.log)"
        return 0
    fi
    printf '{"case":"%s","mode":"%s","round":%d,"nodes":%d,"report":%s}\n' "$name" "$mode" "$round" "${#node_pids[@]}" "$report" >> "$results"
}

has_case() { [[ ",$cases," == *",$1,"* ]]; }
a=$port_broker
b=$(( port_broker + 1 ))

# One node: publishers and subscribers on A (B and the rest running, idle). Cross: publishers on A, subscribers on B.
traffic() {
    local name="$1" round="$2"; shift 2
    local mode sub
    for mode in one cross; do
        sub=$a; [[ $mode == cross ]] && sub=$b
        start_cluster "$name-$mode-r$round"
        log "round $round: $name, $mode ($*)"
        run_bench "$name" "$mode" "$round" "$@" --host 127.0.0.1 --port "$a" --sub-port "$sub" --duration "$duration"
        stop_nodes
    done
}

for round in $(seq "$rounds"); do
    if has_case p2p; then
        traffic "p2p-$pairs-q1-max" "$round" p2p --pairs "$pairs" --qos 1 --warmup "$warmup"
    fi
    if has_case p2prate; then
        traffic "p2p-$pairs-q1-$p2p_rate" "$round" p2p --pairs "$pairs" --qos 1 --rate "$p2p_rate" --warmup "$rate_warmup"
    fi
    if has_case fanin; then
        traffic "fanin-$fanin_publishers-q1-$fanin_rate" "$round" fanin --publishers "$fanin_publishers" --qos 1 \
            --rate "$fanin_rate" --warmup "$rate_warmup"
    fi
    if has_case convergence; then
        # One cluster for both: subscribe on A (one) or B (cross), publish on A every 1 ms until the first delivery.
        start_cluster "convergence-r$round"
        for mode in one cross; do
            sub=$a; [[ $mode == cross ]] && sub=$b
            log "round $round: convergence, $mode ($convergence_rounds rounds)"
            run_bench convergence "$mode" "$round" convergence --host 127.0.0.1 --port "$a" --sub-port "$sub" \
                --rounds "$convergence_rounds" --interval 1ms
        done
        stop_nodes
    fi
    if has_case conn; then
        # Idle connections on node A of the cluster against the same broker with the cluster off: RSS per connection.
        # --broker-pid: only the broker connected to (NATS and the other nodes would hide it in the sum).
        for mode in single cluster; do
            if [[ $mode == single ]]; then start_node 0 "conn-single-r$round" single; else start_cluster "conn-cluster-r$round"; fi
            log "round $round: conn $conn_count idle connections at $conn_rate/s, node A, cluster $([[ $mode == single ]] && echo off || echo on)"
            echo "=== conn-$conn_count $mode round $round" >> "$out/logs/bench.log"
            report=$(dotnet "$bench_dll" conn --host 127.0.0.1 --port "$a" --connections "$conn_count" --conn-rate "$conn_rate" \
                --ifaddr "$conn_ifaddr" --duration "$conn_hold" --keepalive 300 --broker-pid "${node_pids[0]}" --json --label "$mode" \
                2>>"$out/logs/bench.log") || { log "bench failed: conn $mode"; report=""; }
            [[ -z "$report" ]] || printf '{"case":"conn-%s","mode":"%s","round":%d,"nodes":1,"report":%s}\n' \
                "$conn_count" "$mode" "$round" "$report" >> "$results"
            stop_nodes
        done
    fi
done

python3 "$root/bench/summarize_cluster.py" "$results" | tee "$out/summary.md"
log "results: $out (results.jsonl, summary.md, logs/)"

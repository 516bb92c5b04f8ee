#!/usr/bin/env bash
# Compares this broker with mosquitto on this machine, same run, same load generator (src/Broker.Bench).
# See bench/README.md for what each case measures, the broker settings and why.
#
#   bench/compare.sh                 # full comparison, 3 rounds (< 25 min)
#   bench/compare.sh --quick         # smoke-sized comparison, 1 round (< 3 min)
#   bench/compare.sh --rounds 5 --out /tmp/cmp --cases fanin,p2p,idle
#   bench/compare.sh --cases acl     # fan-in under an ACL that allows all, and one whose deny rule overlaps the filter
#   bench/compare.sh --cases connauth --auth-iterations 1000,4000   # a fleet's first logins against a password file
#   bench/compare.sh --cases persist # QoS 1 and 2 with persistent sessions: ours' persistence off/periodic/sync, mosquitto's on
#
# Prints a table of medians and ratios (ours / mosquitto) and writes it to OUT/summary.md, with every bench report
# in OUT/results.jsonl and the brokers' logs in OUT/logs/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

quick=0
rounds=""
out=""
cases="fanin,search,p2p,conn,idle,acl,connauth,fanout,large,idleclients,tls,ws,persist"
pacing=uncoordinated
auth_iterations=""
build=1
port_ours=${PORT_OURS:-18830}
port_mosquitto=${PORT_MOSQUITTO:-18831}
port_mqttnet=${PORT_MQTTNET:-18832}
port_aedes=${PORT_AEDES:-18833}
port_rabbitmq=${PORT_RABBITMQ:-18834}   # and the next three: AMQP, Erlang distribution, its own epmd
after_stop=""                           # what stop_broker runs after the broker has gone
# The tls and ws cases: each broker's TLS and WebSocket listeners, on ports of their own.
port_ours_tls=${PORT_OURS_TLS:-18840}; port_ours_ws=${PORT_OURS_WS:-18841}
port_mosquitto_tls=${PORT_MOSQUITTO_TLS:-18842}; port_mosquitto_ws=${PORT_MOSQUITTO_WS:-18843}
transport=tcp                           # what the current case runs over
peers=""

usage() {
    sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
    cat <<'EOF'
Options:
  --quick          1 round, short windows, small counts (< 3 min; idle case with 20000, not 100000, subscriptions)
  --rounds R       rounds per case, brokers alternating A B A B (default 3; 1 with --quick)
  --cases LIST     comma-separated subset of: fanin, search, p2p, conn, idle, acl, connauth, fanout, large,
                   idleclients, tls, ws, persist (default: all)
  --auth-iterations LIST  connauth: PBKDF2 iteration counts to hash the fleet's passwords with (default: ours,
                   password_hash_iterations from `broker conf-defaults`)
  --out DIR        where results go (default: a new temp directory)
  --no-build       use the existing Release builds
  --peers LIST     also measure these peers (comma-separated): mqttnet (MQTTnet.Server 5.2.0.1603, the C# peer,
                   bench/peers/mqttnet), aedes (npm aedes 1.2.0, bench/peers/aedes; MQTT 3.1.1 only), rabbitmq
                   (Debian rabbitmq-server 3.10.8 with rabbitmq_mqtt; 3.1.1 only, QoS 2 refused); mosquitto stays
                   the reference of every ratio
  --pacing MODE    fixed-rate cases: uncoordinated (default: each publisher alone at its own scheduled times) or
                   ticked (every due publisher woken by one 1 ms tick); bench/README.md shows both
Environment: OURS_DLL (ours' broker.dll; default: this tree's Release build), PORT_OURS (18830), PORT_MOSQUITTO (18831), PORT_MQTTNET (18832), PORT_AEDES (18833),
             PORT_RABBITMQ (18834, and the three after it), PORT_OURS_TLS/_WS (18840/1),
             PORT_MOSQUITTO_TLS/_WS (18842/3), CONN_COUNT (the conn case's connections; default 19000, --quick 2000),
             FANIN_RATE (the fanin case's msg/s; default 5000).
EOF
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) quick=1 ;;
        --rounds) rounds="$2"; shift ;;
        --cases) cases="$2"; shift ;;
        --auth-iterations) auth_iterations="$2"; shift ;;
        --out) out="$2"; shift ;;
        --no-build) build=0 ;;
        --pacing) pacing="$2"; shift ;;
        --peers) peers="$2"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

for peer in ${peers//,/ }; do
    [[ $peer == mqttnet || $peer == aedes || $peer == rabbitmq ]] \
        || { echo "compare.sh: unknown peer $peer (mqttnet, aedes, rabbitmq)" >&2; exit 2; }
done
[[ $pacing == uncoordinated || $pacing == ticked ]] || { echo "compare.sh: --pacing must be uncoordinated or ticked, not $pacing" >&2; exit 2; }

if [[ $quick == 1 ]]; then
    rounds=${rounds:-1}
    duration=3s; warmup=1s; rate_warmup=1s
    fanin_qos=(1)
    search_steps=(5000 20000 80000)
    search_duration=2s
    p2p_pairs=20
    conn_count=2000; conn_rate=2000; conn_hold=2s
    auth_count=2000
    idle_subscriptions=20000
    fanout_wide=(1000); idle_clients=(0 1000); large_pairs=2; tls_count=500; tls_rate=500
else
    rounds=${rounds:-3}
    duration=8s; warmup=2s
    # A fresh .NET process is still recompiling methods at the optimizing tier for its first ~8 s (the tiered-compilation
    # thread's CPU, bench/README.md); the fixed-rate cases measure the steady state, so they warm up past it.
    rate_warmup=10s
    fanin_qos=(0 1 2)
    search_steps=(5000 10000 20000 40000 80000 160000)
    search_duration=3s
    p2p_pairs=100
    conn_count=19000; conn_rate=6000; conn_hold=10s  # offered above the 5k/s target, so reaching it shows; issue 19's count
    auth_count=10000    # distinct users, each hashed once: a fleet's first logins after a restart
    idle_subscriptions=100000
    fanout_wide=(1000 10000); idle_clients=(0 1000 10000); large_pairs=10; tls_count=5000; tls_rate=3000
fi
conn_count=${CONN_COUNT:-$conn_count}
conn_ifaddr=127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9
fanin_publishers=100
fanin_rate=${FANIN_RATE:-5000}   # issue 19's targets: 5000 and 20000
idle_rate=30000     # mosquitto's highest no-loss fan-in rate here is 40k; 100k idle subscriptions included, it holds 30k
fanout_subscribers=100
fanout_deliveries=50000  # per second in the fanout case, whatever the number of subscribers
large_size=262144        # the large case's payload: 256 KB

out=${out:-$(mktemp -d /tmp/broker-compare-XXXXXX)}
mkdir -p "$out/logs"
results="$out/results.jsonl"
: > "$results"
work=$(mktemp -d /tmp/broker-compare-run-XXXXXX)
broker_pid=""

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

cleanup() {
    stop_broker
    rm -rf "$work"
}
trap cleanup EXIT

# --- prerequisites --------------------------------------------------------------------------------------------

as_root() { if [[ $(id -u) == 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }

if [[ ! -x /usr/sbin/mosquitto ]]; then
    log "installing mosquitto (Debian package; only the binary is used, never the system service)"
    { as_root apt-get install -y mosquitto || { as_root apt-get update -qq && as_root apt-get install -y mosquitto; }; } >&2 || { echo "compare.sh: mosquitto missing and cannot be installed" >&2; exit 1; }
    # The package may start its service on 1883; it is not ours to stop, and we never use that port.
fi
for tool in python3; do
    command -v "$tool" >/dev/null || { echo "compare.sh: needs $tool" >&2; exit 1; }
done

# Both brokers and the generator each need one descriptor per connection (conn holds $conn_count), each in its own
# process. Ours accepts at most its limit minus what it has open (about 200) minus listener.fd_reserve (default a
# tenth of the limit: issue 17, kept for files, plugins and backends); the conn case sets that reserve to
# $conn_fd_reserve (bench/README.md, "File descriptors"), so 19000 connections fit under a limit of 20000.
conn_fd_reserve=500
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) - 1000 < conn_count )); then
    conn_count=$(( $(ulimit -n) - 1000 ))
    log "ulimit -n is $(ulimit -n): conn case lowered to $conn_count connections"
fi
(( auth_count <= conn_count )) || auth_count=$conn_count

if [[ $build == 1 ]]; then
    log "building broker and bench (Release)"
    dotnet build "$root/src/Broker.Server" -c Release -nologo -v:quiet >&2
    dotnet build "$root/src/Broker.Bench" -c Release -nologo -v:quiet >&2
fi
# OURS_DLL: another build of ours (e.g. a worktree of the commit before a change), for before/after runs.
broker_dll=${OURS_DLL:-"$root/src/Broker.Server/bin/Release/net10.0/broker.dll"}
mqttnet_dll="$root/bench/peers/mqttnet/bin/Release/net10.0/mqttnet-peer.dll"
if [[ ",$peers," == *",mqttnet,"* ]] && [[ $build == 1 || ! -f $mqttnet_dll ]]; then
    log "building the MQTTnet peer (Release)"
    dotnet build "$root/bench/peers/mqttnet" -c Release -nologo -v:quiet >&2
fi
if [[ ",$peers," == *",rabbitmq,"* && ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ]]; then
    log "installing rabbitmq-server (Debian package; only its scripts are used, never the system service)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends rabbitmq-server >&2 \
        || { echo "compare.sh: rabbitmq-server missing and cannot be installed" >&2; exit 1; }
fi
if [[ ",$peers," == *",aedes,"* && ! -d $root/bench/peers/aedes/node_modules/aedes ]]; then
    command -v npm >/dev/null || { echo "compare.sh: the aedes peer needs npm (Debian: nodejs npm)" >&2; exit 1; }
    log "installing the aedes peer (npm)"
    (cd "$root/bench/peers/aedes" && npm ci --no-audit --no-fund --loglevel=error) >&2
fi
bench_dll="$root/src/Broker.Bench/bin/Release/net10.0/bench.dll"
if [[ -z "$auth_iterations" ]]; then
    auth_iterations=$(dotnet "$broker_dll" conf-defaults | sed -n 's/^password_hash_iterations = //p')
fi

# Both brokers' TLS listeners: one self-signed ECDSA P-256 certificate for localhost (bench does not check it).
mkdir -p "$work/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -subj /CN=localhost \
    -keyout "$work/tls/server.key" -out "$work/tls/server.crt" 2>/dev/null \
    || { echo "compare.sh: openssl could not make the TLS certificate" >&2; exit 1; }
chmod 644 "$work/tls/server.key"

# --- brokers --------------------------------------------------------------------------------------------------

# The acl case's rules, the same for both brokers: "allow" allows everything; "deny" first denies one topic that the
# fan-in subscriber's filter bench/<run>/fanin/+ overlaps but no publisher uses, so every message is delivered and each
# delivery is checked against the rules (ours: a subscription granted in part; mosquitto checks every delivery).
# Empty: the checkout's acl.conf for ours, no acl_file for mosquitto.
acl_mode=""
acl_deny_topic="bench/+/fanin/denied"

# The connauth case's password files (bench/make_passwd.py), one per broker; empty: anonymous access.
auth_ours=""
auth_mosquitto=""

# The persist case: ours' `persistence` setting (off, periodic or sync; empty: broker.conf's default) and whether
# mosquitto persists (`persistence true` in its run directory, autosave_interval at its default).
persist_mode=""
# Ours' listener.fd_reserve (empty: broker.conf's default), set by the conn case only.
fd_reserve=""

# Our broker: a fresh home with the checkout's etc/ and data/loaded_plugins (the default plugins), anonymous access
# on, management API on a free loopback port. Everything else is broker.conf's default.
start_ours() {
    local home="$work/ours-$1"
    rm -rf "$home"; mkdir -p "$home/data"
    cp -r "$root/etc" "$home/"
    cp "$root/data/loaded_plugins" "$home/data/"
    case "$acl_mode" in
        allow) printf '{allow, all}.\n' > "$home/etc/acl.conf" ;;
        deny) printf '{deny, all, subscribe, ["%s"]}.\n{allow, all}.\n' "$acl_deny_topic" > "$home/etc/acl.conf" ;;
    esac
    local anonymous=true
    if [[ -n "$auth_ours" ]]; then cp "$auth_ours" "$home/etc/passwd"; anonymous=false; fi
    local persistence=()
    if [[ -n "$fd_reserve" ]]; then persistence+=("BROKER_LISTENER__FD_RESERVE=$fd_reserve"); fi
    case "$persist_mode" in
        off) persistence=(BROKER_PERSISTENCE=off) ;;
        periodic|sync) persistence=(BROKER_PERSISTENCE=on "BROKER_PERSISTENCE__SYNC=$persist_mode") ;;
    esac
    BROKER_LISTENER__SSL__EXTERNAL="127.0.0.1:$port_ours_tls" \
    BROKER_LISTENER__SSL__EXTERNAL__CERTFILE="$work/tls/server.crt" BROKER_LISTENER__SSL__EXTERNAL__KEYFILE="$work/tls/server.key" \
    BROKER_LISTENER__WS__EXTERNAL="127.0.0.1:$port_ours_ws" BROKER_LISTENER__WSS__EXTERNAL=off \
    BROKER_ALLOW_ANONYMOUS=$anonymous \
    BROKER_LISTENER__TCP__EXTERNAL="127.0.0.1:$port_ours" \
    BROKER_MANAGEMENT__LISTENER=127.0.0.1:0 \
        env "${persistence[@]}" dotnet "$broker_dll" --home "$home" > "$out/logs/ours-$1.log" 2>&1 &
    broker_pid=$!
    wait_for_log "$out/logs/ours-$1.log" "Listener tcp:external started" "our broker"
}

# mosquitto: a temp config; see bench/README.md for each setting.
start_mosquitto() {
    local dir="$work/mosquitto-$1"
    rm -rf "$dir"; mkdir -p "$dir"
    {
        echo "listener $port_mosquitto 127.0.0.1"
        if [[ -n "$auth_mosquitto" ]]; then
            echo "allow_anonymous false"
            echo "password_file $auth_mosquitto"
        else
            echo "allow_anonymous true"
        fi
        if [[ -n "$persist_mode" ]]; then
            echo "persistence true"
            echo "persistence_location $dir/"
        else
            echo "persistence false"
        fi
        echo "max_inflight_messages 32"      # = our session.max_inflight
        echo "max_queued_messages 1000"      # = our session.max_mqueue_len (mosquitto's default too)
        echo "set_tcp_nodelay true"          # Kestrel's default; mosquitto's is Nagle on
        echo "log_dest stderr"
        [[ $(id -u) == 0 ]] && echo "user root"
        if [[ -n "$acl_mode" ]]; then echo "acl_file $dir/acl"; fi
        # The tls and ws cases' listeners (the settings above are global: per_listener_settings is false).
        echo "listener $port_mosquitto_tls 127.0.0.1"
        echo "certfile $work/tls/server.crt"
        echo "keyfile $work/tls/server.key"
        echo "listener $port_mosquitto_ws 127.0.0.1"
        echo "protocol websockets"
    } > "$dir/mosquitto.conf"
    case "$acl_mode" in
        allow) printf 'topic readwrite #\n' > "$dir/acl" ;;
        deny) printf 'topic deny %s\ntopic readwrite #\n' "$acl_deny_topic" > "$dir/acl" ;;
    esac
    /usr/sbin/mosquitto -c "$dir/mosquitto.conf" > "$out/logs/mosquitto-$1.log" 2>&1 &
    broker_pid=$!
    wait_for_log "$out/logs/mosquitto-$1.log" " running" "mosquitto"
}

# The peers, with what an application embedding them would set; see bench/peers/.
start_mqttnet() {
    dotnet "$mqttnet_dll" --port "$port_mqttnet" > "$out/logs/mqttnet-$1.log" 2>&1 &
    broker_pid=$!
    wait_for_log "$out/logs/mqttnet-$1.log" "MQTTnet server running" "the MQTTnet peer"
}

start_aedes() {
    node "$root/bench/peers/aedes/server.js" "$port_aedes" > "$out/logs/aedes-$1.log" 2>&1 &
    broker_pid=$!
    wait_for_log "$out/logs/aedes-$1.log" "aedes running" "the aedes peer"
}

# RabbitMQ: a private node (own name, data, ports and epmd) with only rabbitmq_mqtt, anonymous MQTT as guest on
# loopback. The script's child, beam.smp, is the process measured; the node's epmd is stopped after it.
start_rabbitmq() {
    local dir="$work/rabbitmq-$1"
    rm -rf "$dir"; mkdir -p "$dir"
    printf 'listeners.tcp.default = 127.0.0.1:%d\nmqtt.listeners.tcp.default = 127.0.0.1:%d\nmqtt.allow_anonymous = true\n' \
        $(( port_rabbitmq + 1 )) "$port_rabbitmq" > "$dir/rabbitmq.conf"
    echo '[rabbitmq_mqtt].' > "$dir/enabled_plugins"
    local epmd_port=$(( port_rabbitmq + 3 ))
    HOME="$dir" RABBITMQ_NODENAME=bench@localhost RABBITMQ_DIST_PORT=$(( port_rabbitmq + 2 )) ERL_EPMD_PORT=$epmd_port \
    RABBITMQ_MNESIA_BASE="$dir/mnesia" RABBITMQ_LOG_BASE="$dir/log" RABBITMQ_LOGS=- \
    RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
        /usr/lib/rabbitmq/bin/rabbitmq-server > "$out/logs/rabbitmq-$1.log" 2>&1 &
    broker_pid=$!
    after_stop="env ERL_EPMD_PORT=$epmd_port epmd -kill"
    wait_for_log "$out/logs/rabbitmq-$1.log" "started MQTT TCP listener" "the rabbitmq peer"
    local beam
    beam=$(pgrep -P "$broker_pid" beam.smp) && broker_pid=$beam
}

wait_for_log() {
    local file="$1" text="$2" what="$3"
    for _ in $(seq 600); do
        grep -q "$text" "$file" 2>/dev/null && return 0
        kill -0 "$broker_pid" 2>/dev/null || { echo "compare.sh: $what exited:" >&2; tail -20 "$file" >&2; exit 1; }
        sleep 0.1
    done
    echo "compare.sh: $what did not start within 60 s" >&2; tail -20 "$file" >&2; exit 1
}

stop_broker() {
    [[ -n "$broker_pid" ]] || return 0
    kill -TERM "$broker_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
    broker_pid=""
    if [[ -n "$after_stop" ]]; then $after_stop >/dev/null 2>&1 || true; after_stop=""; fi
}

# One broker at a time, restarted for every run, so no run inherits another's state or competes with an idle peer.
start_broker() { "start_$1" "$2"; }
port_of() { local port="port_$1"; [[ $transport == tcp ]] || port="port_$1_$transport"; echo "${!port}"; }

# run_bench CASE BROKER ROUND bench-args... : one bench run against a freshly started broker; appends
# {"case","broker","round","report"} to results.jsonl and echoes the report.
run_bench() {
    local name="$1" broker="$2" round="$3"; shift 3
    start_broker "$broker" "$name-r$round"
    local report rc=0
    echo "=== $name $broker round $round: bench $*" >> "$out/logs/bench.log"
    local extra=()
    [[ " $* " == *" --rate "* ]] && extra=(--pacing "$pacing")
    [[ $transport != tcp ]] && extra+=(--transport "$transport")
    report=$(dotnet "$bench_dll" "$@" "${extra[@]}" --host 127.0.0.1 --port "$(port_of "$broker")" --broker-pid "$broker_pid" \
        --json --label "$broker" 2>>"$out/logs/bench.log") || rc=$?
    if [[ $rc != 0 || -z "$report" ]]; then
        stop_broker
        log "bench failed (exit $rc): $name $broker (see logs/bench.log)"
        return 0
    fi
    stop_broker
    printf '{"case":"%s","broker":"%s","round":%d,"report":%s}\n' "$name" "$broker" "$round" "$report" >> "$results"
    echo "$report"
}

field() { python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r.get(sys.argv[2], 0))' "$1" "$2"; }

# --- cases ----------------------------------------------------------------------------------------------------

brokers=(ours mosquitto ${peers//,/ })
has_case() { [[ ",$cases," == *",$1,"* ]]; }

for round in $(seq "$rounds"); do
    if has_case fanin; then
        for qos in "${fanin_qos[@]}"; do
            for broker in "${brokers[@]}"; do
                log "round $round: fanin $fanin_publishers→1 at $fanin_rate msg/s QoS $qos, $broker"
                run_bench "fanin-${fanin_rate}-q$qos" "$broker" "$round" fanin --publishers "$fanin_publishers" \
                    --qos "$qos" --rate "$fanin_rate" --duration "$duration" --warmup "$rate_warmup" >/dev/null
            done
        done
    fi

    if has_case search; then
        # Highest no-loss rate: double the offered rate until a step loses messages or delivers < 90 % of what it
        # should (a plateau); the last clean step is the result. QoS 0, so loss is the broker's own drop policy.
        for scenario in fanin fanout; do
            for broker in "${brokers[@]}"; do
                best=0
                for rate in "${search_steps[@]}"; do
                    if [[ $scenario == fanin ]]; then
                        args=(fanin --publishers "$fanin_publishers"); per_message=1
                    else
                        args=(fanout --subscribers "$fanout_subscribers"); per_message=$fanout_subscribers
                        rate=$(( rate / fanout_subscribers > 0 ? rate / fanout_subscribers : 1 ))
                    fi
                    log "round $round: search $scenario at $(( rate * per_message )) deliveries/s ($rate msg/s published), $broker"
                    report=$(run_bench "search-$scenario-step" "$broker" "$round" "${args[@]}" --qos 0 --rate "$rate" \
                        --duration "$search_duration" --warmup 1s)
                    [[ -n "$report" ]] || break
                    lost=$(field "$report" lost)
                    delivered=$(field "$report" receive_rate)
                    if [[ $lost != 0 ]] || python3 -c "import sys; sys.exit(0 if float('$delivered') < 0.9 * $rate * $per_message else 1)"; then
                        break
                    fi
                    best=$(( rate * per_message ))
                done
                printf '{"case":"search-%s","broker":"%s","round":%d,"report":{"max_clean_delivery_rate":%d}}\n' \
                    "$scenario" "$broker" "$round" "$best" >> "$results"
            done
        done
    fi

    if has_case p2p; then
        for broker in "${brokers[@]}"; do
            log "round $round: p2p $p2p_pairs pairs QoS 1 as fast as possible, $broker"
            run_bench "p2p-$p2p_pairs-q1-max" "$broker" "$round" p2p --pairs "$p2p_pairs" --qos 1 \
                --duration "$duration" --warmup "$warmup" >/dev/null
        done
    fi

    if has_case conn; then
        fd_reserve=$conn_fd_reserve
        for broker in "${brokers[@]}"; do
            log "round $round: conn $conn_count idle connections at $conn_rate/s, $broker"
            # From 8 loopback source addresses: from one, the kernel's search for a free ephemeral port (crowded by
            # this case's earlier rounds in TIME_WAIT) cost the generator about 600 µs of system CPU per connect
            # and held both brokers near 2k connects/s (bench/README.md).
            run_bench "conn-$conn_count" "$broker" "$round" conn --connections "$conn_count" --conn-rate "$conn_rate" \
                --ifaddr "$conn_ifaddr" --duration "$conn_hold" --keepalive 300 >/dev/null
        done
        fd_reserve=""
    fi

    if has_case idle; then
        # Fan-in with and without a large table of subscriptions nobody publishes to: QoS 0 at a fixed high rate both
        # brokers sustain, the same publishers and window; only --idle-subscriptions differs. The idle filters are
        # held by 100 extra connections, subscribed before the traffic starts (issue 5: 100k of them cost < 10 %).
        # Not "as fast as possible": QoS 0 has no flow control, so the first second fills the sockets with millions
        # of messages and a short window measures how that backlog drains, not the broker.
        for idle in 0 "$idle_subscriptions"; do
            for broker in "${brokers[@]}"; do
                log "round $round: idle: fanin $fanin_publishers→1 QoS 0 at $idle_rate msg/s with $idle idle subscriptions, $broker"
                run_bench "idle-fanin-$idle" "$broker" "$round" fanin --publishers "$fanin_publishers" --qos 0 \
                    --rate "$idle_rate" --idle-subscriptions "$idle" --duration "$duration" --warmup "$rate_warmup" >/dev/null
            done
        done
    fi

    if has_case acl; then
        # Issue 16: a deny rule that overlaps the subscriber's wildcard must cost little, and allow-all nothing.
        for acl_mode in allow deny; do
            for broker in ours mosquitto; do  # the peers are not given these rules
                log "round $round: acl $acl_mode: fanin $fanin_publishers→1 at $fanin_rate msg/s QoS 1, $broker"
                run_bench "fanin-acl-$acl_mode-${fanin_rate}-q1" "$broker" "$round" fanin --publishers "$fanin_publishers" \
                    --qos 1 --rate "$fanin_rate" --duration "$duration" --warmup "$rate_warmup" >/dev/null
            done
        done
        acl_mode=""
    fi

    if has_case fanout; then
        # Issue 19: one publisher to 1,000 and 10,000 subscribers of its topic, QoS 0, the same deliveries per second.
        for subscribers in "${fanout_wide[@]}"; do
            rate=$(( fanout_deliveries / subscribers > 0 ? fanout_deliveries / subscribers : 1 ))
            for broker in "${brokers[@]}"; do
                log "round $round: fanout 1→$subscribers at $rate msg/s ($(( rate * subscribers )) deliveries/s) QoS 0, $broker"
                run_bench "fanout-$subscribers" "$broker" "$round" fanout --subscribers "$subscribers" --qos 0 \
                    --rate "$rate" --duration "$duration" --warmup "$rate_warmup" >/dev/null
            done
        done
    fi

    if has_case large; then
        # Issue 19: 256 KB payloads, QoS 1 pairs as fast as possible.
        for broker in "${brokers[@]}"; do
            log "round $round: large: p2p $large_pairs pairs of ${large_size}-byte messages QoS 1 as fast as possible, $broker"
            run_bench "large-$large_pairs-q1-max" "$broker" "$round" p2p --pairs "$large_pairs" --qos 1 --size "$large_size" \
                --inflight 8 --duration "$duration" --warmup "$warmup" >/dev/null
        done
    fi

    if has_case idleclients; then
        # Issue 19: one QoS 1 pair as fast as possible beside 0 / 1,000 / 10,000 idle clients, each connected and
        # subscribed to a topic nobody publishes to (MQTTnet's cost grows with every connected client).
        for idle in "${idle_clients[@]}"; do
            idle_args=()
            (( idle > 0 )) && idle_args=(--idle-subscriptions "$idle" --idle-connections "$idle")
            for broker in "${brokers[@]}"; do
                log "round $round: idleclients: p2p 1 pair QoS 1 as fast as possible beside $idle idle clients, $broker"
                run_bench "idleclients-$idle" "$broker" "$round" p2p --pairs 1 --qos 1 "${idle_args[@]}" \
                    --duration "$duration" --warmup "$warmup" >/dev/null
            done
        done
    fi

    if has_case tls; then
        # Issue 19: MQTT over TLS. Fan-in QoS 1 at the fixed rate, and connects per second with a full handshake each
        # (no session resumption), from ours and mosquitto only (the peers get no TLS listener).
        transport=tls
        for broker in ours mosquitto; do
            log "round $round: tls: fanin $fanin_publishers→1 at $fanin_rate msg/s QoS 1 over TLS, $broker"
            run_bench "fanin-tls-${fanin_rate}-q1" "$broker" "$round" fanin --publishers "$fanin_publishers" \
                --qos 1 --rate "$fanin_rate" --duration "$duration" --warmup "$rate_warmup" >/dev/null
        done
        for broker in ours mosquitto; do
            log "round $round: tls: conn $tls_count connections at $tls_rate/s, a full TLS handshake each, $broker"
            run_bench "conntls-$tls_count" "$broker" "$round" conn --connections "$tls_count" --conn-rate "$tls_rate" \
                --ifaddr "$conn_ifaddr" --duration "$conn_hold" --keepalive 300 >/dev/null
        done
        transport=tcp
    fi

    if has_case ws; then
        # Issue 19: MQTT over WebSocket (path /mqtt; mosquitto serves any path), fan-in QoS 1 at the fixed rate.
        transport=ws
        for broker in ours mosquitto; do
            log "round $round: ws: fanin $fanin_publishers→1 at $fanin_rate msg/s QoS 1 over WebSocket, $broker"
            run_bench "fanin-ws-${fanin_rate}-q1" "$broker" "$round" fanin --publishers "$fanin_publishers" \
                --qos 1 --rate "$fanin_rate" --duration "$duration" --warmup "$rate_warmup" >/dev/null
        done
        transport=tcp
    fi

    if has_case persist; then
        # Issue 23: QoS 1 (and p2p QoS 2) as fast as possible, every client with a persistent session, so each message to a
        # subscriber is written to the store (ours: persistence off, periodic and sync; mosquitto: persistence true,
        # which snapshots to disk every autosave_interval, 30 min by default, and at a clean stop).
        for persist_mode in off periodic sync; do
            for broker in ours mosquitto; do  # the peers do not persist
                log "round $round: persist $persist_mode: fanin $fanin_publishers→1 QoS 1 as fast as possible, persistent sessions, $broker"
                run_bench "persist-$persist_mode-fanin-q1-max" "$broker" "$round" fanin --publishers "$fanin_publishers" \
                    --qos 1 --persistent-sessions --duration "$duration" --warmup "$warmup" >/dev/null
                log "round $round: persist $persist_mode: p2p $p2p_pairs pairs QoS 1 as fast as possible, persistent sessions, $broker"
                run_bench "persist-$persist_mode-p2p-$p2p_pairs-q1-max" "$broker" "$round" p2p --pairs "$p2p_pairs" \
                    --qos 1 --persistent-sessions --duration "$duration" --warmup "$warmup" >/dev/null
                # QoS 2: with sync a PUBREC and a PUBCOMP each wait for a group commit (the PUBREL's release).
                log "round $round: persist $persist_mode: p2p $p2p_pairs pairs QoS 2 as fast as possible, persistent sessions, $broker"
                run_bench "persist-$persist_mode-p2p-$p2p_pairs-q2-max" "$broker" "$round" p2p --pairs "$p2p_pairs" \
                    --qos 2 --persistent-sessions --duration "$duration" --warmup "$warmup" >/dev/null
            done
        done
        persist_mode=""
    fi

    if has_case connauth; then
        # Issue 17 item 4: a fleet's reconnect storm after a restart (no login remembered yet) against a password file
        # of $auth_count users, each connection a distinct user: every CONNECT costs one PBKDF2-SHA512 hash.
        for iterations in ${auth_iterations//,/ }; do
            auth_ours="$work/passwd-ours-$iterations"; auth_mosquitto="$work/passwd-mosquitto-$iterations"
            [[ -f "$auth_ours" ]] || python3 "$root/bench/make_passwd.py" "$auth_count" "$iterations" "$auth_ours" "$auth_mosquitto"
            for broker in ours mosquitto; do  # the peers are not given password files
                log "round $round: connauth $auth_count users' first logins at $conn_rate/s, $iterations iterations, $broker"
                run_bench "connauth-$auth_count-i$iterations" "$broker" "$round" conn --connections "$auth_count" \
                    --conn-rate "$conn_rate" --ifaddr "$conn_ifaddr" --duration "$conn_hold" --keepalive 300 \
                    --username 'dev{n}' --password 'pw{n}' >/dev/null
            done
        done
        auth_ours=""; auth_mosquitto=""
    fi
done

python3 "$root/bench/summarize.py" "$results" | tee "$out/summary.md"
log "results: $out (results.jsonl, summary.md, logs/)"

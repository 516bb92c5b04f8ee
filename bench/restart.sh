#!/usr/bin/env bash
# Issue 23: how long a broker with persistence takes to serve again after a restart holding many persisted sessions
# and queued messages. Fills a fresh broker with SESSIONS persistent sessions (bench conn --persistent-sessions
# --subscribe, in batches under the file-descriptor limit), queues MESSAGES QoS 1 messages for each (mosquitto_pub to
# the filter they share), waits for the store to have it all, stops the broker (SIGTERM), starts it again and reports:
# the store's size, the stop time, the time from start to the MQTT listener accepting, RSS before and after, and
# checks that one session gets all its messages back.
#
#   bench/restart.sh                         # 100000 sessions x 10 messages = 1M queued messages, periodic
#   bench/restart.sh --sessions 20000 --messages 5 --sync sync
#   bench/restart.sh --broker mosquitto      # the same with mosquitto 2 and `persistence true`
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
sessions=100000
messages=10
sync=periodic
broker=ours
port=${PORT_RESTART:-18850}
while [[ $# -gt 0 ]]; do
    case "$1" in
        --sessions) sessions="$2"; shift ;;
        --messages) messages="$2"; shift ;;
        --sync) sync="$2"; shift ;;
        --broker) broker="$2"; shift ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "restart.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
[[ $broker == ours || $broker == mosquitto ]] || { echo "restart.sh: --broker ours or mosquitto" >&2; exit 2; }

log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
command -v mosquitto_pub >/dev/null && [[ -x /usr/sbin/mosquitto ]] \
    || { apt-get install -y -qq mosquitto mosquitto-clients >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq mosquitto mosquitto-clients; } >&2; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
dotnet build "$root/src/Broker.Server" -c Release -nologo -v:quiet >&2
dotnet build "$root/src/Broker.Bench" -c Release -nologo -v:quiet >&2
bench="$root/src/Broker.Bench/bin/Release/net10.0/bench.dll"
work=$(mktemp -d /tmp/broker-restart-XXXXXX)
pid=""
cleanup() { [[ -n "$pid" ]] && kill -KILL "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

start() {  # start LOGFILE: starts the broker; sets pid, and serve_seconds: seconds until its MQTT listener accepts
    local logfile="$1" started
    started=$(date +%s.%N)
    if [[ $broker == ours ]]; then
        BROKER_ALLOW_ANONYMOUS=true BROKER_LISTENER__TCP__EXTERNAL="127.0.0.1:$port" BROKER_LISTENER__SSL__EXTERNAL=off \
        BROKER_LISTENER__WS__EXTERNAL=off BROKER_LISTENER__WSS__EXTERNAL=off BROKER_PERSISTENCE=on BROKER_MANAGEMENT__LISTENER="127.0.0.1:$((port + 1))" \
        BROKER_PERSISTENCE__SYNC="$sync" BROKER_SESSION__MAX_MQUEUE_LEN=$((messages + 10)) \
            dotnet "$root/src/Broker.Server/bin/Release/net10.0/broker.dll" --home "$work/home" > "$logfile" 2>&1 &
    else
        /usr/sbin/mosquitto -c "$work/mosquitto.conf" > "$logfile" 2>&1 &
    fi
    pid=$!
    until mosquitto_pub -h 127.0.0.1 -p "$port" -t restart/probe -m x -q 0 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { echo "restart.sh: the broker exited:" >&2; tail -20 "$logfile" >&2; exit 1; }
        sleep 0.05
    done
    serve_seconds=$(printf "%.2f" "$(echo "$(date +%s.%N) - $started" | bc)")
}
rss_mb() { echo $(( $(awk '/VmRSS/ {print $2}' "/proc/$pid/status") / 1024 )); }
store_mb() { du -sm "$1" | cut -f1; }

mkdir -p "$work/home/data" "$work/mosquitto"
cp -r "$root/etc" "$work/home/"
cp "$root/data/loaded_plugins" "$work/home/data/"
cat > "$work/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
persistence true
persistence_location $work/mosquitto/
max_queued_messages $((messages + 10))
user root
EOF
store_dir=$([[ $broker == ours ]] && echo "$work/home/data/persistence" || echo "$work/mosquitto")

log "$broker: starting empty ($sync)"
start "$work/first.log"
batch=15000   # under the 20000 descriptors a process may hold, ours keeping some for itself
done_sessions=0
while (( done_sessions < sessions )); do
    n=$(( sessions - done_sessions < batch ? sessions - done_sessions : batch ))
    log "$n persistent sessions subscribing to restart/all ($done_sessions done)"
    dotnet "$bench" conn --host 127.0.0.1 --port "$port" --connections "$n" --conn-rate 5000 --duration 1s \
        --ifaddr 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5,127.0.0.6,127.0.0.7,127.0.0.8,127.0.0.9 \
        --persistent-sessions --subscribe restart/all --quiet > /dev/null
    done_sessions=$(( done_sessions + n ))
done
# One more, whose client id we know, to check after the restart.
mosquitto_sub -h 127.0.0.1 -p "$port" -c -i restart-probe -q 1 -t restart/all -E
log "queueing $messages QoS 1 messages for each of $((sessions + 1)) sessions"
queued_at=$(date +%s.%N)
for i in $(seq "$messages"); do echo "message-$i"; done | mosquitto_pub -h 127.0.0.1 -p "$port" -q 1 -t restart/all -l
if [[ $broker == ours ]]; then
    pending() {
        curl -sf -u "admin:$(cat "$work/home/data/management.secret")" "http://127.0.0.1:$((port + 1))/api/v4/stats" \
            | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"][0]["stats"]["persistence.pending"])'
    }
    for _ in $(seq 600); do [[ $(pending) == 0 ]] && break; sleep 0.5; done
fi
queue_seconds=$(printf "%.2f" "$(echo "$(date +%s.%N) - $queued_at" | bc)")
rss_before=$(rss_mb)
log "stopping (SIGTERM)"
stop_started=$(date +%s.%N)
kill -TERM "$pid"; wait "$pid" || true; pid=""
stop_seconds=$(printf "%.2f" "$(echo "$(date +%s.%N) - $stop_started" | bc)")
size=$(store_mb "$store_dir")
log "restarting"
start "$work/second.log"
rss_after=$(rss_mb)
got=$(timeout 60 mosquitto_sub -h 127.0.0.1 -p "$port" -c -i restart-probe -q 1 -t restart/all -C "$messages" -W 50 | wc -l)
kill -TERM "$pid"; wait "$pid" || true; pid=""
restored=$(grep -o '[0-9]* session(s) restored' "$work/second.log" || echo "n/a")
cat <<EOF
| broker | sessions | queued messages | queue + write s | store MB | stop s | start to serving s | RSS before / after MB | restored | probe got |
|---|---:|---:|---:|---:|---:|---:|---:|---|---:|
| $broker$([[ $broker == ours ]] && echo " ($sync)") | $((sessions + 1)) | $(( (sessions + 1) * messages )) | $queue_seconds | $size | $stop_seconds | $serve_seconds | $rss_before / $rss_after | $restored | $got of $messages |
EOF

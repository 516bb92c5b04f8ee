#!/usr/bin/env bash
# The auth plugins under load (issue 20): a fleet's logins and fan-in under an ACL, our broker only, against private
# redis-server, PostgreSQL 15 and slapd instances this script starts and stops. Same machine, same run, same generator
# (src/Broker.Bench), so the numbers are ratios between the sources, not absolute times.
#
#   bench/auth.sh                        # 3 rounds, 10,000 users (about 6 min)
#   bench/auth.sh --rounds 1 --users 2000 --out /tmp/auth
#   bench/auth.sh --cases "connauth-http connauth-jwt"   # only these cases
#
# Cases, each round:
#   connauth-passwd   10,000 first logins (dev<n>/pw<n>) against etc/passwd (PBKDF2-SHA512, password_hash_iterations)
#   connauth-redis    the same users in Redis (HMGET mqtt_user:%u password, password_hash = sha256), auth_redis
#   connauth-pgsql    the same users in PostgreSQL (EMQX's mqtt_user table, sha256), auth_pgsql
#   connauth-jwt      the same connects, each with an HS256 token (PyJWT) as its password, auth_jwt
#   connauth-http     the same users asked of an HTTP service (tests/AuthHttpService, ASP.NET Core on Kestrel):
#                     auth_req then super_req per login, EMQX 4's defaults (form POST, keep-alive pool of 32), auth_http
#   connauth-ldap     the same users as mqttUser entries in slapd (userPassword {SSHA}), auth_ldap
#   fanin-aclconf     fan-in at a fixed rate, every client dev0, allowed by an acl.conf rule (acl_nomatch = deny)
#   fanin-redisacl    the same, allowed by an ACL row in Redis (HGETALL mqtt_acl:%u, loaded at CONNECT, then cached)
# Writes OUT/results.jsonl (every bench report), OUT/summary.md (medians), OUT/logs/.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
rounds=3
users=10000
conn_rate=8000
fanin_rate=20000
out=""
build=1
port=${PORT_OURS:-18830}
redis_port=${PORT_REDIS:-18850}
pg_port=${PORT_PG:-18851}
http_port=${PORT_HTTP:-18852}
cases=""
ldap_port=${PORT_LDAP:-18853}

while (($#)); do
    case "$1" in
        --rounds) rounds="$2"; shift 2 ;;
        --users) users="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --no-build) build=0; shift ;;
        --cases) cases="$2"; shift 2 ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "auth.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

work="$(mktemp -d /tmp/broker-auth-bench.XXXXXX)"
chmod 755 "$work"   # the postgres user works under it
out="${out:-$work/out}"
mkdir -p "$out/logs"
results="$out/results.jsonl"
: > "$results"
log() { printf '==> %s\n' "$*" >&2; }

broker_dll="$root/src/Broker.Server/bin/Release/net10.0/broker.dll"
bench_dll="$root/src/Broker.Bench/bin/Release/net10.0/bench.dll"
http_dll="$root/tests/AuthHttpService/bin/Release/net10.0/auth-http-service.dll"
pg_bin=/usr/lib/postgresql/15/bin
for tool in redis-server redis-cli psql python3 /usr/bin/python3 /usr/sbin/slapd /usr/sbin/slapadd ldapadd; do
    command -v "$tool" >/dev/null || { echo "auth.sh: $tool is missing (scripts/test.sh installs the backends)" >&2; exit 1; }
done
[[ -x $pg_bin/initdb ]] || { echo "auth.sh: $pg_bin/initdb is missing: apt-get install postgresql-15" >&2; exit 1; }

if ((build)); then
    log "dotnet build (Release)"
    dotnet build "$root/src/Broker.Server" -c Release -nologo -v:q >/dev/null
    dotnet build "$root/src/Broker.Bench" -c Release -nologo -v:q >/dev/null
    dotnet build "$root/tests/AuthHttpService" -c Release -nologo -v:q >/dev/null
fi

broker_pid=""
slapd_pid=""
http_pid=""
stop_broker() {
    [[ -n "$broker_pid" ]] || return 0
    kill -TERM "$broker_pid" 2>/dev/null || true
    wait "$broker_pid" 2>/dev/null || true
    broker_pid=""
}

cleanup() {
    stop_broker
    [[ -z "$http_pid" ]] || { kill -TERM "$http_pid" 2>/dev/null; wait "$http_pid" 2>/dev/null || true; }
    redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1 || true
    cp "$work/pg/postgres.log" "$out/logs/" 2>/dev/null || true
    [[ -z "$slapd_pid" ]] || { kill "$slapd_pid" 2>/dev/null; wait "$slapd_pid" 2>/dev/null; } || true
    rm -rf "$work/pg" "$work/redis" "$work/ldap" "$work/home-"*
}
trap cleanup EXIT

# --- backends and the fleet: dev<n> / pw<n> in all three sources ---------------------------------------------------
log "redis-server on $redis_port, PostgreSQL on $pg_port, $users users"
mkdir -p "$work/redis" "$work/pg"
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --dir "$work/redis" --logfile "$out/logs/redis.log"
chown postgres "$work/pg"
runuser -u postgres -- "$pg_bin/initdb" -D "$work/pg/data" -A trust -U postgres --no-sync >/dev/null
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/postgres.log" -w \
    -o "-p $pg_port -k $work/pg -c listen_addresses=127.0.0.1 -c fsync=off" start >/dev/null
psql -h 127.0.0.1 -p "$pg_port" -U postgres -qAt -c "create database mqtt"
psql -h 127.0.0.1 -p "$pg_port" -U postgres -d mqtt -qAt -c "
    CREATE TABLE mqtt_user (id SERIAL PRIMARY KEY, username VARCHAR(100) UNIQUE, password VARCHAR(100), salt VARCHAR(40),
      is_superuser BOOLEAN DEFAULT false);
    CREATE TABLE mqtt_acl (id SERIAL PRIMARY KEY, allow INTEGER, ipaddr VARCHAR(60), username VARCHAR(100),
      clientid VARCHAR(100), access INTEGER, topic VARCHAR(100));
    INSERT INTO mqtt_user (username, password)
      SELECT 'dev' || n, encode(sha256(('pw' || n)::bytea), 'hex') FROM generate_series(0, $((users - 1))) n;"
python3 - "$users" <<'EOF' | redis-cli -p "$redis_port" --pipe >/dev/null
import hashlib, sys
def resp(*args):
    return "*%d\r\n" % len(args) + "".join("$%d\r\n%s\r\n" % (len(a.encode()), a) for a in args)
out = sys.stdout
for n in range(int(sys.argv[1])):
    out.write(resp("HSET", f"mqtt_user:dev{n}", "password", hashlib.sha256(f"pw{n}".encode()).hexdigest()))
out.write(resp("HSET", "mqtt_acl:dev0", "bench/#", "3"))
EOF
dotnet "$http_dll" --port "$http_port" > "$out/logs/auth-http-service.log" 2>&1 &
http_pid=$!
for _ in $(seq 300); do grep -q "auth service ready" "$out/logs/auth-http-service.log" && break; sleep 0.1; done
grep -q "auth service ready" "$out/logs/auth-http-service.log" || { echo "auth.sh: the HTTP auth service did not start" >&2; exit 1; }
# slapd with a private cn=config (as tests/Broker.EndToEnd.Tests/AuthPlugins/SlapdServer.cs does): EMQX's schema, an mdb
# database indexed on uid, ou=devices with one entry per user, {SSHA} with a salt per user as slappasswd writes it.
mkdir -p "$work/ldap/slapd.d" "$work/ldap/data"
printf '%s\n' 'dn: cn=config' 'objectClass: olcGlobal' 'cn: config' '' \
    'dn: cn=module{0},cn=config' 'objectClass: olcModuleList' 'cn: module{0}' 'olcModulePath: /usr/lib/ldap' \
    'olcModuleLoad: back_mdb' '' 'dn: cn=schema,cn=config' 'objectClass: olcSchemaConfig' 'cn: schema' '' \
    'include: file:///etc/ldap/schema/core.ldif' 'include: file:///etc/ldap/schema/cosine.ldif' \
    "include: file://$root/plugins/auth_ldap/schema/emqx.schema.ldif" '' \
    'dn: olcDatabase={-1}frontend,cn=config' 'objectClass: olcDatabaseConfig' 'objectClass: olcFrontendConfig' \
    'olcDatabase: {-1}frontend' '' 'dn: olcDatabase={1}mdb,cn=config' 'objectClass: olcDatabaseConfig' \
    'objectClass: olcMdbConfig' 'olcDatabase: {1}mdb' "olcDbDirectory: $work/ldap/data" 'olcSuffix: dc=example,dc=org' \
    'olcRootDN: cn=admin,dc=example,dc=org' 'olcRootPW: bench-admin' 'olcDbIndex: uid eq' 'olcDbIndex: objectClass eq' > "$work/ldap/config.ldif"
/usr/sbin/slapadd -n0 -F "$work/ldap/slapd.d" -l "$work/ldap/config.ldif"
/usr/sbin/slapd -h "ldap://127.0.0.1:$ldap_port/" -F "$work/ldap/slapd.d" -d none > "$out/logs/slapd.log" 2>&1 &
slapd_pid=$!
# slapd logs "starting" before it listens: wait until it answers.
for _ in $(seq 100); do
    ldapsearch -x -H "ldap://127.0.0.1:$ldap_port" -b '' -s base >/dev/null 2>&1 && break
    sleep 0.1
done
python3 "$root/bench/make_ldap_users.py" "$users" \
    | ldapadd -x -H "ldap://127.0.0.1:$ldap_port" -D cn=admin,dc=example,dc=org -w bench-admin >/dev/null
jwt_secret="bench-secret-$RANDOM-$RANDOM-$RANDOM"
jwt_token=$(/usr/bin/python3 "$root/tests/interop/jwt_mint.py" token HS256 "$jwt_secret" '{"exp":"+86400"}')
iterations=$(dotnet "$broker_dll" conf-defaults | sed -n 's/^password_hash_iterations = //p')
python3 "$root/bench/make_passwd.py" "$users" "$iterations" "$work/passwd" /dev/null

# --- our broker, in a fresh home per run ------------------------------------------------------------------------
# $1 run name, $2 source: passwd | redis | pgsql | jwt | ldap, $3 acl: none | aclconf | redis
start_broker() {
    local name="$1" source="$2" acl="$3" home="$work/home-$1"
    rm -rf "$home"; mkdir -p "$home/data"
    cp -r "$root/etc" "$home/"
    : > "$home/data/loaded_plugins"
    : > "$home/etc/acl.conf"
    case "$source" in
        passwd) cp "$work/passwd" "$home/etc/passwd" ;;
        redis) echo auth_redis >> "$home/data/loaded_plugins"
               printf 'auth.redis.server = 127.0.0.1:%s\nauth.redis.password_hash = sha256\n' "$redis_port" > "$home/etc/plugins/auth_redis.conf" ;;
        pgsql) echo auth_pgsql >> "$home/data/loaded_plugins"
               printf 'auth.pgsql.server = 127.0.0.1:%s\nauth.pgsql.username = postgres\n' "$pg_port" > "$home/etc/plugins/auth_pgsql.conf" ;;
        jwt) echo auth_jwt >> "$home/data/loaded_plugins"
             printf 'auth.jwt.secret = %s\n' "$jwt_secret" > "$home/etc/plugins/auth_jwt.conf" ;;
        http) echo auth_http >> "$home/data/loaded_plugins"
              printf 'auth.http.auth_req.url = http://127.0.0.1:%s/mqtt/auth\nauth.http.super_req.url = http://127.0.0.1:%s/mqtt/superuser\nauth.http.acl_req.url = ""\n' \
                  "$http_port" "$http_port" > "$home/etc/plugins/auth_http.conf" ;;
        ldap) echo auth_ldap >> "$home/data/loaded_plugins"
              printf 'auth.ldap.%s\n' "servers = 127.0.0.1" "port = $ldap_port" "bind_dn = cn=admin,dc=example,dc=org" \
                  "bind_password = bench-admin" "device_dn = ou=devices,dc=example,dc=org" > "$home/etc/plugins/auth_ldap.conf" ;;
    esac
    [[ $acl == aclconf ]] && printf '{allow, {user, "dev0"}, pubsub, ["bench/#"]}.\n' > "$home/etc/acl.conf"
    BROKER_LISTENER__TCP__EXTERNAL="127.0.0.1:$port" BROKER_LISTENER__SSL__EXTERNAL=off BROKER_LISTENER__WS__EXTERNAL=off \
    BROKER_LISTENER__WSS__EXTERNAL=off BROKER_MANAGEMENT__LISTENER=127.0.0.1:0 \
    BROKER_ALLOW_ANONYMOUS=false BROKER_ACL_NOMATCH=deny \
        dotnet "$broker_dll" --home "$home" > "$out/logs/$name.log" 2>&1 &
    broker_pid=$!
    for _ in $(seq 600); do
        grep -q "Listener tcp:external started" "$out/logs/$name.log" 2>/dev/null && return 0
        kill -0 "$broker_pid" 2>/dev/null || { echo "auth.sh: the broker exited:" >&2; tail -20 "$out/logs/$name.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "auth.sh: the broker did not start within 60 s" >&2; exit 1
}

wanted() { [[ -z "$cases" || " $cases " == *" $1 "* ]]; }

run() {
    local case="$1" round="$2" source="$3" acl="$4"; shift 4
    start_broker "$case-r$round" "$source" "$acl"
    local report
    report=$(dotnet "$bench_dll" "$@" --host 127.0.0.1 --port "$port" --broker-pid "$broker_pid" --json --quiet \
        --label "$case" 2>>"$out/logs/bench.log") || { stop_broker; log "bench failed: $case round $round"; return 0; }
    stop_broker
    printf '{"case":"%s","round":%d,"report":%s}\n' "$case" "$round" "$report" >> "$results"
}

for round in $(seq "$rounds"); do
    for source in passwd redis pgsql jwt ldap http; do
        wanted "connauth-$source" || continue
        log "round $round: connauth-$source, $users first logins offered at $conn_rate/s"
        password='pw{n}'; [[ $source == jwt ]] && password="$jwt_token"
        run "connauth-$source" "$round" "$source" none conn --connections "$users" --conn-rate "$conn_rate" \
            --username 'dev{n}' --password "$password" --duration 2s --max-pending 1000
    done
    for acl in aclconf redisacl; do
        wanted "fanin-$acl" || continue
        source=passwd; [[ $acl == redisacl ]] && source=redis
        log "round $round: fanin-$acl, 10 publishers at $fanin_rate msg/s"
        run "fanin-$acl" "$round" "$source" "${acl/redisacl/redis}" fanin --publishers 10 --rate "$fanin_rate" \
            --username dev0 --password pw0 --duration 10s
    done
done

python3 - "$results" > "$out/summary.md" <<'EOF'
import json, statistics, sys
from collections import defaultdict
runs = defaultdict(list)
for line in open(sys.argv[1]):
    e = json.loads(line)
    runs[e["case"]].append(e["report"])
def med(case, f):
    values = [f(r) for r in runs[case] if f(r) is not None]
    return statistics.median(values) if values else None
print(f"rounds: {max(len(v) for v in runs.values())}, medians\n")
print("| logins against | connected | failures | connects/s | CONNACK p50 µs | CONNACK p99 µs |")
print("|---|---|---|---|---|---|")
for source in ("passwd", "redis", "pgsql", "jwt", "ldap", "http"):
    c = "connauth-" + source
    if runs[c]:
        print(f"| {source} | {med(c, lambda r: r['connected']):.0f} | {med(c, lambda r: r['connect_failures']):.0f} "
              f"| {med(c, lambda r: r['connect_rate']):.0f} | {med(c, lambda r: (r.get('connack_latency') or {}).get('p50')):.0f} "
              f"| {med(c, lambda r: (r.get('connack_latency') or {}).get('p99')):.0f} |")
if runs["fanin-aclconf"] or runs["fanin-redisacl"]:
    print("\n| fan-in allowed by | delivered msg/s | broker CPU µs/msg | latency p99 µs |")
    print("|---|---|---|---|")
cpu = {}
for acl in ("aclconf", "redisacl"):
    c = "fanin-" + acl
    if runs[c]:
        cpu[acl] = med(c, lambda r: r.get("broker_cpu_micros_per_message"))
        print(f"| {acl} | {med(c, lambda r: r['receive_rate']):.0f} | {cpu[acl]:.2f} | {med(c, lambda r: r['latency']['p99']):.0f} |")
if len(cpu) == 2 and cpu["aclconf"]:
    print(f"\nCPU per message, Redis ACL / acl.conf: {cpu['redisacl'] / cpu['aclconf']:.3f}")
EOF
cat "$out/summary.md"
log "results in $out"

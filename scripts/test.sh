#!/usr/bin/env bash
# The one test command (README, .ci/run): installs the real clients the end-to-end tests drive, builds the
# solution once in Release, runs every test project, and ends with the plain line
# "N passed, N failed[, N skipped]" totalled over all projects from their TRX files.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf '==> %s\n' "$*"; }

# --- Debian packages: only the missing ones, and `apt-get update` only when something is missing. ---
need_pkgs=()
command -v mosquitto_sub >/dev/null 2>&1 && command -v mosquitto_pub >/dev/null 2>&1 || need_pkgs+=(mosquitto-clients)
/usr/bin/python3 -c 'import paho.mqtt.client' >/dev/null 2>&1 || need_pkgs+=(python3-paho-mqtt)
command -v node >/dev/null 2>&1 || need_pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || need_pkgs+=(npm)
# Backends of the auth plugins' tests (tests/Broker.EndToEnd.Tests/AuthPlugins start private instances on free ports)
# and the independent tools their password hashes are checked with.
command -v redis-server >/dev/null 2>&1 || need_pkgs+=(redis-server)
command -v mariadbd >/dev/null 2>&1 || need_pkgs+=(mariadb-server)
[[ -x /usr/lib/postgresql/15/bin/initdb ]] || need_pkgs+=(postgresql-15)
command -v psql >/dev/null 2>&1 || need_pkgs+=(postgresql-client)
command -v htpasswd >/dev/null 2>&1 || need_pkgs+=(apache2-utils)
command -v mosquitto_passwd >/dev/null 2>&1 || need_pkgs+=(mosquitto)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
/usr/bin/python3 -c 'import jwt, cryptography' >/dev/null 2>&1 || need_pkgs+=(python3-jwt python3-cryptography)
# The browser of the dashboard's tests (Playwright drives it through ExecutablePath; it downloads no browser of its own).
command -v chromium >/dev/null 2>&1 || need_pkgs+=(chromium)
# auth_ldap's tests: slapd (its own private cn=config per test, never /etc/ldap/slapd.d) and ldapadd/ldapmodify.
command -v slapd >/dev/null 2>&1 || [[ -x /usr/sbin/slapd ]] || need_pkgs+=(slapd)
command -v ldapadd >/dev/null 2>&1 || need_pkgs+=(ldap-utils)
# The cluster's tests (tests/Broker.EndToEnd.Tests/Cluster): private nats-server clusters on free ports.
command -v nats-server >/dev/null 2>&1 || [[ -x /usr/sbin/nats-server ]] || need_pkgs+=(nats-server)
# One of them runs a node whose clock is off (libfaketime, LD_PRELOAD).
[[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ]] || need_pkgs+=(faketime)
# LMDB for bench/Broker.StoreBench's smoke test: LightningDB's bundled liblmdb.so needs glibc 2.38, Debian 12 has 2.36.
[[ -e /usr/lib/x86_64-linux-gnu/liblmdb.so.0 ]] || need_pkgs+=(liblmdb0)
if ((${#need_pkgs[@]})); then
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo_cmd=(sudo -n)
    else
      log "missing Debian packages ${need_pkgs[*]} and not root without sudo: the tests needing them will fail"
    fi
  fi
  if [[ $(id -u) -eq 0 || ${#sudo_cmd[@]} -gt 0 ]]; then
    log "installing ${need_pkgs[*]}"
    if [[ " ${need_pkgs[*]} " == *" slapd "* ]]; then
      # slapd asks questions on install (../shared/DESIGN.md §9): answer them first. The tests do not use this
      # configuration; they build their own.
      printf '%s\n' 'slapd slapd/no_configuration boolean false' 'slapd slapd/domain string example.org' \
        'slapd shared/organization string Example' 'slapd slapd/password1 password admin' \
        'slapd slapd/password2 password admin' 'slapd slapd/purge_database boolean true' \
        'slapd slapd/move_old_database boolean true' | "${sudo_cmd[@]}" debconf-set-selections \
        || log "debconf-set-selections failed: slapd may not install non-interactively"
    fi
    # A failed install is not fatal here: the tests that need the tool fail and name the package.
    { "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq \
      && "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}"; } \
      || log "apt-get could not install ${need_pkgs[*]}: the tests needing them will fail"
  fi
fi

# --- MQTT.js for the interop scripts, pinned by package-lock.json. ---
if command -v npm >/dev/null 2>&1; then
  log "npm ci (tests/interop)"
  (cd tests/interop && npm ci --no-audit --no-fund --loglevel=error) \
    || log "npm ci failed: the MQTT.js tests will fail"
  # The MongoDB test double of auth_mongo's tests (../shared/DESIGN.md §9): six pinned packages, then CongoDB itself
  # unpacked from the smartmongo tarball, whose own install fails on a missing transitive version.
  log "npm ci (tests/mongo-test-server) and @push.rocks/smartmongo@2.2.0"
  (cd tests/mongo-test-server && npm ci --no-audit --no-fund --loglevel=error \
    && tarball="$(npm pack --silent @push.rocks/smartmongo@2.2.0)" \
    && mkdir -p node_modules/@push.rocks/smartmongo \
    && tar xzf "$tarball" -C node_modules/@push.rocks/smartmongo --strip-components=1 \
    && rm -f "$tarball") \
    || log "the MongoDB test server could not be installed: the auth_mongo tests will fail"
fi

# --- Build once, then test without rebuilding. ---
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
log "dotnet build Broker.sln -c Release"
dotnet build Broker.sln -c Release -nologo -v:minimal

results="$root/artifacts/test-results"
rm -rf "$results"
mkdir -p "$results"
log "dotnet test Broker.sln -c Release --no-build"
test_rc=0
# --blame-hang-timeout: a test stuck past 5 minutes ends its test host instead of CI's whole time budget.
dotnet test Broker.sln -c Release --no-build --nologo \
  --blame-hang-timeout 5m --blame-hang-dump-type none \
  --results-directory "$results" --logger "trx" --logger "console;verbosity=normal" "$@" || test_rc=$?

# --- Total the TRX counters of every project. ---
passed=0 failed=0 skipped=0 files=0
counter() { grep -o "<Counters [^>]*" "$1" | grep -o " $2=\"[0-9]*\"" | grep -o '[0-9]*' || echo 0; }
while IFS= read -r -d '' trx; do
  files=$((files + 1))
  passed=$((passed + $(counter "$trx" passed)))
  failed=$((failed + $(counter "$trx" failed) + $(counter "$trx" error) + $(counter "$trx" timeout) + $(counter "$trx" aborted)))
  skipped=$((skipped + $(counter "$trx" notExecuted)))
done < <(find "$results" -name '*.trx' -print0)

# --- Repeat each failed test's name and message last, where a truncated CI log still shows them. ---
if ((failed > 0)); then
  log "failed tests"
  /usr/bin/python3 - "$results" <<'PY'
import pathlib, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for trx in pathlib.Path(sys.argv[1]).rglob("*.trx"):
    for r in ET.parse(trx).getroot().iterfind(".//t:UnitTestResult", ns):
        if r.get("outcome") in ("Passed", "NotExecuted"):
            continue
        print(f"FAILED {r.get('testName')} [{r.get('outcome')}, {r.get('duration')}]")
        msg = r.find("t:Output/t:ErrorInfo/t:Message", ns)
        stack = r.find("t:Output/t:ErrorInfo/t:StackTrace", ns)
        for text, lines in ((msg, 12), (stack, 8)):
            if text is not None and text.text:
                for line in text.text.strip().splitlines()[:lines]:
                    print("    " + line)
PY
fi

status=0
if ((test_rc != 0 && failed == 0)); then
  log "dotnet test exited with $test_rc without a failed test in the TRX files (test host crash or build problem?)"
  status=1
fi
if ((failed > 0)); then status=1; fi
if ((passed + failed == 0)); then
  log "no test ran (${files} TRX files)"
  status=1
fi

summary="${passed} passed, ${failed} failed"
if ((skipped > 0)); then summary+=", ${skipped} skipped"; fi
echo "$summary"
exit "$status"

#!/usr/bin/env bash
# The persistence engines compared on the broker's access pattern (issue 23; bench/README.md, "Persistence store").
# Builds bench/Broker.StoreBench, runs every engine through every workload (about 8 minutes with the default 10 s
# windows) in a temp directory under /tmp that it deletes, writes OUT/results.json and prints markdown tables.
#   bench/store.sh                                   # everything
#   bench/store.sh --engine rocksdb,sqlite --workload append --duration 5s --out /tmp/store
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# LightningDB's bundled liblmdb.so needs glibc 2.38; Debian 12's liblmdb0 is what loads here.
if [[ ! -e /usr/lib/x86_64-linux-gnu/liblmdb.so.0 && $(id -u) -eq 0 ]]; then
  { apt-get install -y -qq liblmdb0 || { apt-get update -qq && apt-get install -y -qq liblmdb0; }; } >/dev/null \
    || echo "==> could not install liblmdb0: the lmdb rows will say why they failed" >&2
fi

dotnet build bench/Broker.StoreBench -c Release -v quiet -nologo >&2
args=("$@")
[[ " $* " == *" --out "* ]] || args+=(--out /tmp/storebench-results)
# Progress (one JSON line per run) goes to stderr, the tables to stdout.
exec dotnet bench/Broker.StoreBench/bin/Release/net10.0/storebench.dll "${args[@]}"

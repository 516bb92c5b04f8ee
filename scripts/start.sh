#!/usr/bin/env bash
# Builds the broker (Release) and runs it with this checkout as its home: etc/ for configuration,
# data/ for runtime state. Arguments are passed to the broker, so `scripts/start.sh passwd add alice`
# manages etc/passwd instead of starting.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build "$root/src/Broker.Server" -c Release -nologo -v:quiet >&2
exec dotnet "$root/src/Broker.Server/bin/Release/net10.0/broker.dll" --home "${BROKER_HOME:-$root}" "$@"

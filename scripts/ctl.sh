#!/usr/bin/env bash
# Builds ctl (Release) and runs it against the broker of this checkout: the management API address and
# credentials come from etc/broker.conf and data/management.secret here (or $BROKER_HOME).
# `scripts/ctl.sh status`, `scripts/ctl.sh clients list`, `scripts/ctl.sh --help`.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build "$root/src/Broker.Ctl" -c Release -nologo -v:quiet >&2
exec dotnet "$root/src/Broker.Ctl/bin/Release/net10.0/ctl.dll" --home "${BROKER_HOME:-$root}" "$@"

#!/usr/bin/env python3
"""Turns compare.sh's results.jsonl into a Markdown table: per case and metric, the median over rounds for each
broker, the ratio ours / mosquitto of the medians, and that ratio in each round (ours and mosquitto ran back to back,
so a round's ratio shows how far one run of the pair can land from the median on this machine); for the idle case
also each broker's throughput with / without idle subscriptions. Peers measured beside them (compare.sh --peers) get a
column each with their ratio to mosquitto. Usage: summarize.py results.jsonl"""
import json
import statistics
import sys
from collections import defaultdict

# What a traffic run (fan-in at a fixed rate, pairs as fast as possible) is read by.
TRAFFIC = [
    ("delivered msg/s", "receive_rate", "higher"),
    ("latency p50 µs", "latency.p50", "lower"),
    ("latency p99 µs", "latency.p99", "lower"),
    ("broker CPU % of a core", "broker_cpu_percent", "lower"),
    ("broker CPU µs per message", "broker_cpu_micros_per_message", "lower"),
    ("broker RSS peak MB", "broker_rss_peak_kb", "lower"),
    ("lost", "lost", "lower"),
    ("generator CPU %", "generator_cpu_percent", "info"),
]

# case prefix -> [(label, path in the report, "lower" | "higher" is better)]
METRICS = {
    "fanin-": TRAFFIC,
    "search-fanin": [("highest no-loss delivery rate msg/s", "max_clean_delivery_rate", "higher")],
    "search-fanout": [("highest no-loss delivery rate msg/s", "max_clean_delivery_rate", "higher")],
    "p2p-": TRAFFIC,
    "fanout-": TRAFFIC,
    "large-": TRAFFIC,
    "idleclients-": TRAFFIC,
    "persist-": TRAFFIC,
    "conn-": [
        ("connected", "connected", "higher"),
        ("connect failures", "connect_failures", "lower"),
        ("dropped while idle", "disconnected", "lower"),
        ("connects/s achieved", "connect_rate", "higher"),
        ("broker CPU µs per connect", "broker_cpu_micros_per_connect", "lower"),
        ("broker RSS per connection KB", "rss_per_connection_bytes", "lower"),
        ("broker RSS with all connected MB", "broker_rss_end_kb", "lower"),
        ("broker CPU % while idle", "broker_cpu_percent", "lower"),
        ("generator CPU %", "generator_cpu_percent", "info"),
    ],
    # A fleet's first logins against a password file (one hash per CONNECT): the rate is what matters.
    # Connections with a full TLS handshake each: the rate, and what they cost.
    "conntls-": [
        ("connected", "connected", "higher"),
        ("connect failures", "connect_failures", "lower"),
        ("connects/s achieved", "connect_rate", "higher"),
        ("broker CPU µs per connect", "broker_cpu_micros_per_connect", "lower"),
        ("generator CPU µs per connect", "generator_cpu_micros_per_connect", "info"),
        ("broker RSS per connection KB", "rss_per_connection_bytes", "lower"),
        ("generator CPU %", "generator_cpu_percent", "info"),
    ],
    "connauth-": [
        ("connected", "connected", "higher"),
        ("connect failures", "connect_failures", "lower"),
        ("connects/s achieved", "connect_rate", "higher"),
        ("broker CPU µs per connect", "broker_cpu_micros_per_connect", "lower"),
        ("generator CPU %", "generator_cpu_percent", "info"),
    ],
}


def get(report, path):
    value = report
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    if path.endswith("_kb"):
        return value / 1024.0
    if path == "rss_per_connection_bytes":
        return value / 1024.0
    return value


# The idle case: fan-in at a fixed rate, once without ("idle-fanin-0") and once with N idle subscriptions
# ("idle-fanin-N") per broker and round. Rows: (label, path, better, which run: 0 = without, N = with, "ratio" = with /
# without per round, "relative" = that ratio divided by the same ratio of the generator's CPU per message).
IDLE_PREFIX = "idle-fanin-"
IDLE = [
    ("delivered msg/s, no idle subscriptions", "receive_rate", "higher", "without"),
    ("delivered msg/s, {n} idle subscriptions", "receive_rate", "higher", "with"),
    ("delivered with / without idle subscriptions", "receive_rate", "higher", "ratio"),
    ("broker CPU µs per message, no idle subscriptions", "broker_cpu_micros_per_message", "lower", "without"),
    ("broker CPU µs per message, {n} idle subscriptions", "broker_cpu_micros_per_message", "lower", "with"),
    ("broker CPU per message with / without idle subscriptions", "broker_cpu_micros_per_message", "lower", "ratio"),
    ("the same, relative to the generator's (machine speed taken out)", "broker_cpu_micros_per_message", "lower",
     "relative"),
    ("broker RSS peak MB, no idle subscriptions", "broker_rss_peak_kb", "lower", "without"),
    ("broker RSS peak MB, {n} idle subscriptions", "broker_rss_peak_kb", "lower", "with"),
    ("seconds to subscribe the {n}", "idle_setup_seconds", "lower", "with"),
    ("lost, {n} idle subscriptions", "lost", "lower", "with"),
    ("generator CPU %, {n} idle subscriptions", "generator_cpu_percent", "info", "with"),
]


def idle_count(case):
    suffix = case[len(IDLE_PREFIX):] if case.startswith(IDLE_PREFIX) else ""
    return int(suffix) if suffix.isdigit() else None


def idle_rows(by_round, n):
    """by_round: idle-subscription count -> broker -> round -> report. Yields table rows for N = n against 0."""
    for label, key, better, which in IDLE:
        medians, rounds = {}, ""
        for broker in ("ours", "mosquitto"):
            without = by_round.get(0, {}).get(broker, {})
            with_ = by_round.get(n, {}).get(broker, {})
            if which in ("ratio", "relative"):
                # Per round, so each pair ran under the same conditions; then the median over rounds.
                values = [r for r in (idle_ratio(without[rnd], with_[rnd], key, which == "relative")
                                      for rnd in sorted(set(without) & set(with_))) if r is not None]
                if broker == "ours":
                    rounds = "ours: " + " ".join(f"{v:.2f}" for v in values)
            else:
                reports = without if which == "without" else with_
                values = [v for v in (get(r, key) for r in reports.values()) if v is not None]
            medians[broker] = statistics.median(values) if values else None
        ours, theirs = medians["ours"], medians["mosquitto"]
        ratio = f"{ours / theirs:.2f}" if ours is not None and theirs not in (None, 0) else "–"
        value = (lambda v: "–" if v is None else f"{v:.3f}") if which in ("ratio", "relative") else fmt
        yield f"| {IDLE_PREFIX}{n} | {label.format(n=n)} | {better} | {value(ours)} | {value(theirs)} | {ratio} | {rounds} |"


def idle_ratio(without, with_, key, relative):
    """with / without for one round. Relative: divided by the generator's CPU per message with / without, which offers
    the same messages at the same rate in both runs, so its change is mostly the machine's speed (bench/README.md, "The
    idle case, read")."""
    a, b = get(without, key), get(with_, key)
    if not a or b is None:
        return None
    if not relative:
        return b / a
    ga, gb = generator_cpu_per_message(without), generator_cpu_per_message(with_)
    return b / a / (gb / ga) if ga and gb else None


def generator_cpu_per_message(report):
    rate = report.get("receive_rate")
    return report["generator_cpu_percent"] / rate if rate and report.get("generator_cpu_percent") else None


def metrics_for(case):
    if case.endswith("-step"):
        return None
    for prefix, metrics in METRICS.items():
        if case.startswith(prefix):
            return metrics
    return None


def fmt(value):
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"


def per_round(by_round, key):
    """The ratio ours / mosquitto in each round both ran, in round order ("–" where it is undefined)."""
    ours, theirs = by_round.get("ours", {}), by_round.get("mosquitto", {})
    ratios = []
    for rnd in sorted(set(ours) & set(theirs)):
        a, b = get(ours[rnd], key), get(theirs[rnd], key)
        ratios.append(f"{a / b:.2f}" if a is not None and b else "–")
    return " ".join(ratios) if any(r != "–" for r in ratios) else ""


def main(path):
    runs = defaultdict(lambda: defaultdict(dict))  # case -> broker -> round -> report
    idle = defaultdict(lambda: defaultdict(dict))  # idle subscriptions -> broker -> round -> report
    order = []
    brokers = []
    rounds = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            entry = json.loads(line)
            if entry["case"] not in order:
                order.append(entry["case"])
            runs[entry["case"]][entry["broker"]][entry["round"]] = entry["report"]
            if entry["broker"] not in brokers:
                brokers.append(entry["broker"])
            if idle_count(entry["case"]) is not None:
                idle[idle_count(entry["case"])][entry["broker"]][entry["round"]] = entry["report"]
            rounds.add(entry["round"])

    peers = [b for b in brokers if b not in ("ours", "mosquitto")]
    print(f"Medians over {len(rounds)} round(s); ratio = ours / mosquitto (see bench/README.md for what each case is).")
    print()
    print("| case | metric | better | ours | mosquitto | ours/mosquitto | per round |"
          + "".join(f" {p} | {p}/mosquitto |" for p in peers))
    print("|---|---|---|---:|---:|---:|---|" + "---:|---:|" * len(peers))
    for case in order:
        n = idle_count(case)
        if n is not None:
            if n > 0:
                for row in idle_rows(idle, n):
                    print(row)
            continue
        metrics = metrics_for(case)
        if metrics is None:
            continue
        for label, key, better in metrics:
            medians = {}
            for broker in ("ours", "mosquitto", *peers):
                values = [v for v in (get(r, key) for r in runs[case].get(broker, {}).values()) if v is not None]
                medians[broker] = statistics.median(values) if values else None
            ours, theirs = medians["ours"], medians["mosquitto"]
            ratio = f"{ours / theirs:.2f}" if ours is not None and theirs not in (None, 0) else "–"
            extra = ""
            for peer in peers:
                value = medians[peer]
                extra += f" {fmt(value)} | {value / theirs:.2f} |" if value is not None and theirs else " – | – |"
            print(f"| {case} | {label} | {better} | {fmt(ours)} | {fmt(theirs)} | {ratio} | {per_round(runs[case], key)} |{extra}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    main(sys.argv[1])

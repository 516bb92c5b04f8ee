#!/usr/bin/env python3
"""Turns cluster.sh's results.jsonl into a Markdown table: per case and metric, the median over rounds on ONE node and
ACROSS nodes (conn: a broker with the cluster off and a cluster node) and the ratio of the medians, with each round's
values. CPU is split by process from the report's broker_processes: the first "nodes" entries are the broker nodes,
the rest the NATS servers. Usage: summarize_cluster.py results.jsonl"""
import json
import statistics
import sys
from collections import defaultdict


def window_deliveries(r):
    return r.get("receive_rate", 0) * r.get("window_seconds", 0)


def cpu(r, nodes, which):
    procs = r.get("broker_processes") or []
    part = procs[:nodes] if which == "nodes" else procs[nodes:]
    return sum(p["cpu_seconds"] for p in part)


def per_message(r, nodes, which):
    n = window_deliveries(r)
    return cpu(r, nodes, which) * 1e6 / n if n else 0


def percent(r, nodes, which):
    w = r.get("window_seconds", 0)
    return cpu(r, nodes, which) / w * 100 if w else 0


def node_percent(i):
    def f(r, nodes):
        procs = r.get("broker_processes") or []
        return procs[i]["cpu_percent"] if i < min(nodes, len(procs)) else 0
    return f


def get(path):
    def f(r, nodes):
        v = r
        for k in path.split("."):
            v = (v or {}).get(k)
        return v if v is not None else 0
    return f


TRAFFIC = [
    ("delivered msg/s", get("receive_rate"), "higher"),
    ("latency p50 µs", get("latency.p50"), "lower"),
    ("latency p99 µs", get("latency.p99"), "lower"),
    ("CPU µs per message, all broker nodes", lambda r, n: per_message(r, n, "nodes"), "lower"),
    ("node A CPU % of a core", node_percent(0), "info"),
    ("node B CPU % of a core", node_percent(1), "info"),
    ("NATS CPU % of a core (3 servers)", lambda r, n: percent(r, n, "nats"), "lower"),
    ("NATS CPU µs per message", lambda r, n: per_message(r, n, "nats"), "lower"),
    ("lost", get("lost"), "lower"),
    ("generator CPU %", get("generator_cpu_percent"), "info"),
]

CONVERGENCE = [
    ("convergence p50 ms", lambda r, n: get("convergence.p50")(r, n) / 1000, "lower"),
    ("convergence p99 ms", lambda r, n: get("convergence.p99")(r, n) / 1000, "lower"),
    ("convergence max ms", lambda r, n: get("convergence.max")(r, n) / 1000, "lower"),
    ("first message's own trip p50 µs", get("first_delivery_latency.p50"), "info"),
    ("rounds timed out", get("round_timeouts"), "lower"),
]

CONN = [
    ("connected", get("connected"), "higher"),
    ("connects/s achieved", get("connect_rate"), "higher"),
    ("broker RSS per connection KB", lambda r, n: get("rss_per_connection_bytes")(r, n) / 1024, "lower"),
    ("broker RSS with all connected MB", lambda r, n: get("broker_rss_end_kb")(r, n) / 1024, "lower"),
    ("broker CPU % while idle", get("broker_cpu_percent"), "lower"),
]


def metrics_for(case):
    if case.startswith("conn-"):
        return CONN, ("single", "cluster"), ("cluster off", "cluster node")
    if case.startswith("convergence"):
        return CONVERGENCE, ("one", "cross"), ("one node", "across nodes")
    return TRAFFIC, ("one", "cross"), ("one node", "across nodes")


def fmt(v):
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
    return f"{int(v):,}"


def main(path):
    runs = defaultdict(lambda: defaultdict(list))  # case -> mode -> [(round, report, nodes)]
    order = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            row = json.loads(line)
            if row["case"] not in runs:
                order.append(row["case"])
            runs[row["case"]][row["mode"]].append((row["round"], row["report"], row.get("nodes", 1)))
    if not order:
        print("no results")
        return
    print("| case | metric | A | B | B / A | A per round | B per round |")
    print("|---|---|---:|---:|---:|---|---|")
    for case in order:
        metrics, modes, names = metrics_for(case)
        print(f"| **{case}** | A = {names[0]}, B = {names[1]} | | | | | |")
        for label, f, _ in metrics:
            cols = []
            for mode in modes:
                vals = [f(r, n) for _, r, n in sorted(runs[case][mode], key=lambda x: x[0])]
                cols.append(vals)
            med = [statistics.median(v) if v else None for v in cols]
            ratio = f"{med[1] / med[0]:.2f}" if med[0] and med[1] is not None else "-"
            print(f"| {case} | {label} | {fmt(med[0]) if med[0] is not None else '-'} | "
                  f"{fmt(med[1]) if med[1] is not None else '-'} | {ratio} | "
                  f"{', '.join(fmt(v) for v in cols[0])} | {', '.join(fmt(v) for v in cols[1])} |")


if __name__ == "__main__":
    main(sys.argv[1])

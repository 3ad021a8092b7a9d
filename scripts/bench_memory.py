#!/usr/bin/env python3
"""Memory of idle sessions and the size of a saved session, against a baseline process.

Usage: scripts/bench_memory.py [SESSIONS] [RUNS]     (defaults: 10000 sessions, 3 runs)

Runs examples/bench_sessions (release) with SESSIONS sessions, each driven to where the shop
bot waits for an order number, and with 0 sessions as the baseline (the same bot loaded),
alternating; the difference of the median peak RSS, divided by SESSIONS, is the memory one
idle session costs. Also prints the serialized (JSON) size of those sessions and of a typical
session holding 20 variables (target: under 2 KB).
"""
import json, os, statistics, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
n = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "bench_sessions"], cwd=root, check=True)
exe = os.path.join(root, "target", "release", "examples", "bench_sessions")


def once(count):
    out = subprocess.run([exe, str(count)], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


base, full = [], []
for _ in range(runs):
    base.append(once(0))
    full.append(once(n))
b = statistics.median(r["peak_rss_kib"] for r in base)
f = statistics.median(r["peak_rss_kib"] for r in full)
per = (f - b) * 1024 / n
print(f"baseline (bot loaded, 0 sessions): peak RSS {b / 1024:.1f} MiB")
print(f"{n} idle sessions: peak RSS {f / 1024:.1f} MiB")
print(f"per session: {per / 1024:.2f} KiB in memory, {full[0]['serialized_bytes_avg']} bytes saved (JSON)")
print(f"saved session with 20 variables: {full[0]['typical_20_vars_bytes']} bytes (target < 2048)")

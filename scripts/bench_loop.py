#!/usr/bin/env python3
"""The interpreter against CPython on the same 1,000,000-iteration loop, side by side.

Usage: scripts/bench_loop.py [RUNS]     (default 9)

Runs bench/loop.scn with `scenarist run --max-steps 100000000` and bench/loop.py with this
Python, alternating, and prints both medians and the ratio (below 1.0 means scenarist is
faster). Both times are whole processes, start-up included.
"""
import os, statistics, subprocess, sys, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
runs = int(sys.argv[1]) if len(sys.argv) > 1 else 9
subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=root, check=True)
exe = os.path.join(root, "target", "release", "scenarist")
scn = [exe, "run", os.path.join(root, "bench", "loop.scn"), "--max-steps", "100000000"]
py = [sys.executable, os.path.join(root, "bench", "loop.py")]

def once(cmd, stdin):
    start = time.perf_counter()
    out = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - start, out

expected = "acc = 999999000000"
a, b = [], []
for _ in range(runs):
    t, out = once(scn, "go\n")
    assert expected in out, out
    a.append(t)
    t, out = once(py, "")
    assert expected in out, out
    b.append(t)
ms, mp = statistics.median(a), statistics.median(b)
print(f"scenarist: median {ms * 1000:.0f} ms  ({' '.join(f'{x * 1000:.0f}' for x in a)})")
print(f"CPython {sys.version.split()[0]}: median {mp * 1000:.0f} ms  ({' '.join(f'{x * 1000:.0f}' for x in b)})")
print(f"ratio scenarist / CPython: {ms / mp:.2f}")

#!/usr/bin/env python3
"""The interpreter against CPython on the same 1,000,000-iteration loop, side by side.

Usage: scripts/bench_loop.py [RUNS] [--baseline EXE]     (default 9 runs)

Runs bench/loop.scn with `scenarist run --max-steps 100000000` and bench/loop.py with this
Python, alternating, and prints both medians and the ratio (below 1.0 means scenarist is
faster). Both times are whole processes, start-up included. With `--baseline EXE` another
scenarist binary (an older build, say) runs in the same rounds, so two versions of the
statement loop are compared on the same machine at the same moment.
"""
import os, statistics, subprocess, sys, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
argv = sys.argv[1:]
baseline = None
if "--baseline" in argv:
    i = argv.index("--baseline")
    baseline = os.path.abspath(argv[i + 1])
    del argv[i:i + 2]
runs = int(argv[0]) if argv else 9
subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=root, check=True)
exe = os.path.join(root, "target", "release", "scenarist")
scn = [exe, "run", os.path.join(root, "bench", "loop.scn"), "--max-steps", "100000000"]
py = [sys.executable, os.path.join(root, "bench", "loop.py")]

def once(cmd, stdin):
    start = time.perf_counter()
    out = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=True).stdout
    return time.perf_counter() - start, out

expected = "acc = 999999000000"
a, b, base = [], [], []
for _ in range(runs):
    t, out = once(scn, "go\n")
    assert expected in out, out
    a.append(t)
    if baseline:
        t, out = once([baseline] + scn[1:], "go\n")
        assert expected in out, out
        base.append(t)
    t, out = once(py, "")
    assert expected in out, out
    b.append(t)
ms, mp = statistics.median(a), statistics.median(b)
print(f"scenarist: median {ms * 1000:.0f} ms  ({' '.join(f'{x * 1000:.0f}' for x in a)})")
print(f"CPython {sys.version.split()[0]}: median {mp * 1000:.0f} ms  ({' '.join(f'{x * 1000:.0f}' for x in b)})")
print(f"ratio scenarist / CPython: {ms / mp:.2f}")
if baseline:
    mb = statistics.median(base)
    print(f"baseline {baseline}: median {mb * 1000:.0f} ms  ({' '.join(f'{x * 1000:.0f}' for x in base)})")
    print(f"ratio scenarist / baseline: {ms / mb:.3f}")

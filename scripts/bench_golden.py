#!/usr/bin/env python3
"""Golden tests end to end: `scenarist test` on 1,000 generated test files.

Usage: scripts/bench_golden.py [FILES] [RUNS]     (defaults: 1000 files, 5 runs)

Generates FILES variants of the example bots' golden tests (scripts/gen_tests.py, blessed once
with the release binary), then alternates, RUNS times: `scenarist test DIR` with the default
jobs (one per CPU) and the reference `scenarist test --jobs 1 DIR` (one thread), and prints
the medians, the parallel speed-up and the ratio to the 2-second target. Every run must pass.
"""
import os, statistics, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
files = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=root, check=True)
exe = os.path.join(root, "target", "release", "scenarist")

with tempfile.TemporaryDirectory(prefix="scenarist-bench-golden-") as tmp:
    out = os.path.join(tmp, "tests")
    subprocess.run([sys.executable, os.path.join(root, "scripts", "gen_tests.py"), out,
                    "--count", str(files), "--scenarist", exe], check=True, capture_output=True)
    count = sum(1 for _, _, fs in os.walk(out) for f in fs if f.endswith(".test"))
    messages = sum(
        sum(1 for line in open(os.path.join(d, f), encoding="utf-8") if line.startswith(">"))
        for d, _, fs in os.walk(out) for f in fs if f.endswith(".test"))

    def once(extra):
        start = time.perf_counter()
        p = subprocess.run([exe, "test", *extra, out], capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        last = (p.stdout.strip().splitlines() or [""])[-1]
        if p.returncode != 0 or f"{count} passed, 0 failed" not in last:
            sys.exit(f"scenarist test failed ({p.returncode}): {last}\n{p.stdout[-2000:]}{p.stderr[-2000:]}")
        return elapsed

    par, one = [], []
    for _ in range(runs):
        par.append(once([]))
        one.append(once(["--jobs", "1"]))
    mp, m1 = statistics.median(par), statistics.median(one)
    print(f"files: {count} test files, {messages} user messages")
    print(f"scenarist test (jobs = {os.cpu_count()}): median {mp * 1000:.0f} ms  ({' '.join(f'{t * 1000:.0f}' for t in par)})")
    print(f"scenarist test --jobs 1: median {m1 * 1000:.0f} ms  ({' '.join(f'{t * 1000:.0f}' for t in one)})")
    print(f"ratio parallel / one thread: {mp / m1:.2f}")
    print(f"ratio to the 2 s target: {mp / 2.0:.2f}")

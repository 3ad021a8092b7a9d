#!/usr/bin/env python3
"""Parse + check throughput of the release binary on a generated bot.

Usage: scripts/bench_check.py [BLOCKS] [RUNS]     (defaults: 20000 blocks, 7 runs)

Builds `scenarist` in release mode, generates the bot with scripts/gen_bot.py, checks that it
compiles clean, then times `scenarist check` RUNS times and prints the median in MB/s. As the
reference run side by side it times `gzip -6` compressing the same file (one pass over the same
bytes by a well-known tool), alternating, so the ratio says how the machine's mood moved both.
Then it times the parser alone in one process (examples/bench_parse.rs): the fast path that
`scenarist` uses against pest alone, alternating, on the same file.
"""
import os, statistics, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
blocks = sys.argv[1] if len(sys.argv) > 1 else "20000"
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 7
subprocess.run(["cargo", "build", "--release", "--quiet", "--bins", "--example", "bench_parse"], cwd=root, check=True)
exe = os.path.join(root, "target", "release", "scenarist")
bench_parse = os.path.join(root, "target", "release", "examples", "bench_parse")
with tempfile.TemporaryDirectory() as tmp:
    bot = os.path.join(tmp, "bench.scn")
    with open(bot, "w") as f:
        subprocess.run([sys.executable, os.path.join(root, "scripts", "gen_bot.py"), blocks], stdout=f, check=True)
    size = os.path.getsize(bot)
    first = subprocess.run([exe, "check", "--deny-warnings", bot], capture_output=True, text=True)
    if first.returncode != 0:
        sys.exit("the generated bot does not check clean:\n" + first.stderr[-3000:])
    times, gz = [], []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([exe, "check", bot], capture_output=True, check=True)
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        subprocess.run(["gzip", "-6", "-c", bot], stdout=subprocess.DEVNULL, check=True)
        gz.append(time.perf_counter() - start)
    median, mgz = statistics.median(times), statistics.median(gz)
    print(f"bot: {blocks} blocks, {size / 1e6:.1f} MB")
    print("runs (s): " + " ".join(f"{t:.3f}" for t in times))
    print(f"median: {median:.3f} s = {size / 1e6 / median:.1f} MB/s (parse + check, {os.cpu_count()} cores)")
    print(f"reference gzip -6: median {mgz:.3f} s = {size / 1e6 / mgz:.1f} MB/s")
    print(f"ratio scenarist check / gzip -6 (time): {median / mgz:.2f}")
    print(subprocess.run([bench_parse, bot, str(runs)], capture_output=True, text=True, check=True).stdout, end="")

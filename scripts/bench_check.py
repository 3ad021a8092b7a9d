#!/usr/bin/env python3
"""Parse + check throughput of the release binary on a generated bot, and the latency of a 1 MB file.

Usage: scripts/bench_check.py [BLOCKS] [RUNS] [--baseline EXE]   (defaults: 20000 blocks, 7 runs)

Builds `scenarist` in release mode, generates the bot with scripts/gen_bot.py, checks that it
compiles clean, then times `scenarist check` RUNS times and prints the median in MB/s. As the
reference run side by side it times `gzip -6` compressing the same file (one pass over the same
bytes by a well-known tool), alternating, so the ratio says how the machine's mood moved both.
With `--baseline EXE` another scenarist binary (an older build, say) is timed in the same
rounds, so two versions are compared on the same machine at the same moment.

Then it times `check` of a 1 MB bot (3,000 blocks) the same way: the editor support re-checks a
file of that size on every edit, so parse + check must stay within 100 ms (process start-up
included, which is a few milliseconds).
"""
import os, statistics, subprocess, sys, tempfile, time

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
argv = sys.argv[1:]
baseline = None
if "--baseline" in argv:
    i = argv.index("--baseline")
    baseline = os.path.abspath(argv[i + 1])
    del argv[i:i + 2]
blocks = argv[0] if len(argv) > 0 else "20000"
runs = int(argv[1]) if len(argv) > 1 else 7
subprocess.run(["cargo", "build", "--release", "--quiet", "--bins"], cwd=root, check=True)
exe = os.path.join(root, "target", "release", "scenarist")


def timed(cmd, **kw):
    start = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True, **kw)
    return time.perf_counter() - start


def generate(tmp, n):
    bot = os.path.join(tmp, f"bench{n}.scn")
    with open(bot, "w") as f:
        subprocess.run([sys.executable, os.path.join(root, "scripts", "gen_bot.py"), str(n)], stdout=f, check=True)
    for binary in [exe] + ([baseline] if baseline else []):
        first = subprocess.run([binary, "check", "--deny-warnings", bot], capture_output=True, text=True)
        if first.returncode != 0:
            sys.exit(f"the generated bot does not check clean with {binary}:\n" + first.stderr[-3000:])
    return bot, os.path.getsize(bot)


with tempfile.TemporaryDirectory() as tmp:
    bot, size = generate(tmp, blocks)
    mb = size / 1e6
    times, gz, base = [], [], []
    for _ in range(runs):
        times.append(timed([exe, "check", bot]))
        if baseline:
            base.append(timed([baseline, "check", bot]))
        gz.append(timed(["gzip", "-6", "-c", bot]))
    median, mgz = statistics.median(times), statistics.median(gz)
    print(f"bot: {blocks} blocks, {mb:.1f} MB")
    print("runs (s): " + " ".join(f"{t:.3f}" for t in times))
    print(f"median: {median:.3f} s = {mb / median:.1f} MB/s (parse + check, {os.cpu_count()} cores)")
    if baseline:
        mb_base = statistics.median(base)
        print(f"baseline {baseline}: median {mb_base:.3f} s = {mb / mb_base:.1f} MB/s")
        print(f"ratio scenarist check / baseline (time): {median / mb_base:.2f}")
    print(f"reference gzip -6: median {mgz:.3f} s = {mb / mgz:.1f} MB/s")
    print(f"ratio scenarist check / gzip -6 (time): {median / mgz:.2f}")

    small, small_size = generate(tmp, 3000)
    one = [timed([exe, "check", small]) for _ in range(max(runs, 5))]
    print(f"1 MB bot ({small_size / 1e6:.2f} MB): check median {statistics.median(one) * 1000:.0f} ms, "
          f"max {max(one) * 1000:.0f} ms (target <= 100 ms)")

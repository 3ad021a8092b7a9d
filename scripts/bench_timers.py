#!/usr/bin/env python3
"""Firing 10,000 pending timers of one session, in order, against plain message turns.

Usage: scripts/bench_timers.py [TIMERS] [RUNS]     (defaults: 10000 timers, 5 runs)

Runs examples/bench_timers (release): one turn schedules TIMERS timers a second apart, then each
fires in a turn of its own at its due time (the order is checked); as the reference side by
side, the same number of message turns of the same bot. Prints the medians, the time per timer
and the ratio of a timer turn to a message turn. Target: all 10,000 fire in under 100 ms.
"""
import json, os, statistics, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
timers = sys.argv[1] if len(sys.argv) > 1 else "10000"
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "bench_timers"], cwd=root, check=True)
exe = os.path.join(root, "target", "release", "examples", "bench_timers")

results = [json.loads(subprocess.run([exe, timers], capture_output=True, text=True, check=True).stdout)
           for _ in range(runs)]
fire = statistics.median(r["fire_ms"] for r in results)
plan = statistics.median(r["schedule_ms"] for r in results)
msgs = statistics.median(r["message_turns_ms"] for r in results)
n = int(timers)
print(f"schedule {n} timers in one turn: median {plan:.1f} ms")
each = " ".join("%.1f" % r["fire_ms"] for r in results)
print(f"fire {n} timers in order: median {fire:.1f} ms ({fire * 1000 / n:.1f} µs a timer)  ({each})")
print(f"reference, {n} message turns: median {msgs:.1f} ms")
print(f"ratio timer turn / message turn: {fire / msgs:.2f}")
print(f"result: {'ok' if fire < 100 else 'SLOW'} (target: {n} timers fire in < 100 ms)")

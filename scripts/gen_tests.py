#!/usr/bin/env python3
"""Generates many golden test files from the example bots' tests, for timing `scenarist test`.

Each file is a variant of one of scenarios/*/tests/*.test: another user (id and name, so the
transcripts and the random numbers differ), pointing at the example bot with `bot PATH`. The
expected parts are then blessed once with the given binary, so every generated file passes.

    cargo build --release
    scripts/gen_tests.py /tmp/golden-1000 --count 1000
    time target/release/scenarist test /tmp/golden-1000
"""

import argparse
import itertools
import os
import pathlib
import shutil
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
NAMES = ["Ann", "Boris", "Chen", "Dana", "Emeka", "Fatima", "Gustav", "Hana", "Иван", "Olga"]
HEADER_SETTINGS = ("user-id ", "user-name ", "bot ")


def variant(text: str, bot: pathlib.Path, n: int) -> str:
    """The test with the file header's user and bot replaced."""
    lines = text.splitlines()
    body_start = next(
        (i for i, l in enumerate(lines) if l.startswith((">", "==="))), len(lines)
    )
    header = [l for l in lines[:body_start] if not l.startswith(HEADER_SETTINGS)]
    name = NAMES[n % len(NAMES)]
    settings = [f"bot {bot}", f"user-id {1000 + n}", f"user-name {name}"]
    return "\n".join(settings + header + lines[body_start:]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=pathlib.Path, help="directory to fill (emptied first)")
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument(
        "--scenarist",
        type=pathlib.Path,
        default=ROOT / "target" / "release" / "scenarist",
        help="the binary that blesses the generated files",
    )
    args = parser.parse_args()
    examples = sorted((ROOT / "scenarios").glob("*/tests/*.test"))
    if not examples:
        print("no example tests found under scenarios/*/tests", file=sys.stderr)
        return 2
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    for n, example in zip(range(args.count), itertools.cycle(examples)):
        bot = example.parent.parent
        text = variant(example.read_text(encoding="utf-8"), bot, n)
        name = f"{n:04}_{bot.name}_{example.stem}.test"
        (args.out / name).write_text(text, encoding="utf-8")
    # The expected parts for the new users, once.
    blessed = subprocess.run(
        [str(args.scenarist), "test", "--bless", str(args.out)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    summary = blessed.stdout.strip().splitlines()[-1:] or ["?"]
    print(f"{args.count} files in {args.out}; blessing them: {summary[0]}")
    return blessed.returncode


if __name__ == "__main__":
    sys.exit(main())

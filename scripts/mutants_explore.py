#!/usr/bin/env python3
"""Runs `sim explore` against every mutant that `cargo mutants` left alive.

cargo-mutants judges each mutant with `cargo test`; the simulator is a second judge. For each missed mutant this
script applies the mutation (the span and replacement cargo-mutants recorded in mutants.json) to a scratch git
worktree of HEAD, builds the simulator, and runs `sim explore` over a few hundred seeds: a failing explore kills
the mutant. It prints one line per mutant and the mutation score per file, before and after explore.

Usage (see BENCHMARKS.md, "Measuring the oracle"):
    cargo mutants --file sync-core/src/chain.rs --shard 0/8 --sharding round-robin \\
        --test-workspace false --profile release -j 1 --output /tmp/mut
    scripts/mutants_explore.py /tmp/mut/mutants.out --seeds 300
"""

import argparse
import collections
import json
import os
import pathlib
import subprocess
import sys
import tempfile


# A mutant that makes a world hang is caught; a few hundred seeds take well under a minute otherwise.
EXPLORE_TIMEOUT_S = 300


def lines_of(path):
    return [line.strip() for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def apply(text, span, replacement):
    """Replaces a 1-based, end-exclusive (line, column) span of `text`."""
    lines = text.split("\n")

    def offset(point):
        return sum(len(line) + 1 for line in lines[: point["line"] - 1]) + point["column"] - 1

    start, end = offset(span["start"]), offset(span["end"])
    return text[:start] + replacement + text[end:]


def explore(tree, target, seeds, seed_start):
    """Builds the simulator in `tree` and runs explore; returns (verdict, first failure line)."""
    env = dict(os.environ, CARGO_TARGET_DIR=str(target))
    build = subprocess.run(["cargo", "build", "--release", "-q", "-p", "sim"], cwd=tree, env=env,
                           capture_output=True, text=True)
    if build.returncode != 0:
        return "unviable", ""
    try:
        run = subprocess.run([str(target / "release" / "sim"), "explore", "--quiet", "--seeds", str(seeds),
                              "--seed-start", str(seed_start)], cwd=tree, capture_output=True, text=True,
                             timeout=EXPLORE_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return "killed", f"explore did not finish in {EXPLORE_TIMEOUT_S} s (a hang is a failure, as in cargo-mutants)"
    failures = [line for line in run.stdout.splitlines() if line.startswith("FAIL")]
    if run.returncode != 0:
        return "killed", failures[0] if failures else run.stderr.strip().splitlines()[-1:]
    return "survived", ""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mutants_out", type=pathlib.Path, help="the mutants.out directory of a cargo-mutants run")
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--seed-start", type=int, default=0)
    args = parser.parse_args()
    root = pathlib.Path(subprocess.check_output(["git", "rev-parse", "--show-toplevel"], text=True).strip())
    mutants = {m["name"]: m for m in json.loads((args.mutants_out / "mutants.json").read_text())}
    caught = lines_of(args.mutants_out / "caught.txt") + lines_of(args.mutants_out / "timeout.txt")
    missed = lines_of(args.mutants_out / "missed.txt")
    by_file = collections.defaultdict(lambda: collections.Counter())
    for name in caught:
        by_file[mutants[name]["file"]]["test"] += 1
    target = root / "target" / "mutants-explore"
    with tempfile.TemporaryDirectory() as scratch:
        tree = pathlib.Path(scratch) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), "HEAD"], cwd=root, check=True,
                       capture_output=True)
        try:
            for name in missed:
                mutant = mutants[name]
                path = tree / mutant["file"]
                original = path.read_text()
                path.write_text(apply(original, mutant["span"], mutant["replacement"]))
                verdict, why = explore(tree, target, args.seeds, args.seed_start)
                path.write_text(original)
                by_file[mutant["file"]][verdict if verdict != "killed" else "explore"] += 1
                print(f"{verdict:9} {name}" + (f"\n          {why}" if why else ""), flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=root, capture_output=True)
    print("\n| file | mutants | killed by cargo test | + by explore | survived | score (test) | score (+explore) |")
    print("|---|---|---|---|---|---|---|")
    for file, counts in sorted(by_file.items()):
        viable = counts["test"] + counts["explore"] + counts["survived"]
        test = 100 * counts["test"] / max(viable, 1)
        both = 100 * (counts["test"] + counts["explore"]) / max(viable, 1)
        print(f"| {file} | {viable} | {counts['test']} | {counts['explore']} | {counts['survived']} "
              f"| {test:.0f} % | {both:.0f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

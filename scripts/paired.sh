#!/usr/bin/env bash
# Two builds of `sim` measured on the same machine at the same time: both run `explore --quiet --jobs 1` on the
# same seeds, one core each, so that a noisy machine slows both alike. Prints runs per CPU second of each and
# their ratio. (The one that finishes first leaves the other alone on the machine, which favours the slower.)
#
#   scripts/paired.sh OLD_BINARY NEW_BINARY [SEEDS]     # e.g. /tmp/old/release/sim target/release/sim 2000
set -euo pipefail
old=$1 new=$2 seeds=${3:-2000}
out=$(mktemp -d)
/usr/bin/time -f "%U" "$old" explore --quiet --jobs 1 --seeds "$seeds" >/dev/null 2>"$out/old" &
/usr/bin/time -f "%U" "$new" explore --quiet --jobs 1 --seeds "$seeds" >/dev/null 2>"$out/new" &
wait
python3 - "$seeds" "$(tail -1 "$out/old")" "$(tail -1 "$out/new")" <<'PY'
import sys
seeds, old, new = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
print(f"old {seeds / old:.1f} runs per CPU second, new {seeds / new:.1f}: {old / new:.3f}x")
PY
rm -r "$out"

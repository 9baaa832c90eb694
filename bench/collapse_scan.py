"""Scan run folders' stats.jsonl for collapsed stages: how far each stage's reconstruction error
ends above the lowest it reached, and its longest streak above singan's collapse threshold
(`singan.training.restarts.COLLAPSE_*`). The figures behind that threshold (docs/benchmarks.md,
"A collapse and the watch for it").

    python bench/collapse_scan.py /work/bench17 runs/        # every stats.jsonl below these
"""

from __future__ import annotations

import argparse
import json
import math
import stat
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from singan.training.restarts import COLLAPSE_FACTOR, COLLAPSE_FLOOR  # noqa: E402


def stages(path: Path) -> dict[int, list[float]]:
    """The reconstruction errors of each stage of one stats.jsonl, in file order."""
    out: dict[int, list[float]] = {}
    try:
        text = path.read_text(errors="replace")
    except OSError:  # unreadable: no stages
        return out
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("rec_loss"), (int, float)):
            out.setdefault(int(row.get("scale", -1)), []).append(float(row["rec_loss"]))
    return out


def streak(errors: list[float]) -> int:
    """The longest run of log points above the threshold (against the lowest error so far)."""
    lowest, run, longest = math.inf, 0, 0
    for e in errors:
        run = run + 1 if e > max(COLLAPSE_FLOOR, COLLAPSE_FACTOR * lowest) else 0
        longest, lowest = max(longest, run), min(lowest, e)
    return longest


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("roots", nargs="+", type=Path, help="folders to search for stats.jsonl")
    p.add_argument("--min-points", type=int, default=4,
                   help="stages with fewer log points are left out")
    args = p.parse_args()
    ratios, streaks = [], []
    files = 0
    for root in args.roots:
        for path in sorted(root.rglob("stats.jsonl")):
            if not stat.S_ISREG(path.lstat().st_mode):  # the fault tests leave FIFOs behind
                continue
            files += 1
            for scale, errors in stages(path).items():
                if len(errors) < args.min_points:
                    continue
                ratios.append((errors[-1] / max(min(errors), 1e-12), str(path), scale))
                streaks.append((streak(errors), str(path), scale))
    if not ratios:
        sys.exit("no stage with enough log points found")
    ratios.sort()
    print(f"{files} files, {len(ratios)} stages with at least {args.min_points} log points")
    qs = [ratios[round(q * (len(ratios) - 1))][0] for q in (0.5, 0.9, 0.99, 0.999)]
    print("final / lowest error: median {:.2f}, 90% {:.2f}, 99% {:.2f}, 99.9% {:.2f}".format(*qs))
    print("largest:", ", ".join(f"{r:.2f} ({p} stage {s})" for r, p, s in ratios[-3:][::-1]))
    streaks.sort(reverse=True)
    print("longest streaks above the threshold (log points):")
    for n, path, scale in streaks[:8]:
        if n:
            print(f"  {n:3d}  {path} stage {scale}")


if __name__ == "__main__":
    main()

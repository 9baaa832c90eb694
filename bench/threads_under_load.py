"""Time a tiny training with 1 and 2 PyTorch threads (and the CLI's default) while other
processes keep the machine's cores busy: why the default thread count leaves busy cores alone.

    PYTHONPATH=src python bench/threads_under_load.py [--busy N] [--timeout S]

Starts N busy-looping processes (default: one per core), then runs
`singan train --preset tiny --max-size 48 --iters 20` with each thread setting in a fresh
process, and prints the wall-clock seconds (or "> S s" when it had to be stopped). Not a test:
the figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
TRAIN = ["train", "--preset", "tiny", "--max-size", "48", "--iters", "20", "--quiet",
         "--device", "cpu"]


def timed(threads: list[str], timeout: float) -> str:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(SRC))
        start = time.perf_counter()
        try:
            subprocess.run([sys.executable, "-m", "singan", *TRAIN, "--out", f"{tmp}/run",
                            *threads], env=env, check=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return f"> {timeout:.0f} s"
        return f"{time.perf_counter() - start:.1f} s"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--busy", type=int, default=os.cpu_count() or 1,
                   help="busy-looping processes to start (default: one per core)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds before giving up")
    args = p.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(args.busy)]
    try:
        time.sleep(65 if args.busy else 0)  # let the 1-minute load average see them
        print(f"load average {os.getloadavg()[0]:.1f} with {args.busy} busy process(es)")
        for label, flags in (("--threads 1", ["--threads", "1"]),
                             ("--threads 2", ["--threads", "2"]), ("default", [])):
            print(f"{label:12s} {timed(flags, args.timeout)}", flush=True)
    finally:
        for h in hogs:
            h.kill()


if __name__ == "__main__":
    main()

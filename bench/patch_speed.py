"""Seconds per output and peak memory of the patch engines (singan.patch), each case in its own
process so that its peak resident memory is its own.

    python bench/patch_speed.py --engine gpnn --size 250 --threads 2
    python bench/patch_speed.py --engine gpdm --size 250 --batch 4 --threads 2
    python bench/patch_speed.py --engine gpnn --size 1000 --threads 2      # the memory bound
    python bench/patch_speed.py --engine gpnn --size 250 --set search=exact

The image is the embedded landscape (or --image) resized to a long side of --size. Prints one
JSON line per case: engine, size, settings, seconds per output, peak RSS, CPU model and torch
threads, and the estimate `singan.patch.memory_needed` gives for the case.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[1] / "src")


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        found = re.search(r"^model name\s*:\s*(.+)$", text, flags=re.MULTILINE)
        flags = re.search(r"^flags\s*:\s*(.+)$", text, flags=re.MULTILINE)
        wanted = [f for f in (flags.group(1).split() if flags else [])
                  if f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16")]
        return (found.group(1).strip() if found else platform.processor()) + \
            f" ({' '.join(wanted)})"
    except OSError:
        return platform.processor()


def parse_sets(items: list[str]) -> dict:
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = int(value)
        except ValueError:
            try:
                out[key] = float(value)
            except ValueError:
                out[key] = value
    return out


def one_case(args: argparse.Namespace) -> dict:
    sys.path.insert(0, SRC)
    import torch

    import singan
    from singan import images, patch
    from singan.resize import resize

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    image = images.load_image(args.image) if args.image else \
        images.image_to_tensor(singan.default_image())
    image = resize(image, size=(round(image.shape[-2] * args.size / max(image.shape[-2:])),
                                round(image.shape[-1] * args.size / max(image.shape[-2:]))))
    image = image.to(device)
    settings = patch.settings_for(args.engine, **parse_sets(args.set))
    batch = args.batch if args.engine == "gpdm" else 1
    t0 = time.perf_counter()
    for i in range(0, args.num, batch):
        patch.sample(image, min(batch, args.num - i), engine=args.engine, seed=i,
                     settings=settings)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - t0) / args.num
    hw = tuple(image.shape[-2:])
    return {"engine": args.engine, "size": [int(hw[1]), int(hw[0])], "settings": args.set,
            "batch": batch, "outputs": args.num, "seconds_per_output": round(seconds, 2),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "estimate_mib": round(patch.memory_needed(settings, hw, hw, batch) / 2**20),
            "device": str(device), "cpu": cpu_model(), "threads": args.threads,
            "load_average": os.getloadavg()[0], "torch": torch.__version__,
            "date": time.strftime("%Y-%m-%d %H:%M %Z")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--engine", choices=("gpnn", "gpdm"), default="gpnn")
    ap.add_argument("--size", type=int, default=250, help="long side of the image, px")
    ap.add_argument("--image", default=None)
    ap.add_argument("--num", type=int, default=1, help="outputs timed")
    ap.add_argument("--batch", type=int, default=1, help="gpdm: outputs optimised together")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--in-process", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.in_process:
        print(json.dumps(one_case(args)))
        return 0
    out = subprocess.run([sys.executable, __file__, "--in-process", *sys.argv[1:]],
                         capture_output=True, text=True, check=False)
    sys.stdout.write(out.stdout)
    if out.returncode:
        sys.stderr.write(out.stderr)
    return out.returncode


if __name__ == "__main__":
    sys.exit(main())

"""How much of the training image each scale of a trained model reconstructs.

For every scale k >= 1 of each run folder: the RMSE against the training image at that scale of
the up-sampled reconstruction that enters scale k, and of what scale k makes of it (with the
reconstruction noise, as in training); and the detail scale k adds next to the detail that is
missing (mean absolute difference of neighbouring pixels, averaged over both directions, of
output - input and of real - input). A scale that learned its job lowers the RMSE and adds about
as much detail as is missing; values in [-1, 1] units.

    python bench/reconstruction.py runs/photo
    python bench/reconstruction.py runs/0 runs/1 --out rec.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

import singan
from singan import files
from singan.errors import SinGANError


def detail(x: torch.Tensor) -> float:
    """Mean absolute difference of horizontal and vertical neighbours."""
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs().mean()
    return float((dx + dy) / 2)


@torch.no_grad()
def per_scale(run: str | Path) -> list[dict]:
    """One row per scale k >= 1 of a finished run."""
    model = singan.load(run)
    rows = []
    entering = model.reconstruct(0)  # the chain of SinGAN.reconstruct, one scale at a time
    for k in range(model.num_scales):
        made = model.scale_step(k, entering, model.rec_noise(k))
        real = model.reals[k]
        if k > 0:
            rows.append({"scale": k, "size": list(model.sizes[k]),
                         "rmse_in": float((real - entering).pow(2).mean().sqrt()),
                         "rmse_out": float((real - made).pow(2).mean().sqrt()),
                         "detail_missing": detail(real - entering),
                         "detail_added": detail(made - entering)})
        if k + 1 < model.num_scales:
            entering = model.upsample(made, model.sizes[k + 1])
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", help="run folders written by `singan train`")
    p.add_argument("--out", default=None, help="also write all rows as JSON to this file")
    args = p.parse_args(argv)
    results = {run: per_scale(run) for run in args.runs}  # every run loads before any output
    print("| run | scale | size | RMSE in | RMSE out | detail missing | detail added |")
    print("|---|---|---|---|---|---|---|")
    for run, rows in results.items():
        for r in rows:
            print(f"| {run} | {r['scale']} | {r['size'][1]}x{r['size'][0]} | {r['rmse_in']:.4f} "
                  f"| {r['rmse_out']:.4f} | {r['detail_missing']:.4f} | "
                  f"{r['detail_added']:.4f} |")
    if args.out:
        files.atomic_write(Path(args.out), lambda f: f.write(json.dumps(results, indent=2).encode()))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SinGANError as e:
        print(f"reconstruction.py: error: {e}", file=sys.stderr)
        sys.exit(2)

"""What each stage of a short training reaches: the reconstruction error after every scale, and a
grid of the reconstruction and a few random samples per scale.

A cheap look at a training recipe before a full Places run (issue 17): a preset with overrides,
a few hundred iterations per scale, one image, one training seed. Prints one line per scale
(its size, the RMSE between the training image and the model's reconstruction at that scale,
and the mean losses of the scale's last iterations) and, with --grid, writes one row per scale:
the reconstruction, then --samples random samples, each scaled to the finest size.

    PYTHONPATH=src python bench/stage_probe.py ../shared/data/places-open/real/1.jpg \\
        --preset consingan --shrink 125 --set iters=300 --set crop_size=64 --grid probe.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F

import singan
from singan import images
from singan.resize import resize
from singan.training import Trainer


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image")
    p.add_argument("--preset", default="consingan")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override (repeatable), e.g. --set iters=300")
    p.add_argument("--shrink", type=int, default=None, metavar="PX",
                   help="shrink the image to this long side first (125: the CPU protocol)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--bf16", action="store_true")
    p.add_argument("--samples", type=int, default=4, help="random samples per row of the grid")
    p.add_argument("--grid", default=None, help="write the per-scale grid to this PNG")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    config = singan.make_config(args.preset, **overrides)
    real = images.load_image(args.image)
    if args.shrink:
        real = resize(real, args.shrink / max(real.shape[-2:]))
    trainer = Trainer.from_image(real, config, seed=args.seed, log_every=25, bf16=args.bf16)
    last: dict[int, dict[str, float]] = {}

    def keep(progress) -> None:
        if progress.losses:
            last[progress.scale] = progress.losses

    rows = []
    t0 = time.process_time()
    for n in range(trainer.model.num_scales):
        trainer.train_scale(n, keep)
        model = trainer.model
        with torch.no_grad():
            if model.family == "consingan":  # the image of stages 0..n
                rec = model.reconstruct(n + 1)
            else:  # scales 0..n, not up-sampled to the next one
                start = model.z_rec.new_zeros(1, 3, *model.sizes[0])
                rec = model.walk(start, 0, n + 1, noise="rec", upsample_end=False)
            rmse = float(((rec - model.reals[n]) ** 2).mean().sqrt())
            gen = torch.Generator(device=model.device).manual_seed(1)
            samples = model.synthesize(args.samples, model.sizes[:n + 1], generator=gen)
        losses = ", ".join(f"{k} {v:.4f}" for k, v in last.get(n, {}).items())
        print(f"scale {n} {model.sizes[n][0]}x{model.sizes[n][1]}: rec RMSE {rmse:.4f}; "
              f"{losses}; {time.process_time() - t0:.0f} CPU s so far", flush=True)
        big = F.interpolate(torch.cat([rec, samples]), size=model.sizes[-1], mode="nearest")
        rows.append(torch.cat(list(big), dim=-1))
    if args.grid:
        images.save_image(torch.cat(rows, dim=-2), args.grid)
    return 0


if __name__ == "__main__":
    sys.exit(main())

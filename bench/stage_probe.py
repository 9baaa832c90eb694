"""What each stage of a short training reaches: the reconstruction error after every scale, and a
grid of the reconstruction and a few random samples per scale.

A cheap look at a training recipe before a full Places run (issue 17): a preset with overrides,
a few hundred iterations per scale, one image, one training seed. Prints one line per scale
(its size, the RMSE between the training image and the model's reconstruction at that scale,
and the mean losses of the scale's last iterations) and, with --grid, writes one row per scale:
the reconstruction, then --samples random samples, each scaled to the finest size.

--upto S stops after scale S (0 = coarsest); --score N scores N random samples of the last
trained scale against the training image at that scale (SIFID, patch SWD, diversity, as
bench/places.py does at the finest one). A layout that a recipe loses is lost at the coarse
stages: on Places image 6 at 250 px, stage 2 (41x61) already shows whether the samples keep the
arch, for about a seventh of a whole training (issue 17):

    PYTHONPATH=src python bench/stage_probe.py ../shared/data/places-open/real/6.jpg \\
        --preset consingan-fast --set base_channels=64 --set max_channels=64 --upto 2 --score 16

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
    p.add_argument("--upto", type=int, default=None, metavar="S",
                   help="stop after scale S (default: train every scale)")
    p.add_argument("--score", type=int, default=0, metavar="N",
                   help="score N samples of the last trained scale (SIFID, SWD, diversity)")
    args = p.parse_args(argv)
    if args.upto is not None and args.upto < 0:
        p.error("--upto must be 0 (the coarsest scale) or more")
    if args.score < 0 or args.score == 1:
        p.error("--score needs at least 2 samples (diversity compares them), or 0 for none")
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
    last_scale = trainer.model.num_scales - 1 if args.upto is None else \
        min(args.upto, trainer.model.num_scales - 1)
    for n in range(last_scale + 1):
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
    if args.score:
        print(score(trainer.model, last_scale, args.score), flush=True)
    return 0


def score(model, n: int, num: int) -> str:
    """SIFID, SWD (means over `num` samples) and diversity of samples of scale n against the
    training image at that scale (samples from generator seed 123)."""
    from singan.metrics import evaluate, load_inception
    gen = torch.Generator(device=model.device).manual_seed(123)
    with torch.no_grad():
        samples = model.synthesize(num, model.sizes[:n + 1], generator=gen).clamp(-1, 1)
    values = evaluate(model.reals[n], samples, extractor=load_inception())
    sifid, swd = (sum(values[k]) / len(values[k]) for k in ("sifid", "swd"))
    h, w = model.sizes[n]
    return (f"scale {n} {h}x{w}, {num} samples: SIFID {sifid:.3f}, SWD {swd:.4f}, "
            f"diversity {values['diversity'][0]:.3f}")


if __name__ == "__main__":
    sys.exit(main())

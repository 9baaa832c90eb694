"""Sampling throughput (images per second) of a model of a preset's architecture.

The weights are random (speed does not depend on them): the model has the pyramid of the given
image and every scale's generator, as after training.

    python bench/sample_speed.py --preset paper --device cuda --batch 64
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import torch  # noqa: E402

import singan  # noqa: E402
from singan import images  # noqa: E402
from singan.models import init_weights  # noqa: E402
from singan.training import Trainer  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="paper")
    ap.add_argument("--image", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=10.0, help="time spent measuring")
    args = ap.parse_args()
    image = images.load_image(args.image) if args.image else images.image_to_tensor(singan.default_image())
    cfg = singan.make_config(args.preset)
    model = Trainer.from_image(image, cfg, device=args.device).model
    gen = torch.Generator(device=args.device).manual_seed(0)
    model.grow_to(model.num_scales)
    model.to(args.device)
    for g in model.generators:
        init_weights(g, gen)
    model.noise_amp.fill_(0.05)
    model.eval()
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    def rate(fn, per_call: int) -> float:
        fn()
        sync()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < args.seconds:
            fn()
            n += per_call
        sync()
        return n / (time.perf_counter() - t0)

    batched = rate(lambda: singan.generate(model, args.batch, generator=gen), args.batch)
    seeded = rate(lambda: singan.generate(model, 4, seeds=[0, 1, 2, 3]), 4)
    h, w = model.sizes[-1]
    print(f"preset {args.preset}, {model.num_scales} scales, {h}x{w} px, device {args.device}: "
          f"{batched:.1f} images/s batched (batch {args.batch}), {seeded:.1f} images/s with "
          f"per-sample seeds")


if __name__ == "__main__":
    main()

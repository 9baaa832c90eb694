"""Measure peak memory of training one scale, of a whole `fast` run (1 iteration per scale), of
sampling and of reading a large image file on CPU, to calibrate `budget.training_memory`,
`budget.generation_memory` and `budget.image_memory`.

    PYTHONPATH=src python bench/memory.py [KIND ...]    # kinds: train sample fast image

Each measurement runs in a fresh process (peak resident memory, ru_maxrss) and prints
measured bytes, the estimate and their ratio. Not a test: the figures go in docs/reliability.md.
"""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys, torch
import singan
from singan import budget
from singan.training import Trainer
kind, side, ch, up = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(2)
if kind == "image":  # reading a side x side PNG (smooth content, as photos) into a tensor
    import os, tempfile
    import numpy as np
    from PIL import Image
    path = os.path.join(tempfile.mkdtemp(), "big.png")
    small = (np.random.default_rng(0).random((side // 8, side // 8, 3)) * 255).astype(np.uint8)
    Image.fromarray(small).resize((side, side), Image.BILINEAR).save(path)
    del small
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    x = singan.load_image(path)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    os.remove(path)
    print(json.dumps({"kind": kind, "side": side, "channels": 0, "measured": peak - base,
                      "estimate": budget.image_memory(side, side)}))
    sys.exit()
if kind == "fast":  # a whole run of the fast preset (1 iteration per scale): windows and pool
    cfg = singan.make_config("fast", max_size=side, iters=1, iters_finest=0)
    img = torch.rand(1, 3, side * 3 // 4, side) * 2 - 1
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tr = Trainer.from_image(img, cfg)
    tr.run()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"kind": kind, "side": side, "channels": cfg.max_channels,
                      "measured": peak - base,
                      "estimate": budget.training_memory(cfg, tr.model.sizes)}))
    sys.exit()
cfg = singan.make_config("paper", min_size=side, max_size=side, base_channels=ch,
                         max_channels=ch, iters=2)
img = torch.rand(1, 3, side, side) * 2 - 1
tr = Trainer.from_image(img, cfg)
if kind == "sample":
    tr.train_scale(0)
    tr.train_scale(1)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
if kind == "train":
    tr.train_scale(0)
    est = budget.training_memory(cfg, [(side, side)])
else:
    out = singan.generate(tr.model.eval(), 1, seeds=[0], scale_h=up, scale_w=up)
    est = budget.generation_memory(cfg, up * side, up * side)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"kind": kind, "side": up * side, "channels": ch, "measured": peak - base,
                  "estimate": est}))
"""


def measure(kind: str, side: int, channels: int, up: int = 1) -> dict:
    """Peak bytes of training one scale of side x side, or of sampling an output `up` times
    larger than a side x side model."""
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(side), str(channels), str(up)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


CASES = [("train", 64, 32, 1), ("train", 128, 32, 1), ("train", 128, 64, 1),
         ("train", 256, 32, 1), ("sample", 32, 32, 16), ("sample", 32, 32, 32),
         ("sample", 32, 64, 32), ("fast", 512, 32, 1), ("fast", 1000, 32, 1),
         ("image", 4000, 0, 1), ("image", 7000, 0, 1)]
# (kind, side, channels, output / model size); "fast": a whole fast run on a side x 3/4 side
# image; "image": reading a side x side PNG


def main() -> None:
    kinds = set(sys.argv[1:])
    for kind, side, ch, up in CASES:
        if kinds and kind not in kinds:
            continue
        r = measure(kind, side, ch, up)
        print(f"{kind:6s} {r['side']:4d}px x{ch:3d} ch: measured "
              f"{r['measured'] / 2**20:7.1f} MiB, estimate {r['estimate'] / 2**20:7.1f} MiB, "
              f"ratio {r['estimate'] / max(1, r['measured']):.2f}", flush=True)


if __name__ == "__main__":
    main()

"""Which harmonization scale keeps the pasted object and restyles it (issue 19).

Trains a `tiny` model on each of the shared harmonization examples (../shared/data/harmonization)
unless RUNS/NAME holds one, harmonizes X_naive.jpg with its mask at every injection scale (three
seeds) and prints, per scale, inside the mask:

- keep: the result's distance from the training image (the background without the object),
  relative to the naive collage's: 1 = the object is all there, 0 = erased;
- change: the result's distance from the naive collage, relative to the same: how much it was
  restyled.

    PYTHONPATH=src python bench/harmonize_scales.py --runs /tmp/harm [--names scream street]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import singan
from singan import images
from singan.apps.masks import prepare_mask

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "harmonization"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=Path, required=True)
    p.add_argument("--names", nargs="+",
                   default=["scream", "street", "watercolor_tree", "pencil_building"])
    args = p.parse_args()
    if not DATA.is_dir():
        sys.exit(f"no shared harmonization data at {DATA}")
    for name in args.names:
        run = args.runs / name
        if not (run / "model.safetensors").exists():
            subprocess.run([sys.executable, "-m", "singan", "train", str(DATA / f"{name}.jpg"),
                            "--out", str(run), "--preset", "tiny", "--quiet"], check=True)
        model = singan.load(run)
        h, w = model.sizes[-1]
        naive = images.read_image(DATA / f"{name}_naive.jpg").resize((w, h))
        mask = images.read_image(DATA / f"{name}_naive_mask.jpg").convert("L").resize((w, h))
        m = prepare_mask(mask, model)
        nt = images.image_to_tensor(naive).reshape(1, 3, h, w)
        real = model.reals[-1]

        def inside(d, m=m):
            return float((d.abs().mean(1, keepdim=True) * m).sum() / m.sum())
        base = inside(nt - real)
        row = []
        for k in range(1, model.num_scales):
            keep = change = 0.0
            for seed in range(3):
                r = singan.harmonize(model, naive, mask, start_scale=k, seed=seed)
                r = r.blended.clamp(-1, 1)
                keep += inside(r - real) / base / 3
                change += inside(r - nt) / base / 3
            row.append(f"{k}/{model.num_scales - 1}: keep {keep:.2f} change {change:.2f}")
        print(f"{name} ({w}x{h}): " + " | ".join(row), flush=True)


if __name__ == "__main__":
    main()

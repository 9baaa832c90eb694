"""Which injection scale of harmonization and editing does what (issue 19).

harmonize: trains a `tiny` model on each of the shared harmonization examples
(../shared/data/harmonization) unless RUNS/NAME holds one, harmonizes X_naive.jpg with its mask at
every injection scale (three seeds) and prints, per scale, inside the mask:

- keep: the result's distance from the training image (the background without the object),
  relative to the naive collage's: 1 = the object is all there, 0 = erased;
- change: the result's distance from the naive collage, relative to the same: how much it was
  restyled.

edit: the same on the shared editing examples (../shared/data/editing, X.png and X_edit_K.png
with its mask, RUNS/edit_X), printing "change" (1 = the edit entirely regenerated, 0 = it comes
back as painted).

    PYTHONPATH=src python bench/app_scales.py harmonize --runs /tmp/harm [--names scream street]
    PYTHONPATH=src python bench/app_scales.py edit --runs /tmp/harm [--names stone tree]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import singan
from singan import images
from singan.apps.masks import prepare_mask
from singan.errors import InputError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
DATA = SHARED / "harmonization"
EDITS = SHARED / "editing"


def trained(run: Path, image: Path):
    if not (run / "model.safetensors").exists():
        subprocess.run([sys.executable, "-m", "singan", "train", str(image), "--out", str(run),
                        "--preset", "tiny", "--quiet"], check=True)
    return singan.load(run)


def edit_scales(runs: Path, names: list[str]) -> None:
    for name in names:
        model = trained(runs / f"edit_{name}", EDITS / f"{name}.png")
        h, w = model.sizes[-1]
        real = model.reals[-1]
        for i in range(1, 6):
            edited = images.read_image(EDITS / f"{name}_edit_{i}.png").resize((w, h))
            mask = images.open_image(EDITS / f"{name}_edit_{i}_mask.png").resize((w, h))
            try:
                m = prepare_mask(mask, model)
            except InputError as e:
                print(f"{name}_edit_{i}: skipped ({e})")
                continue
            et = images.image_to_tensor(edited).reshape(1, 3, h, w)

            def inside(d, m=m):
                return float((d.abs().mean(1, keepdim=True) * m).sum() / m.sum())
            base = inside(et - real)
            row = []
            for k in range(1, model.num_scales):
                change = sum(inside(singan.edit(model, edited, mask, start_scale=k, seed=s)
                                    .blended.clamp(-1, 1) - et) for s in range(3)) / 3 / base
                row.append(f"{k}/{model.num_scales - 1}: change {change:.2f}")
            print(f"{name}_edit_{i} ({w}x{h}): " + " | ".join(row), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("app", choices=("harmonize", "edit"))
    p.add_argument("--runs", type=Path, required=True)
    p.add_argument("--names", nargs="+")
    args = p.parse_args()
    if not SHARED.is_dir():
        sys.exit(f"no shared data at {SHARED}")
    if args.app == "edit":
        edit_scales(args.runs, args.names or ["stone", "tree"])
        return
    for name in args.names or ["scream", "street", "watercolor_tree", "pencil_building"]:
        model = trained(args.runs / name, DATA / f"{name}.jpg")
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

"""Make the pictures of docs/examples.md: train the example models, run every application.

Usage (from the repository root):

    PYTHONPATH=src python docs/make_examples.py [--data ../shared/data] [--work /tmp/singan-ex]

Everything runs on the CPU through the command line (`singan.cli.main`), printing each command.
Models already in --work are reused; training them takes a few hours on a busy 2-core machine
(about 20-25 CPU minutes each). The pictures go to docs/images/.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from PIL import Image, ImageDraw, ImageSequence

from singan.cli import main

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "docs" / "images"
TRAIN = ["--max-size", "128", "--base-channels", "32", "--max-channels", "32", "--iters", "300",
         "--seed", "0", "--device", "cpu", "--threads", "1", "--quiet"]
ITERS = TRAIN.index("--iters") + 1
GAP = 4  # px between the panels of a figure
MAX_BYTES = 200_000  # larger figures are stored with 256 colours


def singan(*argv) -> None:
    argv = [str(a) for a in argv]
    print("$ singan " + shlex.join(argv), flush=True)
    if main(argv) != 0:
        raise SystemExit(f"failed: singan {shlex.join(argv)}")


def train(image: Path, run: Path, *extra: str) -> None:
    if not (run / "model.safetensors").exists():
        singan("train", image, "--out", run, *extra, *TRAIN)


def panels(paths: list[Path], out: Path, height: int) -> None:
    """Put images side by side at `height` (shrunk smoothly, enlarged by repeating pixels)."""
    ims = [Image.open(p).convert("RGB") for p in paths]
    ims = [im.resize((round(im.width * height / im.height), height),
                     Image.LANCZOS if im.height > height else Image.NEAREST) for im in ims]
    sheet = Image.new("RGB", (sum(im.width for im in ims) + GAP * (len(ims) - 1), height), "white")
    x = 0
    for im in ims:
        sheet.paste(im, (x, 0))
        x += im.width + GAP
    sheet.save(out, optimize=True)
    if out.stat().st_size > MAX_BYTES:  # keep the repository small: 256 colours
        sheet.quantize(256, dither=Image.Dither.FLOYDSTEINBERG).save(out, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


def small_gif(src: Path, out: Path, colours: int = 32) -> None:
    """Re-save a GIF with one small palette (that of its first frame) to keep the repo small."""
    with Image.open(src) as im:
        frames = [f.convert("RGB") for f in ImageSequence.Iterator(im)]
        duration = im.info.get("duration", 100)
    palette = frames[0].quantize(colours)
    q = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    q[0].save(out, save_all=True, append_images=q[1:], duration=duration, loop=0, optimize=True)
    print(f"wrote {out} ({out.stat().st_size // 1024} KB)")


def draw_paint(path: Path, size: tuple[int, int]) -> None:
    """A rough paint of a desert scene: sky, sand and one rock arch in a new place."""
    w, h = size
    im = Image.new("RGB", size, (70, 130, 200))
    d = ImageDraw.Draw(im)
    d.rectangle([0, int(0.62 * h), w, h], fill=(220, 180, 120))
    d.ellipse([int(0.08 * w), int(0.22 * h), int(0.62 * w), int(0.95 * h)], fill=(150, 85, 45))
    d.ellipse([int(0.22 * w), int(0.5 * h), int(0.46 * w), int(1.05 * h)], fill=(225, 185, 125))
    d.polygon([(int(0.7 * w), h), (int(0.82 * w), int(0.45 * h)), (w, int(0.4 * h)), (w, h)],
              fill=(160, 95, 50))
    im.save(path)


def main_script() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--work", type=Path, default=Path("/tmp/singan-ex"))
    p.add_argument("--iters", type=int, default=int(TRAIN[ITERS]),
                   help="iterations per scale of the models not trained yet")
    args = p.parse_args()
    TRAIN[ITERS] = str(args.iters)
    data, work = args.data, args.work
    work.mkdir(parents=True, exist_ok=True)
    IMAGES.mkdir(parents=True, exist_ok=True)

    # Models: editing and paint share the stone model.
    train(data / "editing" / "stone.png", work / "stone")
    train(data / "harmonization" / "scream.jpg", work / "scream")
    train(data / "animation" / "lightning1.png", work / "lightning1", "--mode", "animation")

    # Super-resolution of a 120 x 80 copy of the zebra, x4.
    small = work / "zebra_small.png"
    Image.open(data / "generation" / "zebra.png").convert("RGB").resize(
        (120, 80), Image.LANCZOS).save(small)
    sr_out = work / "zebra_x4.png"
    if not sr_out.exists():
        singan("sr", small, "--factor", 4, "--out", sr_out, *TRAIN[2:])
    bicubic = work / "zebra_bicubic_x4.png"
    Image.open(small).resize((480, 320), Image.BICUBIC).save(bicubic)
    panels([small, bicubic, sr_out], IMAGES / "sr.png", 240)

    # Paint-to-image.
    paint = work / "paint.png"
    draw_paint(paint, (250, 168))
    run = work / "stone"
    singan("paint", run, paint, "--out", work / "painted.png", "--start-scale", "all", "--force")
    singan("paint", run, paint, "--out", work / "painted.png", "--force")
    panels([paint, work / "painted.png"], IMAGES / "paint.png", 168)

    # Editing.
    edit_in = data / "editing" / "stone_edit_1.png"
    edit_mask = data / "editing" / "stone_edit_1_mask.png"
    singan("edit", run, edit_in, "--mask", edit_mask, "--out", work / "edited.png", "--force",
           "--save-raw")
    singan("edit", run, edit_in, "--mask", edit_mask, "--out", work / "edited_ft.png", "--force",
           "--fine-tune", 200)
    panels([edit_in, work / "edited.png", work / "edited_ft.png"], IMAGES / "edit.png", 168)

    # Harmonization.
    run = work / "scream"
    naive = data / "harmonization" / "scream_naive.jpg"
    mask = data / "harmonization" / "scream_naive_mask.jpg"
    singan("harmonize", run, naive, "--mask", mask, "--out", work / "harmonized.png", "--force")
    singan("harmonize", run, naive, "--mask", mask, "--out", work / "harmonized_ft.png",
           "--force", "--fine-tune", 200)
    panels([naive, work / "harmonized.png", work / "harmonized_ft.png"],
           IMAGES / "harmonize.png", 256)

    # Animation.
    gif = work / "animation.gif"
    singan("animate", work / "lightning1", "--out", gif, "--frames", 30, "--force")
    small_gif(gif, IMAGES / "animation.gif")


if __name__ == "__main__":
    main_script()

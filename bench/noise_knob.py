"""Sample-time noise factors: do louder noise draws buy diversity, and at what SIFID?

Samples kept run folders of the Places benchmark (bench/places.py --keep-runs DIR, one folder per
image, DIR/K for real/K.jpg) with each stage's fresh noise multiplied by a factor, and scores every
setting as places.py does (10 samples, seeds 0..N-1, SIFID and SWD per sample, diversity of all).
No training: the models are the runs' own. A setting is LABEL=F0/F1/..., one factor per stage from
the coarsest (missing stages keep 1); `base=1` is the models' own sampling and gives the same
figures as places.py.

    PYTHONPATH=src python bench/noise_knob.py --data ../shared/data/places-open --shrink 125 \
        --runs /work/bench17/runs125/cfast-s0 --setting base=1 --setting z0x2=2 \
        --setting z12x3=1/3/3 --out /work/bench17/knob.jsonl

Each result is appended to --out as one JSON line (run folder, setting, factors, sifid, swd,
diversity); a pair already there is not scored again, so the command can be run again as more
runs finish. Prints the mean over the runs of every setting.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import torch

import singan
from singan import images
from singan.bounds import COUNT
from singan.cli.common import resolve_device
from singan.errors import SinGANError
from singan.metrics import evaluate, load_inception
from singan.resize import resize
from singan.run.layout import CONFIG_NAME, MODEL_NAME
from singan.sample import scale_sizes


def parse_setting(text: str) -> tuple[str, list[float]]:
    label, sep, factors = text.partition("=")
    if not sep or not label:
        raise SystemExit(f"setting {text!r}: expected LABEL=F0/F1/...")
    try:
        values = [float(f) for f in factors.split("/")]
    except ValueError:
        raise SystemExit(f"setting {text!r}: factors must be numbers") from None
    if any(v < 0 for v in values):
        raise SystemExit(f"setting {text!r}: factors must be >= 0")
    return label, values


def draw_scaled(model, n: int, factors: list[float]) -> torch.Tensor:
    """Samples of seeds 0..n-1, each stage's fresh noise drawn in the order the model's own
    sampling draws it (so factors of 1 give its samples) and multiplied by its factor."""
    sizes = scale_sizes(model)[: model.num_trained]
    outs = []
    for seed in range(n):
        gen = torch.Generator(device=model.device).manual_seed(seed)
        noise = {}
        for k, size in enumerate(sizes):
            f = factors[k] if k < len(factors) else 1.0
            noise[k] = model.draw_noise(k, 1, size, gen) * f
        outs.append(singan.generate(model, 1, noise=noise))
    return torch.cat(outs).clamp(-1, 1)


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except (SinGANError, OSError, ValueError, KeyError) as e:  # one line, no traceback
        print(f"noise_knob: {e}", file=sys.stderr)
        return 1


def run(argv: list[str] | None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder with real/K.jpg")
    p.add_argument("--runs", nargs="+", required=True, help="folders of kept runs (DIR/K)")
    p.add_argument("--setting", action="append", required=True, metavar="LABEL=F0/F1/...")
    p.add_argument("--shrink", type=int, default=None, help="long side the runs were trained at")
    p.add_argument("--samples", type=int, default=10)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True, help="JSON-lines file of results (appended)")
    args = p.parse_args(argv)
    settings = dict(parse_setting(s) for s in args.setting)
    if args.samples < 2:
        raise SinGANError("--samples must be at least 2 (diversity needs several)")
    COUNT.check(args.samples, "--samples")
    for runs in args.runs:
        if not Path(runs).is_dir():
            raise SinGANError(f"{runs}: no such folder of runs")
    device = resolve_device("cpu", args.threads)
    out = Path(args.out)
    done = set()
    if out.is_file():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done.add((r["run"], r["setting"]))
    extractor = load_inception(device=device)
    for runs in args.runs:
        for folder in sorted(Path(runs).iterdir()):
            if not (folder / CONFIG_NAME).is_file() or not (folder / MODEL_NAME).is_file():
                continue  # not a run, or one before its first stage
            model = singan.load(folder, device, allow_incomplete=True)
            if not model.is_complete:
                continue  # still training: scored by a later call
            path = Path(args.data) / "real" / f"{folder.name}.jpg"
            if not path.is_file():
                raise SinGANError(f"{path}: no real image for the run {folder}")
            real = images.load_image(path)
            if args.shrink:
                real = resize(real, args.shrink / max(real.shape[-2:]))
            for label, factors in settings.items():
                if (str(folder), label) in done:
                    continue
                samples = draw_scaled(model, args.samples, factors)
                s = evaluate(real, samples, extractor=extractor)
                row = {"run": str(folder), "image": folder.name, "setting": label,
                       "factors": factors, "sifid": statistics.fmean(s["sifid"]),
                       "swd": statistics.fmean(s["swd"]), "diversity": s["diversity"][0]}
                with out.open("a") as fh:
                    fh.write(json.dumps(row) + "\n")
                print(f"{folder} {label}: SIFID {row['sifid']:.3f} SWD {row['swd']:.4f} "
                      f"div {row['diversity']:.3f}", file=sys.stderr, flush=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()] if out.is_file() else []
    scored = {(r["run"], r["setting"]): r for r in rows}
    # only the runs scored with every setting, so that the means compare the same images
    common = sorted(run for run in {r["run"] for r in rows}
                    if all((run, label) in scored for label in settings))
    print("| setting | runs | mean SIFID | median SIFID | mean SWD | mean diversity |")
    print("|---|---|---|---|---|---|")
    for label in settings:
        sel = [scored[(run, label)] for run in common]
        if not sel:
            continue
        print(f"| {label} | {len(sel)} | {statistics.fmean(r['sifid'] for r in sel):.3f} | "
              f"{statistics.median(r['sifid'] for r in sel):.3f} | "
              f"{statistics.fmean(r['swd'] for r in sel):.4f} | "
              f"{statistics.fmean(r['diversity'] for r in sel):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

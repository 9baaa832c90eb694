"""`singan train-many` and `singan sample-many`: one model per image for whole folders of images,
trained locally (a child `singan train` per image, N at a time) or on a Dask cluster.

Each entry (an image of train-many, a run of sample-many) is handled on its own: a bad one is
named with its reason (train-many: in the summary, as failed; sample-many: one line), the others
go on, and the exit status is 1 when any failed. A bug still stops with its traceback.
"""

from __future__ import annotations

import argparse
import re
import shlex
import sys
import time
from pathlib import Path

import torch

from .. import bounds
from ..batch import (FINISHED, FOREIGN, NEW, UNUSABLE, TrainOptions, find_images, job_status,
                     plan_jobs, plan_slots, train_local, write_summary)
from ..batch.jobs import ACTIONS, child_argv
from ..batch.report import BatchResult, Snapshot
from ..config import MODES, default_preset, make_config
from ..errors import CommandError
from ..run import load
from ..run.layout import CONFIG_NAME, TRAIN_MANY_LOG_NAME
from .common import (HelpFormatter, add_config_args, bounded, config_argv, config_overrides,
                     default_threads, path_arg, resolve_device, say)
from .failures import describe
from .sampling import OOM_ADVICE as SAMPLE_OOM_ADVICE
from .sampling import add_sample_args, write_samples

TRAIN_EXAMPLES = f"""\
examples:
  singan train-many photos/ --out runs/ --preset tiny          # runs/<stem>/ for each image
  singan train-many photos/ --out runs/ --jobs 2               # two at a time, cores shared
  singan train-many list.txt --out runs/ --gpus 0,1,2,3        # one image per GPU at a time
  singan train-many a.jpg b.png --out runs/ --iters 1000 --retries 2   # any `singan train` flag
  singan train-many photos/ --out runs/ -n                     # show the plan, train nothing
  singan train-many photos/ --out /shared/runs --dask tcp://head:8786 --device cuda

Run it again with the same arguments to finish a batch: finished runs are skipped, interrupted
ones resumed, failed ones tried again. RUNS/summary.json and summary.csv list every image's
status, attempts, training time and error; RUNS/<stem>/{TRAIN_MANY_LOG_NAME} holds each attempt's
output.
"""

SAMPLE_EXAMPLES = """\
examples:
  singan sample-many runs/ --num 8 --out samples/        # samples/<run>/seed0000.png ...
  singan sample-many runs/ --num 1 --start-scale 1 --out s1/
"""

DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-many", help="train one model per image for many images",
                       description="`singan train-many`: one run folder per image, each trained "
                       "by a child `singan train` (a bad image or a crash fails alone), N at a "
                       "time on the local CPU cores or GPUs, or on a Dask cluster.",
                       epilog=TRAIN_EXAMPLES, formatter_class=HelpFormatter)
    p.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="a folder (its image files), an image file, or a list file (one image "
                        "path per line, # comments, relative paths relative to the list)")
    p.add_argument("--out", required=True, type=path_arg,
                   help="folder for the run folders (RUNS/<image stem>/) and the summary")
    p.add_argument("--jobs", type=bounded(bounds.JOBS), default=None,
                   help="images trained at once (default: one per GPU when training on GPUs, "
                        "else 1)")
    p.add_argument("--gpus", default=None, metavar="LIST",
                   help="comma-separated GPU ids; slot i sees only GPU LIST[i %% len(LIST)] "
                        "(CUDA_VISIBLE_DEVICES). Default with --device auto or cuda: every GPU")
    p.add_argument("--retries", type=bounded(bounds.RETRIES), default=1,
                   help="more attempts for an image whose training crashed or was killed (bad "
                        "images and settings are not retried)")
    p.add_argument("--mode", default="generation", choices=MODES,
                   help="generation; sr (for `singan sr`); animation (for `singan animate`)")
    p.add_argument("--seed", type=bounded(bounds.SEED), default=0,
                   help="random seed of every training")
    add_config_args(p)
    g = p.add_argument_group("where the children run")
    g.add_argument("--device", default="auto",
                   help="auto (every GPU if CUDA is available, else CPU), cpu, cuda or cuda:N")
    g.add_argument("--threads", type=bounded(bounds.THREADS), default=None,
                   help="CPU threads per child (default: an equal share of the physical cores, "
                        "at most 4 each: the physical cores divided by --jobs; on Dask, a worker "
                        "machine's cores divided by its worker's threads)")
    g.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run every image as a task on the Dask cluster with this scheduler "
                        "(tcp://host:8786); needs `pip install singan[cluster]`, see "
                        "docs/cluster.md")
    g.add_argument("--dask-return-zip", action="store_true",
                   help="with --dask: the workers do not share --out; send each image with its "
                        "task and bring each run folder back as a zip")
    p.add_argument("--quiet", action="store_true", help="no progress bar or messages")
    p.add_argument("-n", "--dry-run", action="store_true",
                   help="list each image's run folder, its state and what would be done")
    p.set_defaults(func=run_train_many)

    s = sub.add_parser("sample-many", help="draw samples from every finished run of a folder",
                       description="`singan sample-many`: `singan sample` for every finished "
                       "run folder in RUNS, into OUT/<run>/ (unfinished runs are skipped with a "
                       "note).", epilog=SAMPLE_EXAMPLES, formatter_class=HelpFormatter)
    s.add_argument("runs", metavar="RUNS", help="folder of run folders (e.g. train-many's --out)")
    s.add_argument("--out", required=True, type=path_arg,
                   help="output folder; samples go to OUT/<run>/")
    add_sample_args(s)
    s.set_defaults(func=run_sample_many)


# --- train-many -------------------------------------------------------------------------------


def run_train_many(args: argparse.Namespace) -> int:
    if args.dask:
        _check_dask_args(args)
    elif args.dask_return_zip:
        raise CommandError("--dask-return-zip needs --dask")
    slots = None if args.dask else _local_slots(args)
    preset = args.preset or _default_preset(args, slots)
    overrides = config_overrides(args)
    make_config(preset, args.mode, **overrides)  # bad settings fail here, not in every child
    options = TrainOptions(config_args=("--preset", preset, "--mode", args.mode,
                                        *config_argv(overrides), "--seed", str(args.seed)))
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CommandError(f"{out} exists and is not a folder")
    jobs = plan_jobs(find_images(args.sources), out)
    if args.dry_run:
        _print_plan(jobs, options, slots)
        return 0
    info = {"backend": f"dask {args.dask}" if args.dask else "local",
            "slots": len(slots) if slots else None, "sources": [str(s) for s in args.sources],
            "out": str(out.absolute()), "train_args": list(options.config_args),
            "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    display = _Display(len(jobs), out, info, args.quiet)
    try:
        if args.dask:
            result = _train_dask(jobs, options, args, display)
        else:
            result = train_local(jobs, options, slots, retries=args.retries, on_update=display)
    finally:
        display.close()
    write_summary(out, result, info)
    return _report(result, out, args.quiet)


def _default_preset(args: argparse.Namespace, slots) -> str:
    """The preset without --preset: `singan train`'s default for the device the children train
    on (local slots: GPU or CPU; on Dask, --device: cpu, else the workers' GPUs)."""
    if slots is not None:
        device = "cpu" if all(s.device == "cpu" for s in slots) else "cuda"
    else:
        device = "cpu" if args.device == "cpu" else "cuda"
    return default_preset(device, args.mode)


def _local_slots(args: argparse.Namespace):
    """Slots of the local scheduler: one per GPU (or --jobs of them sharing the GPUs), else
    --jobs CPU slots."""
    if args.gpus is not None:
        gpus = [g.strip() for g in args.gpus.split(",") if g.strip()]
        if not gpus:
            raise CommandError("--gpus needs a comma-separated list of GPU ids, e.g. 0,1")
        if args.device not in ("auto", "cuda"):
            raise CommandError("--gpus puts every child on a GPU; leave --device out")
        if not torch.cuda.is_available():
            raise CommandError("--gpus given, but PyTorch sees no CUDA GPU")
    else:
        device = resolve_device(args.device)
        gpus = []
        if device.type == "cuda":
            gpus = [str(device.index)] if device.index is not None else \
                [str(i) for i in range(torch.cuda.device_count())]
    jobs = args.jobs or len(gpus) or 1
    return plan_slots(jobs, gpus=gpus, device="cpu", threads=args.threads or default_threads(jobs))


def _check_dask_args(args: argparse.Namespace) -> None:
    if args.gpus is not None:
        raise CommandError("--gpus is for local runs; on Dask each worker uses the GPU it was "
                           "started with (one worker per GPU, --resources GPU=1)")
    if args.jobs is not None:
        raise CommandError("--jobs is for local runs; on Dask the workers' threads (or GPU "
                           "resources) decide how many images train at once")
    if not DEVICE.fullmatch(args.device):
        raise CommandError(f"--device {args.device}: use auto, cpu, cuda or cuda:N")


def _train_dask(jobs, options, args, display) -> BatchResult:
    from ..batch.cluster import train_dask

    return train_dask(jobs, options, args.dask, device=args.device, threads=args.threads,
                      retries=args.retries, return_zip=args.dask_return_zip, on_update=display)


def _print_plan(jobs, options: TrainOptions, slots) -> None:
    for job in jobs:
        status, detail = job_status(job)
        action = {FINISHED: "skip", FOREIGN: "fail", UNUSABLE: "fail"}.get(status) or \
            ACTIONS[status]
        print(f"{job.name}\t{action}\t{job.image}" + (f"\t({detail})" if detail else ""))
    usable = [job for job in jobs if not job.problem]
    if slots:
        print(f"# {len(slots)} slot(s): " + "; ".join(s.describe() for s in slots))
    if slots and usable:
        print("# a new run is trained with: " +
              shlex.join(child_argv(usable[0], NEW, options, slots[0])))


class _Display:
    """The overall progress bar (images finished of total, done/skipped/failed/running, time
    left); the summary is rewritten whenever an image is settled."""

    def __init__(self, total: int, out: Path, info: dict, quiet: bool):
        self.out, self.info, self.t0 = out, info, time.monotonic()
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="img", dynamic_ncols=True, file=sys.stderr,
                            bar_format="{n_fmt}/{total_fmt} images |{bar}| [{elapsed}{postfix}]")

    def __call__(self, snap: Snapshot) -> None:
        if snap.finished:
            write_summary(self.out, BatchResult(snap.records, False,
                                                time.monotonic() - self.t0), self.info)
        if self.bar is None:
            return
        left = f", {_duration(snap.seconds_left)} left" if snap.seconds_left is not None else ""
        self.bar.n = snap.done + snap.skipped + snap.failed
        self.bar.set_postfix_str(f"done {snap.done}, skipped {snap.skipped}, failed "
                                 f"{snap.failed}, running {snap.running}{left}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _report(result: BatchResult, out: Path, quiet: bool) -> int:
    count = {s: sum(r.status == s for r in result.records)
             for s in ("done", "skipped", "failed", "interrupted", "pending")}
    parts = [f"{n} {s if s != 'pending' else 'not started'}" for s, n in count.items() if n]
    say(f"{', '.join(parts)} in {_duration(result.seconds)}; summary in {out / 'summary.csv'}",
        quiet)
    for rec in result.records:
        if rec.status == "failed":
            log = f" (log: {rec.job.log})" if rec.attempts and rec.job.log is not None else ""
            print(f"failed: {rec.job.image}: {_one_line(rec.error)}{log}", file=sys.stderr)
    if result.interrupted:
        say("interrupted; run the same command again to continue", quiet)
        return 130
    return 1 if count["failed"] else 0


def _one_line(text: str, limit: int = 300) -> str:
    line = " | ".join(s for s in text.splitlines() if s)
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s" if m else f"{s}s"


# --- sample-many ------------------------------------------------------------------------------


def run_sample_many(args: argparse.Namespace) -> int:
    runs = Path(args.runs)
    if not runs.is_dir():
        raise CommandError(f"{runs}: no such folder")
    device = resolve_device(args.device, args.threads)
    out = Path(args.out)
    folders, failed = [], 0
    for folder in sorted(runs.iterdir()):
        try:
            if (folder / CONFIG_NAME).is_file():
                folders.append(folder)
        except OSError as e:  # a folder we may not look into
            _say_failed(folder, e)
            failed += 1
    if not folders and not failed:
        raise CommandError(f"{runs}: holds no run folders (folders with {CONFIG_NAME})")
    sampled = 0
    for run in folders:
        try:
            model = load(run, device=device, allow_incomplete=True)
            if not model.is_complete:
                say(f"skipped {run.name}: unfinished ({model.num_trained} of {model.num_scales} "
                    f"scales trained; finish it with `singan train --resume --out {run}`)",
                    args.quiet)
                continue
            write_samples(model, out / run.name, args)
        except Exception as e:
            if not _say_failed(run, e):
                raise
            failed += 1
            continue
        finally:
            model = None  # let a model that filled the memory go before the next run
        sampled += 1
    if not sampled and not failed:
        raise CommandError(f"{runs}: no finished run to sample")
    say(f"wrote {args.num} sample(s) for each of {sampled} run(s) to {out}/<run>/"
        + (f"; {failed} run(s) failed" if failed else ""), args.quiet)
    return 1 if failed else 0


def _say_failed(run: Path, e: Exception) -> bool:
    """Print one line naming the run that failed and why; False for a bug (to raise on)."""
    failure = describe(e, SAMPLE_OOM_ADVICE)
    if failure is not None:
        print(f"singan sample-many: {run.name}: {failure[0]}", file=sys.stderr)
    return failure is not None

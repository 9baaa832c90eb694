"""Throughput of train-many on this machine: images per hour with 1 and with 2 local slots (the
same images and settings), and the per-image overhead of the Dask backend (a LocalCluster on
loopback, one worker with one thread, shared folder and zip transfer) over the local scheduler
with one slot, measured on very short trainings so the fixed costs show.

    PYTHONPATH=src python bench/train_many.py
    PYTHONPATH=src python bench/train_many.py --images 6 --iters 100 --overhead-images 8

Images: the first --images files of --data (default ../shared/data/places-open/real), else crops
of the embedded landscape. Prints markdown rows for docs/benchmarks.md. Run it on a quiet machine
(the load average is printed before and after).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
# children and Dask workers import the same singan
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                         os.environ.get("PYTHONPATH")]))

import torch  # noqa: E402

import singan  # noqa: E402
from singan.batch import TrainOptions, find_images, plan_jobs, plan_slots, train_local  # noqa: E402
from singan.batch.jobs import cpu_cores  # noqa: E402
from singan.cli.common import config_argv  # noqa: E402


def image_set(data: Path, count: int, folder: Path) -> list[Path]:
    """The first `count` images of `data`, or crops of the embedded landscape in `folder`."""
    if data.is_dir():
        return find_images([data])[:count]
    folder.mkdir(parents=True)
    full = singan.default_image()
    w, h = full.size
    for i in range(count):  # different crops of the embedded landscape
        box = (i * w // (4 * count), 0, w - (count - i) * w // (4 * count), h)
        full.crop(box).save(folder / f"crop{i}.png")
    return find_images([folder])


def options(preset: str, iters: int, max_size: int | None) -> TrainOptions:
    overrides = {"iters": iters} | ({"max_size": max_size} if max_size else {})
    return TrainOptions(config_args=("--preset", preset, *config_argv(overrides), "--seed", "0"))


def local(images, opts, slots: int, tmp: Path, tag: str, threads: int | None = None) -> dict:
    jobs = plan_jobs(images, tmp / f"runs-{tag}")
    t0 = time.perf_counter()
    result = train_local(jobs, opts, plan_slots(slots, threads=threads))
    return _row(result, time.perf_counter() - t0)


def on_dask(images, opts, tmp: Path, tag: str, return_zip: bool, threads: int) -> dict:
    from distributed import LocalCluster

    from singan.batch.cluster import train_dask

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        jobs = plan_jobs(images, tmp / f"runs-{tag}")
        t0 = time.perf_counter()
        result = train_dask(jobs, opts, cluster.scheduler_address, device="cpu",
                            threads=threads, return_zip=return_zip)
        return _row(result, time.perf_counter() - t0)


def _row(result, wall: float) -> dict:
    bad = [r for r in result.records if r.status != "done"]
    if bad:
        raise SystemExit(f"{bad[0].job.image}: {bad[0].status}: {bad[0].error}")
    n = len(result.records)
    return {"n": n, "wall": wall, "per_image": wall / n, "per_hour": n / wall * 3600}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared/data/places-open/real")
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--iters", type=int, default=100, help="iterations per scale")
    ap.add_argument("--max-size", type=int, default=None)
    ap.add_argument("--overhead-images", type=int, default=6)
    ap.add_argument("--skip-throughput", action="store_true")
    args = ap.parse_args()
    cores = cpu_cores()
    print(f"machine: {platform.processor() or platform.machine()}, {cores} cores, torch "
          f"{torch.__version__}, python {platform.python_version()}; load before: "
          f"{os.getloadavg()[0]:.2f}; {time.strftime('%Y-%m-%d %H:%M')}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.skip_throughput:
            images = image_set(args.data, args.images, tmp / "images")
            opts = options(args.preset, args.iters, args.max_size)
            print(f"\nthroughput: {len(images)} images, preset {args.preset}, iters {args.iters}"
                  f"{f', max_size {args.max_size}' if args.max_size else ''}")
            print("| slots | threads per child | wall s | s per image | images per hour |")
            print("|---|---|---|---|---|")
            for slots in (1, 2):
                r = local(images, opts, slots, tmp, f"slots{slots}")
                print(f"| {slots} | {max(1, cores // slots)} | {r['wall']:.1f} | "
                      f"{r['per_image']:.1f} | {r['per_hour']:.0f} |", flush=True)
        few = image_set(tmp / "no-data", args.overhead_images, tmp / "overhead")
        opts = options("tiny", 2, 32)
        print(f"\noverhead: {len(few)} images, tiny preset, max_size 32, 2 iterations, one "
              f"image at a time, 1 thread per child")
        print("| backend | wall s | s per image | overhead per image vs local |")
        print("|---|---|---|---|")
        base = local(few, opts, 1, tmp, "overhead-local", threads=1)
        print(f"| local, 1 slot | {base['wall']:.1f} | {base['per_image']:.2f} | - |", flush=True)
        for label, tag, zipped in (("Dask, shared folder", "shared", False),
                                   ("Dask, --dask-return-zip", "zip", True)):
            r = on_dask(few, opts, tmp, tag, zipped, 1)
            print(f"| {label} | {r['wall']:.1f} | {r['per_image']:.2f} | "
                  f"{r['per_image'] - base['per_image']:+.2f} s |", flush=True)
    print(f"\nload after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

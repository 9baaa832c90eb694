"""Seconds per iteration at every scale and peak memory, extrapolated to a full training run.

Trains each scale for a few iterations (the cost of an iteration does not depend on how well the
weights are trained), times the iterations after the first, and multiplies by the preset's
iterations per scale. Each preset runs in its own subprocess so that peak memory is its own.

    python bench/train_speed.py --preset paper fast --image ../shared/data/places-open/real/0.jpg
    python bench/train_speed.py --preset paper --device cuda --iters 20
    python bench/train_speed.py --preset consingan consingan:crop_size=48,iters=1000 \
        consingan:crop_size=48,bf16=true fast --image ../shared/data/places-open/real/1.jpg

A preset may carry its own overrides after a colon (comma-separated KEY=VALUE, on top of
--set); `bf16=true` trains it in bfloat16 autocast (`singan train --bf16`; `bf16=false`: in
float32, also for a preset that has bf16 on), `channels_last=true`
(or false) sets the networks' memory layout (default: channels-last with bfloat16).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")


def cpu_model() -> str:
    """The CPU's model name and its bfloat16 flags (Linux), for the header of a timing."""
    try:
        info = open("/proc/cpuinfo", encoding="utf-8").read()
    except OSError:
        return "cpu model unknown"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines()
                 if line.startswith("model name")), "unknown")
    flags = next((line.split(":", 1)[1].split() for line in info.splitlines()
                  if line.startswith("flags")), [])
    wide = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in flags]
    return f"{name}; {' '.join(wide) or 'no avx2'}"


def parse_spec(spec: str, overrides: dict) -> tuple[str, dict, bool, bool | None]:
    """(preset, overrides, bf16, channels_last) of a `PRESET[:KEY=VALUE,...]` spec on top of
    `overrides`."""
    preset, _, rest = spec.partition(":")
    own = dict(overrides)
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        own[key] = json.loads(value)
    bf16 = bool(own.get("bf16", False))  # also the config field: bf16=false turns a preset's off
    layout = own.pop("channels_last", None)
    return preset, own, bf16, None if layout is None else bool(layout)


def measure(spec: str, image_path: str | None, device: str, iters: int, threads: int | None,
            overrides: dict, graphs: bool = False, cudnn_benchmark: bool = False) -> dict:
    """Run in this process: time `iters` iterations per scale of `spec` (a preset with its
    overrides, `parse_spec`)."""
    import torch

    torch.backends.cudnn.benchmark = cudnn_benchmark

    import singan
    from singan import images
    from singan.training import Trainer

    if threads:
        torch.set_num_threads(threads)
    image = images.load_image(image_path) if image_path else images.image_to_tensor(singan.default_image())
    preset, overrides, bf16, channels_last = parse_spec(spec, overrides)
    full = singan.make_config(preset, **overrides)
    short = full.replace(iters=iters, iters_finest=0)
    stamps: dict[int, list[float]] = {}

    def on_progress(p):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        stamps.setdefault(p.scale, []).append((time.perf_counter(), time.process_time()))

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    trainer = Trainer.from_image(image, short, device=device, seed=0, cuda_graphs=graphs,
                                 bf16=bf16, channels_last=channels_last)
    t0 = time.perf_counter()
    trainer.run(on_progress)
    wall = time.perf_counter() - t0
    model = trainer.model
    rows, total = [], 0.0
    cpu_total = 0.0
    for n, ts in sorted(stamps.items()):
        per_iter = (ts[-1][0] - ts[0][0]) / max(1, len(ts) - 1)
        cpu_per_iter = (ts[-1][1] - ts[0][1]) / max(1, len(ts) - 1)
        full_iters = full.iters_at(n, model.num_scales)
        total += per_iter * full_iters
        cpu_total += cpu_per_iter * full_iters
        rows.append({"scale": n, "size": list(model.sizes[n]), "channels": full.channels(n),
                     "s_per_iter": per_iter, "cpu_s_per_iter": cpu_per_iter,
                     "iters": full_iters, "extrapolated_s": per_iter * full_iters})
    peak = (torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda")
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"preset": spec, "device": device, "bf16": trainer.bf16,
            "channels_last": trainer.engine.channels_last, "threads": torch.get_num_threads(),
            "cuda_graphs": graphs, "cudnn_benchmark": cudnn_benchmark,
            "image": image_path or "<default>", "scales": rows,
            "sum_s_per_iter": sum(r["s_per_iter"] for r in rows),
            "extrapolated_total_s": total, "extrapolated_cpu_s": cpu_total,
            "measured_wall_s": wall,
            "peak_mem_mib": peak, "peak_kind": "cuda allocated" if device.startswith("cuda")
            else "process max RSS"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", nargs="+", default=["paper"])
    ap.add_argument("--image", default=None, help="image file (default: embedded landscape)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--iters", type=int, default=4, help="iterations timed per scale (+1 warm-up)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                    help="config overrides, e.g. max_size=128")
    ap.add_argument("--graphs", action="store_true", help="replay iterations as CUDA graphs")
    ap.add_argument("--cudnn-benchmark", action="store_true",
                    help="let cuDNN time its convolution algorithms and keep the fastest "
                         "(torch.backends.cudnn.benchmark; results no longer bit-reproducible)")
    ap.add_argument("--json", default=None, help="also write the results to this file")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    overrides = {k: json.loads(v) for k, v in (s.split("=", 1) for s in args.set)}
    if args.child:
        print(json.dumps(measure(args.preset[0], args.image, args.device, args.iters + 1,
                                 args.threads, overrides, args.graphs, args.cudnn_benchmark)))
        return
    results, failed = [], []
    for preset in args.preset:
        cmd = [sys.executable, __file__, "--child", "--preset", preset, "--device", args.device,
               "--iters", str(args.iters)] + (["--image", args.image] if args.image else []) + \
              (["--graphs"] if args.graphs else []) + \
              (["--cudnn-benchmark"] if args.cudnn_benchmark else []) + \
              (["--threads", str(args.threads)] if args.threads else []) + \
              (["--set", *args.set] if args.set else [])
        env = dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))
        out = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if out.returncode != 0:  # the others are still measured and printed
            print(f"{preset}: benchmark failed:\n{out.stderr}", file=sys.stderr, flush=True)
            failed.append(preset)
            continue
        results.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"# {platform.node()} {platform.processor() or platform.machine()} ({cpu_model()}), "
          f"{os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    for r in results:
        print(f"\n## preset {r['preset']} on {r['device']} ({r['threads']} threads, CUDA graphs "
              f"{'on' if r['cuda_graphs'] else 'off'}, cudnn.benchmark "
              f"{'on' if r['cudnn_benchmark'] else 'off'}), image {r['image']}")
        print("| scale | size | width | s/iter | CPU s/iter | iters | extrapolated s |")
        print("|---|---|---|---|---|---|---|")
        for s in r["scales"]:
            print(f"| {s['scale']} | {s['size'][0]}x{s['size'][1]} | {s['channels']} | "
                  f"{s['s_per_iter']:.4f} | {s['cpu_s_per_iter']:.4f} | {s['iters']} | "
                  f"{s['extrapolated_s']:.0f} |")
        print(f"sum of s/iter over scales: {r['sum_s_per_iter']:.3f}; extrapolated full run: "
              f"{r['extrapolated_total_s']:.0f} s ({r['extrapolated_total_s'] / 60:.1f} min), "
              f"CPU time {r['extrapolated_cpu_s']:.0f} s; "
              f"peak memory {r['peak_mem_mib']:.0f} MiB ({r['peak_kind']})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    if failed:
        sys.exit(f"failed: {' '.join(failed)}")


if __name__ == "__main__":
    main()

"""The golden set: small trainings and every application, reduced to SHA-256 digests.

Recorded before a refactoring, checked after it (tests/test_golden.py): the same digests mean
that the refactored code computes bit for bit what the old code did. Only public entry points
are used (the CLI, `singan.*`, run folders on disk), so the script runs unchanged against both.

Floating-point results depend on the CPU's vector kernels and thread count, so the digests hold
only in the pinned numeric environment of `pinned_env()`: one thread, PyTorch's baseline
(non-vectorised) kernels, oneDNN off (convolutions through MKL's GEMM), MKL in its
conditional-numerical-reproducibility mode. With those, any x86-64 machine gives the same bits.

    python tests/golden/golden.py --write tests/golden/expected.json   # record
    python tests/golden/golden.py --check tests/golden/expected.json   # compare
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

# Config fields added after the golden set was recorded, with the value that keeps a config what it
# was (issue 17's model families): they are left out of config.json's digest at that value.
ADDED_LATER = {"arch": "singan", "num_stages": 6, "leaky_slope": 0.2, "swd_weight": 0.0,
               "swd_stages": 0, "swd_only": False, "bf16": False, "coarse_channels": 0,
               "coarse_scales": 0, "ms_weight": 0.0, "ms_stages": 0}

PINNED = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "default",
          "MKL_CBWR": "COMPATIBLE", "CUDA_VISIBLE_DEVICES": ""}


def pinned_env() -> dict[str, str]:
    """The environment the digests are recorded and checked in."""
    return dict(os.environ, **PINNED)


def cpu_vendor() -> str:
    """The CPU's vendor_id from /proc/cpuinfo ("" where it cannot be read)."""
    from singan.training.trainer import _cpu_info  # the reading `bf16_pays` uses

    info = _cpu_info()
    return info[0] if info else ""


def fingerprint() -> dict[str, str]:
    """What the digests depend on besides the code: the PyTorch release, the machine type and
    the CPU's vendor. The pinned environment gives the same bits on AMD EPYCs with and without
    AVX-512, not on an Intel Xeon (Emerald Rapids, 2026-12-03: every trained digest differs, with
    the code of the recording as well)."""
    import torch

    return {"torch": torch.__version__.split("+")[0], "machine": platform.machine(),
            "cpu_vendor": cpu_vendor()}


def digest(x) -> str:
    import numpy as np
    import torch

    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().contiguous().numpy()
    if isinstance(x, np.ndarray):
        return hashlib.sha256(f"{x.dtype}{x.shape}".encode() + x.tobytes()).hexdigest()[:32]
    return hashlib.sha256(json.dumps(x, sort_keys=True).encode()).hexdigest()[:32]


def png_digest(path: Path) -> str:
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        return digest(np.asarray(im.convert("RGB")))


def run_folder(run: Path, out: dict, prefix: str) -> None:
    """Digests of a run folder: every tensor of both safetensors files, config.json, the losses
    of stats.jsonl (without their times) and the previews."""
    from safetensors.torch import load_file

    for name in ("model.safetensors", "train_state.safetensors"):
        path = run / name
        if path.exists():
            for key, t in sorted(load_file(str(path)).items()):
                out[f"{prefix}/{name}/{key}"] = digest(t)
    info = json.loads((run / "config.json").read_text())
    info.pop("singan_version", None)
    for key, value in ADDED_LATER.items():
        if info["config"].get(key) == value:
            del info["config"][key]
    if info.get("arithmetic") == "float32":  # recorded since (issue 17); what it always was
        del info["arithmetic"]
    if "image" in info:  # the training image's path lies in a temporary folder
        info["image"]["source"] = Path(info["image"]["source"]).name
    out[f"{prefix}/config.json"] = digest(info)
    stats = run / "stats.jsonl"
    if stats.exists():
        rows = [json.loads(line) for line in stats.read_text().splitlines()]
        out[f"{prefix}/stats"] = digest([{k: v for k, v in r.items() if k != "time"}
                                         for r in rows])
    for p in sorted((run / "previews").glob("*.png")):
        out[f"{prefix}/previews/{p.name}"] = png_digest(p)


def cli(*argv: str) -> None:
    from singan.cli import main

    rc = main([str(a) for a in argv])
    if rc != 0:
        raise SystemExit(f"golden: singan {' '.join(map(str, argv))} exited {rc}")


def make(work: Path) -> dict[str, str]:
    import numpy as np
    import torch
    from PIL import Image

    import singan

    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    out: dict[str, str] = {}
    quick = ["--quiet", "--device", "cpu", "--threads", "1"]

    # The embedded landscape, shrunk: every training below learns it.
    image_path = work / "landscape.png"
    singan.default_image(96, 128).save(image_path)
    image = singan.load_image(image_path)

    # 1. A `tiny` and a `fast` training through the CLI, into run folders.
    tiny = work / "tiny"
    cli("train", image_path, "--out", tiny, "--preset", "tiny", "--max-size", "40",
        "--iters", "6", "--seed", "3", *quick)
    run_folder(tiny, out, "tiny")
    fast = work / "fast"
    cli("train", image_path, "--out", fast, "--preset", "fast", "--max-size", "64",
        "--iters", "8", "--iters-finest", "4", "--prev-pool", "8", "--crop-size", "24",
        "--seed", "5", *quick)
    run_folder(fast, out, "fast")

    # 2. Sampling: 4 samples of each run, other sizes, a finer start scale.
    for name, run in (("tiny", tiny), ("fast", fast)):
        model = singan.load(run)
        out[f"{name}/samples4"] = digest(singan.generate(model, 4, seeds=[0, 1, 2, 3]))
        gen = torch.Generator().manual_seed(11)
        out[f"{name}/batch"] = digest(singan.generate(model, 3, generator=gen, scale_w=1.5))
        out[f"{name}/start1"] = digest(singan.generate(model, 2, seeds=[4, 5], start_scale=1,
                                                       size=(30, 50)))
        out[f"{name}/reconstruct"] = digest(model.reconstruct(model.num_trained - 1))
    cli("sample", tiny, "--num", "3", "--seed", "7", "--scale-h", "1.25", "--out",
        work / "samples", *quick)
    for p in sorted((work / "samples").glob("*.png")):
        out[f"cli-sample/{p.name}"] = png_digest(p)

    # 3. The applications on the tiny run (library and CLI).
    model = singan.load(tiny)
    h, w = model.sizes[-1]
    real = (model.reals[-1][0].permute(1, 2, 0).numpy() + 1) * 127.5
    edited = real.copy()
    edited[h // 3: h // 3 + h // 4, w // 4: w // 4 + w // 5] = (200, 40, 40)
    mask = np.zeros((h, w), np.uint8)
    mask[h // 3: h // 3 + h // 4, w // 4: w // 4 + w // 5] = 255
    paths = {"edited": work / "edited.png", "mask": work / "mask.png",
             "paint": work / "paint.png"}
    Image.fromarray(edited.round().clip(0, 255).astype(np.uint8)).save(paths["edited"])
    Image.fromarray(mask).save(paths["mask"])
    paint = np.zeros((h, w, 3), np.uint8)
    paint[: h // 2] = (90, 140, 210)
    paint[h // 2:] = (60, 110, 40)
    Image.fromarray(paint).save(paths["paint"])
    ed, mk, pt = (Image.open(paths[k]) for k in ("edited", "mask", "paint"))
    last = model.num_scales - 1
    for k in range(1, model.num_scales):
        out[f"paint/{k}"] = digest(singan.paint_to_image(model, pt, start_scale=k, seed=1))
    out["paint/quantize"] = digest(singan.paint_to_image(
        model, pt, start_scale=1, quantize=True, fine_tune_iters=3, seed=2))
    for fn in (singan.edit, singan.harmonize):
        r = fn(model, ed, mk, start_scale=last - 1, seed=3)
        out[f"{fn.__name__}/blended"], out[f"{fn.__name__}/raw"] = digest(r.blended), \
            digest(r.raw)
        r = fn(model, ed, mk, start_scale=last, fine_tune=3, seed=4)
        out[f"{fn.__name__}/tuned"] = digest(r.blended)
    cli("edit", tiny, paths["edited"], "--mask", paths["mask"], "--out", work / "e.png",
        "--start-scale", "all", "--save-raw", "--fine-tune", "2", "--seed", "6", *quick)
    cli("harmonize", tiny, paths["edited"], "--mask", paths["mask"], "--out", work / "h.png",
        "--seed", "8", *quick)
    cli("paint", tiny, paths["paint"], "--out", work / "p.png", "--quantize", "--fine-tune", "2",
        *quick)
    for p in sorted(work.glob("[ehp]*.png")):
        if p.name not in ("edited.png", "paint.png"):
            out[f"cli-apps/{p.name}"] = png_digest(p)

    # 4. Super-resolution (trained by `singan sr`) and animation (a library training).
    cli("sr", image_path, "--factor", "2", "--out", work / "big.png", "--run", work / "sr",
        "--preset", "tiny", "--max-size", "32", "--iters", "4", "--seed", "2", *quick)
    run_folder(work / "sr", out, "sr")
    out["sr/cli"] = png_digest(work / "big.png")
    sr_model = singan.load(work / "sr")
    out["sr/x1.5"] = digest(singan.super_resolve(sr_model, 1.5, seed=5))
    anim_cfg = singan.make_config("tiny", "animation", max_size=32, iters=5)
    anim = singan.train(image, anim_cfg, seed=4)
    out["animation/model"] = digest([digest(v) for v in anim.state_dict().values()])
    out["animation/frames"] = digest(singan.animate(anim, frames=5, seed=6))
    out["animation/start1"] = digest(singan.animate(anim, frames=3, start_scale=1, seed=7,
                                                    alpha=0.3, beta=0.8))

    # 5. The other branches of training: BatchNorm with 3 concurrent scales, lazy penalties,
    # the original's redrawn z_rec and 8-bit resampling, grey noise, separate passes.
    variants = {
        "depth3": dict(train_depth=3, lr_scale=0.2, gp_every=2),
        "original": dict(redraw_z_rec=True, quantize_8bit=True, noise_channels=1),
        "fast-depth2": dict(norm="none", train_depth=2, crop_size=20, prev_pool=4,
                            iters_finest=3),
    }
    for name, changes in variants.items():
        cfg = singan.make_config("tiny", max_size=40, iters=5, **changes)
        m = singan.train(image, cfg, seed=9)
        out[f"variant/{name}"] = digest([digest(v) for v in m.state_dict().values()])
        out[f"variant/{name}/samples"] = digest(singan.generate(m, 2, seeds=[1, 2]))

    # 6. A run folder written by singan 0.1.0 (committed beside this script) still loads.
    old = singan.load(Path(__file__).parent / "run-format1")
    out["format1/model"] = digest([digest(v) for v in old.state_dict().values()])
    out["format1/samples"] = digest(singan.generate(old, 2, seeds=[0, 1], scale_w=1.25))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", type=Path, help="record the digests into this JSON file")
    g.add_argument("--check", type=Path, help="compare with the digests of this JSON file")
    args = p.parse_args(argv)
    missing = {k: v for k, v in PINNED.items() if os.environ.get(k) != v}
    if missing:  # the variables must be set before torch is imported: re-run pinned
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], pinned_env())
    with tempfile.TemporaryDirectory(prefix="singan-golden-") as tmp:
        digests = make(Path(tmp))
    record = {"fingerprint": fingerprint(), "digests": digests}
    if args.write:
        args.write.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        print(f"wrote {len(digests)} digests to {args.write}")
        return 0
    expected = json.loads(args.check.read_text())
    if expected["fingerprint"] != record["fingerprint"]:
        print(f"golden: recorded with {expected['fingerprint']}, this is "
              f"{record['fingerprint']}; not comparable")
        return 3
    want = expected["digests"]
    differ = sorted(k for k in want.keys() | digests.keys() if want.get(k) != digests.get(k))
    for k in differ:
        print(f"differs: {k}: expected {want.get(k)}, got {digests.get(k)}")
    print(f"{len(want) - len(differ)} of {len(want)} digests equal")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())

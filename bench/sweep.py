"""Train several configurations on a folder of images in parallel worker processes and keep
their samples, for comparing configurations. On a GPU, several workers share the device (start
the CUDA MPS daemon first so that their kernels run side by side, as bench/gpu.sh does).

    python bench/sweep.py --images DIR --configs configs.json --device cuda --workers 8 --out OUT
    python bench/places.py --data DIR/.. --samples-from OUT/NAME   # score one configuration

configs.json maps a name to {"preset": P, "set": {field: value, ...}, "seed": S}. Jobs start in
the file's order of configurations, image by image within each, so that a time limit cuts the
last configurations rather than every one. Samples go to OUT/NAME/IMAGE/I.png (seeds 0..N-1), with
OUT/NAME/IMAGE/meta.json (training seconds, device, configuration, and the diversity of seeds
0..--diversity-samples - 1 against the image: the paper's 100 by default, more than are kept as
files; places.py --samples-from reports it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))


def job(args: tuple) -> dict:
    name, spec, image_path, device, samples, out, graphs, div_samples = args
    import torch

    import singan
    from singan import images
    from singan.metrics import diversity
    from singan.resize import resize

    torch.set_num_threads(1)
    cfg = singan.make_config(spec.get("preset", "paper"), **spec.get("set", {}))
    image = images.load_image(image_path)
    t0 = time.perf_counter()
    try:
        model = singan.train(image, cfg, device=device, seed=spec.get("seed", 0),
                             cuda_graphs=graphs)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        secs = time.perf_counter() - t0
        x = singan.generate(model, samples, seeds=list(range(samples)))
        stem = Path(image_path).stem
        folder = Path(out) / name / stem
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(samples):
            images.save_image(x[i], folder / f"{i}.png")
        rec = {"config": name, "image": stem, "train_s": round(secs, 2), "ok": True}
        extra = {}
        if div_samples > samples:  # the rest drawn 10 at a time, not kept
            real = image if tuple(image.shape[-2:]) == tuple(x.shape[-2:]) else \
                resize(image, size=tuple(x.shape[-2:]))
            more = (singan.generate(model, min(10, div_samples - s),
                                    seeds=list(range(s, min(s + 10, div_samples)))).cpu()
                    for s in range(samples, div_samples, 10))
            batches = itertools.chain([x.cpu()], more)
            extra = {"diversity": diversity(real, (b.clamp(-1, 1) for b in batches)),
                     "diversity_samples": div_samples}
        (folder / "meta.json").write_text(json.dumps(
            {**rec, "device": device, "seed": spec.get("seed", 0), "cuda_graphs": graphs,
             "config_values": cfg.to_dict(), **extra}, indent=2))
        return rec
    except Exception as e:  # report and go on with the other jobs
        return {"config": name, "image": Path(image_path).stem, "ok": False, "error": repr(e)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", required=True, help="folder of training images")
    ap.add_argument("--configs", required=True, help="JSON file of named configurations")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--samples", type=int, default=10, help="samples kept as files per image")
    ap.add_argument("--diversity-samples", type=int, default=100,
                    help="samples the diversity in meta.json is taken over (the paper's 100)")
    ap.add_argument("--graphs", action="store_true", help="CUDA graphs for training")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    configs = json.loads(Path(args.configs).read_text())
    images = sorted(p for p in Path(args.images).iterdir()
                    if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    # Configuration by configuration, in the file's order (a time limit cuts the last ones).
    jobs = [(name, spec, str(img), args.device, args.samples, args.out, args.graphs,
             args.diversity_samples)
            for name, spec in configs.items() for img in images]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    log = open(Path(args.out) / "sweep.jsonl", "a")
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for rec in pool.imap_unordered(job, jobs):
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()


if __name__ == "__main__":
    main()

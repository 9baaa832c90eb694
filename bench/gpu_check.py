"""CUDA checks for the GPU benchmark: graphed training equals eager training; both presets run.

    python bench/gpu_check.py
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import torch  # noqa: E402

import singan  # noqa: E402
from singan import io  # noqa: E402


def main() -> None:
    assert torch.cuda.is_available(), "needs a CUDA GPU"
    image = io.image_to_tensor(singan.default_image())
    for preset in ("tiny", "fast"):
        cfg = singan.make_config(preset, iters=12)
        if cfg.iters_finest:
            cfg = cfg.replace(iters_finest=12)
        models = {}
        for graphs in (False, True):
            t0 = time.perf_counter()
            models[graphs] = singan.train(image, cfg, device="cuda", seed=0, cuda_graphs=graphs)
            torch.cuda.synchronize()
            print(f"{preset}: cuda_graphs={graphs}: {time.perf_counter() - t0:.2f} s "
                  f"for {models[graphs].num_scales} scales x 12 iterations")
        a, b = models[False].state_dict(), models[True].state_dict()
        worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
        print(f"{preset}: largest difference graphed vs eager weights: {worst:.3g}")
        cpu = singan.train(image, cfg, device="cpu", seed=0)
        x_cpu = singan.generate(cpu, 1, seeds=[0])
        x_gpu = singan.generate(models[False], 1, seeds=[0]).cpu()
        print(f"{preset}: sample shapes cpu {tuple(x_cpu.shape)} cuda {tuple(x_gpu.shape)}")


if __name__ == "__main__":
    main()

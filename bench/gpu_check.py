"""CUDA checks for the GPU benchmark.

1. Run-to-run noise: the same eager training twice (cuDNN deterministic) must match exactly.
2. CUDA graphs: graphed training against the same arithmetic run eagerly (capturable optimiser,
   no capture); they should match to float rounding.
3. CPU and CUDA run the same code: both train and sample.

    python bench/gpu_check.py
"""

from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))

import torch  # noqa: E402

import singan  # noqa: E402
from singan import images  # noqa: E402
from singan.training import Trainer  # noqa: E402


def train(image, cfg, graphs: bool, capture: bool = True):
    tr = Trainer.from_image(image, cfg, device="cuda", seed=0, cuda_graphs=graphs)
    if not capture:
        tr.graph_warmup = 10 ** 9  # same optimiser arithmetic, never captured
    t0 = time.perf_counter()
    model = tr.run()
    torch.cuda.synchronize()
    return model, time.perf_counter() - t0


def diff(a, b) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    return max((sa[k].float() - sb[k].float()).abs().max().item() for k in sa)


def main() -> None:
    assert torch.cuda.is_available(), "needs a CUDA GPU"
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    image = images.image_to_tensor(singan.default_image())
    for preset in ("tiny", "fast"):
        cfg = singan.make_config(preset, iters=8, iters_finest=0, max_size=96)
        eager, t_eager = train(image, cfg, graphs=False)
        again, _ = train(image, cfg, graphs=False)
        ref, t_ref = train(image, cfg, graphs=True, capture=False)
        graphed, t_graph = train(image, cfg, graphs=True)
        print(f"{preset}: eager twice: max weight difference {diff(eager, again):.3g}")
        print(f"{preset}: graphed vs same arithmetic eager: {diff(ref, graphed):.3g} "
              f"(eager {t_ref:.2f} s, graphed {t_graph:.2f} s, plain eager {t_eager:.2f} s)")
        x = singan.generate(graphed, 4, seeds=[0, 1, 2, 3])
        y = singan.generate(ref, 4, seeds=[0, 1, 2, 3])
        print(f"{preset}: samples graphed vs eager max difference {(x - y).abs().max().item():.3g}")
    cfg = singan.make_config("tiny", iters=2, max_size=48)
    cpu = singan.train(image, cfg, device="cpu", seed=0)
    print("cpu sample", tuple(singan.generate(cpu, 1, seeds=[0]).shape),
          "cuda sample", tuple(singan.generate(train(image, cfg, False)[0], 1, seeds=[0]).shape))


if __name__ == "__main__":
    main()

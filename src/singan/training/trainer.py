"""`Trainer`: the lifecycle of a training (start, resume, state, run every scale, fine-tune).

It holds the random generator and the critic between scales and puts the parts together: the
model family, the objective, the random inputs, the stage engine and divergence restarts.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import torch

from ..bounds import check_seed
from ..config import SinGANConfig
from ..families import Model
from ..models import Discriminator
from ..pyramid import PyramidGeometry, build_pyramid, geometry_for
from ..families import build_model, is_consingan
from .family import SinGANFamily
from .growing import ConSinGANFamily, GrowingInputs
from .graphs import GraphedStep
from .inputs import RandomInputs
from .objective import WGANGP
from .progress import Callback, Progress, TrainState, expected_work, percent_done
from .restarts import Restarts, snapshot
from .stage import StageEngine


class Trainer:
    """Trains the scales (stages) of a model one after another, of either family.

    Use `Trainer.from_image(...)` to start and `Trainer.resume(model, state)` to resume; `run()`
    trains every remaining scale.

    Divergence: when a log point's losses are non-finite or larger than `loss_bound`, or the
    reconstruction error collapses (`restarts.watch_losses`), `run()`
    restarts the scale from its starting state with both learning rates multiplied by
    `restart_lr_factor` (again at each restart), at most `max_restarts` times, then raises
    DivergenceError. `train_scale` takes its learning rates from `self.config`.

    Parts: `family` (SinGAN's per-scale generators or ConSinGAN's growing one, by the model),
    `objective` (WGAN-GP), `inputs` (random
    inputs and the pool), `engine` (set-up, iterations and freezing of a stage).
    """

    max_restarts = 3
    restart_lr_factor = 0.5
    loss_bound = 1e6

    def __init__(self, model: Model, *, generator: torch.Generator,
                 discriminator: Discriminator | None = None, log_every: int = 25,
                 cuda_graphs: bool = False, pool_seed: int | None = None, bf16: bool = False,
                 channels_last: bool | None = None):
        self.model = model
        self.config = model.config
        self.gen = generator
        self.device = model.device
        self.discriminator = discriminator
        self.log_every = log_every
        self.cuda_graphs = cuda_graphs and self.device.type == "cuda"
        self.graph_warmup = 3  # eager iterations per scale before capturing the graph
        if is_consingan(model):
            self.inputs, self.family = GrowingInputs(model, generator), \
                ConSinGANFamily(model, generator)
        else:
            self.inputs = RandomInputs(model, generator, pool_seed)
            self.family = SinGANFamily(model, generator)
        self.objective = WGANGP()
        # bfloat16 where asked (`bf16`), or where the config asks, the device has it natively and
        # it is faster there than float32 (`bf16_pays`)
        self.bf16 = bool(bf16 or (self.config.bf16 and bf16_pays(self.device)))
        # NHWC networks where bfloat16 runs: oneDNN's bf16 convolutions are much faster in it
        # (fp32 ones about the same), unless asked otherwise
        layout = self.bf16 if channels_last is None else bool(channels_last)
        self.engine = StageEngine(self.family, self.objective, self.inputs, bf16=self.bf16,
                                  channels_last=layout)
        self.work = expected_work(model)

    @property
    def batch_pairs(self) -> bool:
        """False: run real and fake (fake and reconstruction) as separate passes."""
        return self.objective.batch_pairs

    @batch_pairs.setter
    def batch_pairs(self, value: bool) -> None:
        self.objective.batch_pairs = value

    @property
    def pool_seed(self) -> int | None:
        """Seed of the pool's random stream (None without a pool)."""
        return self.inputs.pool_seed

    @classmethod
    def from_image(cls, image: torch.Tensor, config: SinGANConfig, *,
                   device: torch.device | str = "cpu", seed: int = 0, log_every: int = 25,
                   cuda_graphs: bool = False, geometry: PyramidGeometry | None = None,
                   bf16: bool = False, channels_last: bool | None = None) -> Trainer:
        """Set up training on a (1, 3, H, W) image in [-1, 1] (`bf16`: the iterations'
        arithmetic in bfloat16, see `supports_bf16`; `channels_last`: the networks' tensors in
        NHWC, which oneDNN's and cuDNN's convolutions run faster in bfloat16; None: NHWC exactly
        when the arithmetic is bfloat16).

        `geometry`: the image's pyramid if already computed (`pyramid.geometry_for`).
        """
        geo = geometry or geometry_for(config, *image.shape[-2:])
        model = build_model(config, list(geo.sizes), geo.scale_factor).to(device)
        reals = build_pyramid(image.to(device=device, dtype=torch.float32), geo,
                              quantize=config.quantize_8bit)
        model.set_reals(reals)
        gen = torch.Generator(device=device).manual_seed(check_seed(seed))
        return cls(model, generator=gen, log_every=log_every, cuda_graphs=cuda_graphs, bf16=bf16,
                   channels_last=channels_last)

    @classmethod
    def resume(cls, model: Model, state: TrainState, *, log_every: int = 25,
               cuda_graphs: bool = False, bf16: bool = False,
               channels_last: bool | None = None) -> Trainer:
        """Continue training after `state.scale`, with the model's first scales already trained."""
        gen = torch.Generator(device=model.device)
        if state.rng_state is not None:
            gen.set_state(state.rng_state.cpu())
        disc = None
        if state.discriminator:
            disc = model.new_discriminator(state.scale).to(model.device)
            disc.load_state_dict(state.discriminator)
        while model.num_trained > state.scale + 1:  # drop a scale saved without its train state
            model.drop_last()
        return cls(model, generator=gen, discriminator=disc, log_every=log_every,
                   cuda_graphs=cuda_graphs, pool_seed=state.pool_seed, bf16=bf16,
                   channels_last=channels_last)

    def state(self) -> TrainState:
        disc = {k: v.detach().clone() for k, v in self.discriminator.state_dict().items()} \
            if self.discriminator is not None else {}
        return TrainState(scale=self.model.num_trained - 1, discriminator=disc,
                          rng_state=self.gen.get_state(), pool_seed=self.pool_seed)

    # --- training ----------------------------------------------------------------------------

    def run(self, callback: Callback | None = None,
            on_scale_end: Callable[[Trainer], None] | None = None) -> Model:
        """Train every scale not trained yet; returns the model in eval mode."""
        start = time.perf_counter()
        while not self.model.is_complete:
            self._train_scale_restarting(self.model.num_trained, callback, start)
            if on_scale_end is not None:
                on_scale_end(self)
        return self.model.eval()

    def _train_scale_restarting(self, n: int, callback: Callback | None, start: float) -> None:
        """`train_scale(n)`, restarted with lower learning rates when its losses diverge."""
        base = self.config
        restore = snapshot(self.gen, self.family, n, base)

        def attempt(config: SinGANConfig, watched: Callback) -> None:
            self.config = config
            self.train_scale(n, watched, start)

        restarts = Restarts(self.max_restarts, self.restart_lr_factor, self.loss_bound)
        try:
            restarts.run(n, attempt, base, restore, callback,
                         percent=percent_done(self.work, n, 0, 1))
        finally:
            self.config = base

    def train_scale(self, n: int, callback: Callback | None = None,
                    start: float | None = None) -> None:
        """Train scale n (with up to `train_depth - 1` coarser scales alongside) and append it."""
        start = time.perf_counter() if start is None else start
        stage = self.engine.setup(n, self.config, self.discriminator,
                                  capturable=self.cuda_graphs)
        step = GraphedStep(self.engine.step, stage, self.graph_warmup) if self.cuda_graphs \
            else None

        def report(it: int, losses: dict[str, float] | None) -> None:
            if callback is not None:
                callback(Progress(n, self.model.num_scales, it, stage.iters,
                                  time.perf_counter() - start, losses, it == stage.iters,
                                  percent=percent_done(self.work, n, it, stage.iters)))

        self.engine.run(stage, report, step=step, log_every=self.log_every)
        self.engine.finish(stage)
        self.family.append(stage)
        self.discriminator = stage.d_net

    # --- fine-tuning a trained model (for the applications) ----------------------------------

    def fine_tune(self, first: int, last: int, iters: int, prevs: torch.Tensor, *,
                  transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                  callback: Callable[[int, int], None] | None = None) -> None:
        """Train the generators of scales first..last of a trained model for `iters` iterations.

        The same iterations as training (`StageEngine.step`), but the critic steps draw their
        inputs of scale `first` from `prevs` (B, 3, h, w) instead of the model's own random
        samples, and `transform` (if any) is applied to those and to the reconstruction's input.
        Scale `last` learns at lr_g, each coarser one lr_scale times slower. The critic is
        `self.discriminator` (scale `last`'s) or a fresh one. `callback(done, iters)` follows.
        """
        stage = self.engine.setup_tuning(first, last, iters, prevs, self.config,
                                         self.discriminator, transform)
        report = None if callback is None else (lambda it, _losses: callback(it, iters))
        self.engine.run(stage, report)
        self.engine.finish(stage)
        self.discriminator = stage.d_net


def supports_bf16(device: torch.device | str) -> bool:
    """Whether `device` computes bfloat16 convolutions natively: a CPU with AVX512-BF16 or AMX
    (through oneDNN), a CUDA GPU of compute capability 8.0 or later."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def bf16_pays(device: torch.device | str) -> bool:
    """Whether bfloat16 trains faster than float32 on `device`, where it is native
    (`supports_bf16`): on a CUDA GPU, yes; on a CPU, where it has AMX, or AVX512-BF16 on an AMD
    CPU. A fixed rule of the CPU's flags (not a timing), so that a machine always trains a preset
    in the same arithmetic.

    Native bfloat16 is not always faster on a CPU (docs/benchmarks.md): with AVX512-BF16 and no
    AMX, an AMD EPYC trains `consingan-fast` about 1.5x faster in it, an Intel Xeon (Emerald
    Rapids with AMX not exposed, as in many VMs) 1.3-1.4x slower. Where the flags cannot be read
    (no /proc/cpuinfo), native means faster.
    """
    device = torch.device(device)
    if not supports_bf16(device):
        return False
    if device.type != "cpu":
        return True
    info = _cpu_info()
    if info is None:
        return True
    vendor, flags = info
    return "amx_bf16" in flags or (vendor == "AuthenticAMD" and "avx512_bf16" in flags)


@functools.lru_cache(maxsize=1)
def _cpu_info() -> tuple[str, frozenset[str]] | None:
    """The CPU's vendor and flags from /proc/cpuinfo (Linux), None where it cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("vendor_id", "flags") and key not in fields:
            fields[key] = value.strip()
    if "flags" not in fields:
        return None
    return fields.get("vendor_id", ""), frozenset(fields["flags"].split())


def train(image: torch.Tensor, config: SinGANConfig, *, device: torch.device | str = "cpu",
          seed: int = 0, callback: Callback | None = None,
          on_scale_end: Callable[[Trainer], None] | None = None, log_every: int = 25,
          cuda_graphs: bool = False, bf16: bool = False,
          channels_last: bool | None = None) -> Model:
    """Train a model (`config.arch`: SinGAN or ConSinGAN) on a (1, 3, H, W) image in [-1, 1] (or
    (3, H, W)); returns it in eval mode.

    `callback` receives a `Progress` after every iteration; `on_scale_end` the trainer after each
    finished scale (the CLI saves the run there). `cuda_graphs` replays each iteration as a CUDA
    graph on a CUDA device (same results, less launch overhead); ignored on the CPU. `bf16` runs
    the iterations' arithmetic in bfloat16 (faster where the hardware has it, `supports_bf16`;
    other results than fp32); `channels_last` keeps the networks' tensors in NHWC (faster
    convolutions in bfloat16; the same arithmetic up to rounding; None: with bfloat16).
    """
    if image.dim() == 3:
        image = image.unsqueeze(0)
    trainer = Trainer.from_image(image, config, device=device, seed=seed, log_every=log_every,
                                 cuda_graphs=cuda_graphs, bf16=bf16, channels_last=channels_last)
    return trainer.run(callback, on_scale_end)

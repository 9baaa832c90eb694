"""The stage engine: set-up, iterations, learning-rate milestone and freezing of one stage.

A stage trains some networks of the model for a number of iterations: a new scale (with up to
`train_depth - 1` coarser ones alongside) during training, or trained scales when fine-tuning for
an application. Both go through the same `StageEngine`; what learns and how it is run comes from
the model family, what it learns from the objective, its random inputs from `RandomInputs`.
"""

from __future__ import annotations

import contextlib
import copy
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..config import SinGANConfig
from ..losses import mode_seeking, patch_swd, random_directions
from ..models import crop_window
from .inputs import Draw, RandomInputs, window_corners

if TYPE_CHECKING:
    from .family import ModelFamily
    from .objective import Objective

Report = Callable[[int, dict[str, float] | None], None]  # (iteration, losses or None)


@dataclass
class Stage:
    """What one stage works with. The family fills the networks and the reconstruction, the
    engine the optimisers, the window size, the pool and the loss sums."""

    config: SinGANConfig  # settings of this stage (learning rates may differ from the model's)
    n: int  # the finest scale that learns (the scale being trained)
    lo: int  # the coarsest scale that learns alongside it
    iters: int
    nets: dict[int, nn.Module]  # learning generators by scale
    amps: dict[int, torch.Tensor]  # their noise amplitudes
    d_net: nn.Module  # the critic
    g_groups: list[tuple[list[nn.Parameter], float]]  # generator parameters and learning rates
    real: torch.Tensor  # training image at scale n
    rec_in: torch.Tensor  # reconstruction entering scale lo
    rec_z: dict[int, torch.Tensor]  # reconstruction noise by scale
    crop: tuple[int, int] | None = None  # window size at scale n, None for the whole image
    swd: bool = False  # the generators' loss adds the patch sliced-Wasserstein loss
    critic: bool = True  # False: no critic steps, no adversarial loss (`swd_only`)
    ms: bool = False  # the generators' loss adds the mode-seeking loss (a second fake)
    pool: torch.Tensor | None = None  # pre-drawn random inputs of scale lo
    g_opt: torch.optim.Optimizer | None = None
    d_opt: torch.optim.Optimizer | None = None
    sums: dict[str, torch.Tensor] = field(default_factory=dict)  # loss sums since the last report


def requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


def scale_lr(opt: torch.optim.Optimizer, factor: float) -> None:
    """Multiply every learning rate of `opt` (floats, or tensors of capturable optimisers)."""
    for group in opt.param_groups:
        if isinstance(group["lr"], torch.Tensor):
            group["lr"].mul_(factor)
        else:
            group["lr"] *= factor


@functools.cache
def fused_adam_runs(device_type: str) -> bool:
    """Whether this PyTorch has Adam's fused kernel for a device type (the CPU's since 2.4)."""
    try:
        torch.optim.Adam([torch.zeros(1, device=device_type, requires_grad=True)], fused=True)
    except (RuntimeError, ValueError, TypeError):
        return False
    return True


class StageEngine:
    """Sets up, runs and finishes stages, given a model family, an objective and random inputs.

    `family` builds the networks of a stage and runs them (`SinGANFamily`); `objective` turns
    critic scores and outputs into losses (`WGANGP`); `inputs` draws every random input of an
    iteration (`RandomInputs`).
    """

    def __init__(self, family: ModelFamily, objective: Objective, inputs: RandomInputs,
                 bf16: bool = False, channels_last: bool = False):
        self.family, self.objective, self.inputs = family, objective, inputs
        self.bf16 = bf16  # the iterations' arithmetic in bfloat16 (autocast; weights stay fp32)
        self.channels_last = channels_last  # the networks' tensors in NHWC (faster convolutions)

    def precision(self, device: torch.device):
        """The autocast context of an iteration: bfloat16 where asked, else none."""
        if not self.bf16:
            return contextlib.nullcontext()
        return torch.autocast(device.type, dtype=torch.bfloat16)

    # --- set-up ------------------------------------------------------------------------------

    def setup(self, n: int, config: SinGANConfig, critic: nn.Module | None = None, *,
              capturable: bool = False) -> Stage:
        """The stage that trains the new scale n (`critic`: scale n-1's, for a warm start).

        `capturable` makes the optimisers replayable in a CUDA graph.
        """
        stage = self.family.new_scale(n, config, critic)
        pool = self.inputs.pool_at(stage.lo) if config.prev_pool else None
        return self._ready(stage, pool, capturable)

    def setup_tuning(self, first: int, last: int, iters: int, prevs: torch.Tensor,
                     config: SinGANConfig, critic: nn.Module | None = None,
                     transform: Callable[[torch.Tensor], torch.Tensor] | None = None) -> Stage:
        """The stage that fine-tunes trained scales first..last for `iters` iterations.

        The critic steps draw their inputs of scale `first` from `prevs` (B, 3, h, w) instead of
        the model's own random samples; `transform` (if any) is applied to those and to the
        reconstruction's input. `critic`: scale `last`'s (trained further), default a fresh one.
        """
        stage = self.family.tune(first, last, iters, config, critic, transform)
        return self._ready(stage, prevs if transform is None else transform(prevs), False)

    def _ready(self, stage: Stage, pool: torch.Tensor | None, capturable: bool) -> Stage:
        """Optimisers, window size, pool and loss sums: what every stage needs the same way."""
        c, device = stage.config, stage.real.device
        if self.channels_last:  # before the optimisers take the parameters
            for net in (self.family.model, *stage.nets.values(), stage.d_net):
                net.to(memory_format=torch.channels_last)

        def lr(v: float):  # capturable optimisers need learning rates as tensors
            return torch.tensor(v, device=device) if capturable else v
        # With bfloat16 (where bits differ from float32 anyway), Adam's fused kernel: the same
        # update up to rounding in a third of the time, a tenth of a coarse stage's iteration.
        fused = (self.bf16 and not capturable and fused_adam_runs(device.type)) or None
        groups = [{"params": params, "lr": lr(rate)} for params, rate in stage.g_groups]
        stage.g_opt = torch.optim.Adam(groups, lr=lr(c.lr_g), betas=(c.beta1, c.beta2),
                                       capturable=capturable, fused=fused)
        stage.d_opt = torch.optim.Adam([{"params": list(stage.d_net.parameters()),
                                         "lr": lr(c.lr_d)}],
                                       lr=lr(c.lr_d), betas=(c.beta1, c.beta2),
                                       capturable=capturable, fused=fused)
        stage.crop = self.inputs.crop_size(stage.n, c)
        stage.pool = pool
        num_scales = self.family.model.num_scales
        stage.swd = c.swd_weight > 0 and stage.n >= num_scales - c.swd_stages
        stage.critic = not (stage.swd and c.swd_only)
        stage.ms = c.ms_weight > 0 and stage.n < c.ms_stages
        names = (*self.objective.names, *(["swd"] if stage.swd else []),
                 *(["ms"] if stage.ms else []))
        stage.sums = {k: torch.zeros((), device=device) for k in names}
        return stage

    def draw(self, stage: Stage) -> Draw:
        """Every random input of one iteration: the inputs' draw, then (with the patch loss)
        its random directions and the corner of the real window it is compared with, then (with
        the mode-seeking loss) a second draw, whose tensors join the first's as "ms:NAME"."""
        draw = self.inputs.draw(stage)
        if stage.swd:
            gen, device = self.inputs.gen, stage.real.device
            draw.tensors["directions"] = random_directions(3, gen, device)
            if stage.crop is not None:
                draw.tensors["real_corner"] = window_corners(
                    tuple(stage.real.shape[-2:]), stage.crop, 1, gen, device)[0]
        if stage.ms:
            other = self.inputs.draw(stage)
            draw.tensors.update({f"ms:{k}": v for k, v in other.tensors.items()})
        return draw

    @staticmethod
    def second(draw: Draw) -> Draw:
        """The second draw of a mode-seeking iteration (see `draw`), as a draw of its own."""
        twin = copy.copy(draw)
        twin.tensors = {k[3:]: v for k, v in draw.tensors.items() if k.startswith("ms:")}
        return twin

    # --- iterations --------------------------------------------------------------------------

    def step(self, stage: Stage, draw: Draw) -> None:
        """One training iteration: critic steps, then generator steps (spec 4.2)."""
        c, d_net, family, objective = stage.config, stage.d_net, self.family, self.objective
        rec_in, rec_z = family.reconstruction(stage, draw)
        logged: dict[str, torch.Tensor] = {}

        # Critic steps. Where every step has the same inputs (ConSinGAN's draw), the generators,
        # which do not change meanwhile, make the same fake: it is made once.
        requires_grad(d_net, True)
        shared, fake = getattr(draw, "shared", False), None
        def inputs(j: int) -> tuple:
            """Critic step j's noise, window, coarse input and real image (or its window)."""
            window = draw.window(j)
            target = stage.real if window is None else crop_window(stage.real, *window)
            return draw.noise(j), window, draw.prev(j), target

        for j in range(c.d_steps if stage.critic else 0):
            zs, window, prev, target = inputs(j)
            if fake is None or not shared:
                with torch.no_grad():
                    fake = family.forward(stage, prev, zs, window)
            d_loss, parts = objective.critic_loss(c, d_net, target, fake, draw.u(j), j)
            logged.update(parts)
            stage.d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            stage.d_opt.step()

        # Generator steps: regenerate the fake each time, with the last critic step's inputs.
        # When the objective pairs real and fake, the generators make the fake and the
        # reconstruction as one batch of two as well.
        requires_grad(d_net, False)
        zs, window, prev, target = inputs(c.d_steps - 1)
        swd_real = None
        if stage.swd:  # the patch loss compares with an independent window of the real image
            corner = draw.tensors.get("real_corner")
            swd_real = stage.real if corner is None else \
                crop_window(stage.real, corner[0], corner[1], *stage.crop)
        # The mode-seeking loss compares the fake with one of another draw's inputs (the same
        # window), made in the same batch.
        twin = self.second(draw) if stage.ms else None
        ins, noises = [prev, rec_in], [zs, rec_z]
        if twin is not None:
            last = c.d_steps - 1
            ins.append(twin.prev(last))
            noises.append(twin.noise(last))
        paired = objective.pairs(c)
        if paired:
            batch_in = torch.cat(ins)
            batch_z = {k: torch.cat([z[k] for z in noises]) for k in zs}

        def loss() -> torch.Tensor:
            if paired:
                outs = family.forward(stage, batch_in, batch_z, window).chunk(len(ins))
            else:
                outs = [family.forward(stage, x, z, window) for x, z in zip(ins, noises)]
            fake, rec_out = outs[0], outs[1]
            total, parts = objective.generator_loss(c, d_net if stage.critic else None, fake,
                                                    rec_out, target)
            if swd_real is not None:
                swd = patch_swd(fake, swd_real, draw.tensors["directions"])
                total = total + c.swd_weight * swd
                parts["swd"] = swd
            if twin is not None:
                ms = mode_seeking(fake, outs[2], ins[0], ins[2])
                total = total + c.ms_weight * ms
                parts["ms"] = ms
            logged.update(parts)
            return total

        family.generator_steps(stage, loss)

        # Running sums stay on the device; they are read only when logging.
        with torch.no_grad():
            for key, v in logged.items():
                stage.sums[key].add_(v.detach())

    def run(self, stage: Stage, report: Report | None = None, *,
            step: Callable[[Draw], None] | None = None, log_every: int | None = None) -> None:
        """All iterations of a stage, the learning rates multiplied by `lr_gamma` at
        `lr_decay_at` of the way.

        `step(draw)` replaces `self.step` (a CUDA graph of it). `report(iteration, losses)`
        follows every iteration; `losses` (mean loss since the last report, plus what the family
        logs) every `log_every` iterations and at the last one, else None.
        """
        c = stage.config
        step = step or (lambda draw: self.step(stage, draw))
        milestone = int(round(c.lr_decay_at * stage.iters))
        count = 0
        for it in range(stage.iters):
            if it == milestone:
                for opt in (stage.g_opt, stage.d_opt):
                    scale_lr(opt, c.lr_gamma)
            draw = self.draw(stage)
            with self.precision(stage.real.device):
                step(draw)
            count += 1
            losses = None
            if log_every and ((it + 1) % log_every == 0 or it + 1 == stage.iters):
                losses = {k: float(v) / count for k, v in stage.sums.items()}
                losses.update(self.family.logged(stage))
                for v in stage.sums.values():
                    v.zero_()
                count = 0
            if report is not None:
                report(it + 1, losses)

    def finish(self, stage: Stage) -> None:
        """Freeze the stage's networks (no gradients, eval mode)."""
        for net in (*stage.nets.values(), stage.d_net):
            requires_grad(net, False)
            net.eval()

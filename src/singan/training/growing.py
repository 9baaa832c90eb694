"""ConSinGAN's model family for the stage engine: one growing generator trained a few stages at a
time (../shared/docs/consingan-facts.md).

A stage trains the newest body (a copy of the previous one; fresh at stage 0), the
`train_depth - 1` bodies below it at learning rates `lr_scale` times smaller per stage, the
shared head while the stage index is below `train_depth` (at lr_g * lr_scale^stage) and the
shared tail always (at lr_g). Its critic starts from the previous stage's. The new stage's noise
amplitude is `noise_amp_scale` x RMSE(real, reconstruction with that amplitude at 0); its fixed
reconstruction noise is drawn when it starts. Every iteration draws fresh noise for every stage
(one draw for the whole iteration: every critic step scores the same fake); the generators then
make one backward pass followed by `g_steps` optimiser steps on that gradient.

With `crop_size`, a stage larger than it trains on one random window per iteration (the critic
steps and the generators' all score the same one): the stages above the window plan's `full`
one are computed only on the bands their window needs (`ConSinGAN.run_window`), their noise is
drawn at the window's size, and the reconstruction's fixed noise is cropped to it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..config import SinGANConfig
from ..consingan import ConSinGAN, WidthChange, carry_body, carry_critic, carry_tail
from ..models import init_weights
from .inputs import window_corners, window_size
from .stage import Stage, requires_grad

HEAD, TAIL = "head", "tail"  # keys of the shared networks among a stage's learning networks


@dataclass
class StageDraw:
    """Every random input of one iteration of a ConSinGAN stage: the stage-0 input `z0` and the
    noise of stages 1..n (the same for every critic step), the gradient penalty's coefficients.
    `tensors` holds them by name for a CUDA graph's static copies."""

    n: int
    tensors: dict[str, torch.Tensor]
    crop: tuple[int, int] | None = None  # the window's size, None for the whole image
    shared = True  # every critic step scores the same fake

    def noise(self, j: int) -> dict[int, torch.Tensor]:
        return {k: self.tensors[f"z{k}"] for k in range(1, self.n + 1)}

    def prev(self, j: int) -> torch.Tensor:
        return self.tensors["z0"]

    def u(self, j: int) -> torch.Tensor:
        return self.tensors["u"][j:j + 1]

    def window(self, j: int) -> tuple | None:
        """(top, left, h, w) of the iteration's window at stage n (the same for every step)."""
        if self.crop is None:
            return None
        corner = self.tensors["corner"]
        return corner[0], corner[1], *self.crop

    @property
    def z_rec(self) -> None:
        return None

    def clone(self) -> StageDraw:
        return StageDraw(self.n, {k: v.clone() for k, v in self.tensors.items()}, self.crop)

    def copy_(self, other: StageDraw) -> None:
        for k, v in other.tensors.items():
            self.tensors[k].copy_(v)


class GrowingInputs:
    """The random inputs of a ConSinGAN training, drawn from `generator` in a fixed order."""

    pool_seed = None  # no pool of coarse inputs: every forward pass starts at stage 0

    def __init__(self, model: ConSinGAN, generator: torch.Generator):
        self.model, self.gen = model, generator

    def pool_at(self, scale: int) -> None:
        return None

    def crop_size(self, n: int, config: SinGANConfig) -> tuple[int, int] | None:
        """(h, w) of stage n's training windows, or None: the whole image."""
        return window_size(self.model.sizes[n], config)

    def draw(self, stage: Stage) -> StageDraw:
        model, gen, n = self.model, self.gen, stage.n
        if stage.pool is not None:  # fine-tuning: the stage-0 inputs to learn from
            pick = torch.randint(stage.pool.shape[0], (1,), generator=gen, device=model.device)
            t = {"z0": stage.pool[pick]}
        else:
            t = {"z0": model.draw_noise(0, 1, generator=gen)}
        plan = None if stage.crop is None else model.window_plan(n, stage.crop)
        for k in range(1, n + 1):
            size = plan.noise_size(k) if plan is not None and k > plan.full else None
            shape = (1, *model.noise_shape(k)[:1], *size) if size else None
            t[f"z{k}"] = model.draw_noise(k, 1, generator=gen) if shape is None else \
                torch.randn(shape, generator=gen, device=model.device,
                            dtype=model.noise_amp.dtype)
        t["u"] = torch.rand(stage.config.d_steps, 1, 1, 1, generator=gen, device=model.device)
        if stage.crop is not None:
            t["corner"] = window_corners(model.sizes[n], stage.crop, 1, gen, model.device)[0]
        return StageDraw(n, t, stage.crop)


class ConSinGANFamily:
    """ConSinGAN's growing generator; `generator` draws fresh weights and the fixed noise."""

    def __init__(self, model: ConSinGAN, generator: torch.Generator):
        self.model, self.gen = model, generator

    # --- stages ------------------------------------------------------------------------------

    def networks(self, n: int, critic: nn.Module | None) -> tuple[nn.Module, nn.Module]:
        """Stage n's body and critic: fresh (with the shared head and tail) at stage 0, else
        copies of stage n-1's (a fresh critic where none is given). Where the width changes at
        stage n, the 1x1 convolution and the new tail start from the tail below
        (`carry_tail`), the blocks from the body below seen through that convolution
        (`carry_body`), the critic from the critic below (`carry_critic`)."""
        model, device = self.model, self.model.device
        body = model.new_body(n).to(device)
        d_net = model.new_discriminator(n).to(device)
        if n == 0:
            for net in (model.head, body, model.tail, d_net):
                init_weights(net, self.gen)
            return body, d_net
        below = model.bodies[n - 1]
        below = below.blocks if isinstance(below, WidthChange) else below
        if isinstance(body, WidthChange):
            carry_tail(model.tail_for(n - 1), body.adapt, model.tail_for(n))
            carry_body(below, body.adapt, body.blocks)
        else:
            body.load_state_dict(below.state_dict())
        if critic is None:
            init_weights(d_net, self.gen)
        else:  # an exact copy where the width stays
            carry_critic(critic, d_net)
        return body, d_net

    def new_scale(self, n: int, config: SinGANConfig, critic: nn.Module | None) -> Stage:
        model, c = self.model, config
        self._freeze_all()
        body, d_net = self.networks(n, critic)
        lo = max(0, n - c.train_depth + 1)
        if n == 0 and c.mode == "animation":  # the reconstruction starts from noise, not the image
            model.z_rec_0.copy_(model.draw_noise(0, 1, generator=self.gen))
        if n > 0:
            getattr(model, f"z_rec_{n}").copy_(model.draw_noise(n, 1, generator=self.gen))
        nets: dict = {k: model.bodies[k] for k in range(lo, n)}
        nets[n] = body
        if n < c.train_depth:
            nets[HEAD] = model.head
        nets[TAIL] = model.tail_for(n)
        amps = {k: model.noise_amp[k] for k in range(lo, n)}
        amps[n] = self._noise_amp(n, body, c)
        for net in (*nets.values(), d_net):
            net.train()
            requires_grad(net, True)
        return Stage(config=c, n=n, lo=lo, iters=c.iters_at(n, model.num_scales), nets=nets,
                     amps=amps, d_net=d_net, g_groups=self._groups(nets, n, c),
                     real=model.reals[n], rec_in=model.rec_noise(0),
                     rec_z={k: model.rec_noise(k) for k in range(1, n + 1)})

    @torch.no_grad()
    def _noise_amp(self, n: int, body: nn.Module, c: SinGANConfig) -> torch.Tensor:
        """1 at stage 0; else noise_amp_scale x RMSE(real, reconstruction with this stage's
        amplitude at 0)."""
        model = self.model
        if n == 0:
            return torch.ones((), device=model.device)
        rec = model.run(model.rec_noise(0), {k: model.rec_noise(k) for k in range(1, n + 1)},
                        n + 1, bodies={n: body}, amps={n: torch.zeros((), device=model.device)})
        return c.noise_amp_scale * torch.sqrt(torch.mean((model.reals[n] - rec) ** 2))

    def tune(self, first: int, last: int, iters: int, config: SinGANConfig,
             critic: nn.Module | None, transform: Callable | None = None) -> Stage:
        """Trained stages first..last (and the tail, and the head below `train_depth`) learning
        again; the critic's fakes start from the stage-0 inputs of the stage's pool (the
        injected image), the reconstruction from the real one."""
        model, c = self.model, config
        self._freeze_all()
        nets: dict = {k: model.bodies[k] for k in range(first, last + 1)}
        if first < c.train_depth:
            nets[HEAD] = model.head
        nets[TAIL] = model.tail_for(last)
        d_net = critic
        if d_net is None:
            d_net = model.new_discriminator(last).to(model.device)
            init_weights(d_net, self.gen)
        for net in (*nets.values(), d_net):
            net.train()
            requires_grad(net, True)
        rec_in = model.rec_noise(0)
        return Stage(config=c, n=last, lo=first, iters=iters, nets=nets,
                     amps={k: model.noise_amp[k] for k in range(first, last + 1)}, d_net=d_net,
                     g_groups=self._groups(nets, last, c), real=model.reals[last],
                     rec_in=rec_in if transform is None else transform(rec_in),
                     rec_z={k: model.rec_noise(k) for k in range(1, last + 1)})

    def _freeze_all(self) -> None:
        model = self.model
        for net in (model.head, model.tail, *model.tails.values(), *model.bodies):
            net.eval()
            requires_grad(net, False)

    @staticmethod
    def _groups(nets: dict, n: int, c: SinGANConfig) -> list:
        groups = [(list(net.parameters()), c.lr_g * c.lr_scale ** (n - k))
                  for k, net in nets.items() if isinstance(k, int)]
        if HEAD in nets:
            groups.append((list(nets[HEAD].parameters()), c.lr_g * c.lr_scale ** n))
        groups.append((list(nets[TAIL].parameters()), c.lr_g))
        return groups

    # --- iterations --------------------------------------------------------------------------

    def reconstruction(self, stage: Stage, draw: StageDraw) -> tuple[torch.Tensor, dict]:
        """The reconstruction's inputs; with a window, its noise cropped to the window's bands
        (so that it batches with the draw's)."""
        window = draw.window(0)
        if window is None:
            return stage.rec_in, stage.rec_z
        plan = self.model.window_plan(stage.n, window[2:])
        at = plan.positions(*window[:2])
        return stage.rec_in, {k: plan.noise_window(k, z, at[k]) if k > plan.full else z
                              for k, z in stage.rec_z.items()}

    def forward(self, stage: Stage, x: torch.Tensor, noise: dict[int, torch.Tensor],
                window: tuple | None) -> torch.Tensor:
        """The image of stage n (or its `window`) from the stage-0 input x, through every
        stage."""
        bodies = {k: net for k, net in stage.nets.items() if isinstance(k, int)}
        kw = dict(bodies=bodies, amps=stage.amps, head=stage.nets.get(HEAD),
                  tail=stage.nets.get(TAIL))
        if window is None:
            return self.model.run(x, noise, stage.n + 1, **kw)
        return self.model.run_window(x, noise, stage.n, window[:2], window[2:], **kw)

    def generator_steps(self, stage: Stage, loss: Callable[[], torch.Tensor]) -> None:
        """One backward pass, then `g_steps` optimiser steps on that same gradient."""
        total = loss()
        stage.g_opt.zero_grad(set_to_none=True)
        total.backward()
        for _ in range(stage.config.g_steps):
            stage.g_opt.step()

    def logged(self, stage: Stage) -> dict[str, float]:
        return {"noise_amp": float(stage.amps[stage.n])}

    def append(self, stage: Stage) -> None:
        self.model.add_stage(stage.nets[stage.n], stage.amps[stage.n].detach())

    # --- restarts ----------------------------------------------------------------------------

    def snapshot(self, n: int, config: SinGANConfig) -> dict:
        """What a stage training n changes in place: the shared networks, the bodies below n that
        learn with it, and the fixed inputs it draws."""
        lo = max(0, n - config.train_depth + 1)
        model = self.model
        nets = {HEAD: model.head, TAIL: model.tail_for(n),
                **{k: model.bodies[k] for k in range(lo, n)}}
        return {"n": n, "nets": {k: {name: t.clone() for name, t in net.state_dict().items()}
                                 for k, net in nets.items()},
                "z_rec": {k: model.rec_noise(k).clone() for k in range(model.num_scales)}}

    def restore(self, saved: dict) -> None:
        model = self.model
        shared = {HEAD: model.head, TAIL: model.tail_for(saved["n"])}
        for k, state in saved["nets"].items():
            net = shared[k] if isinstance(k, str) else model.bodies[k]
            net.load_state_dict(state)
        for k, z in saved["z_rec"].items():
            getattr(model, f"z_rec_{k}").copy_(z)

"""Model families: how a model grows and which of its networks learn in a stage.

A family is given to the stage engine (`ModelFamily` lists what it provides). `SinGANFamily` is
SinGAN's: one generator per scale, each new scale's generator and critic copied from the previous
scale's when their widths match (a warm start) or freshly initialised, its noise amplitude set
from the reconstruction error of the scales below, up to `train_depth` scales learning together
(the coarser ones `lr_scale` times slower per scale), one optimiser step per generator step.
Scale 0 is the coarsest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch
from torch import nn

from ..config import SinGANConfig
from ..models import SinGAN, init_weights
from .inputs import Draw
from .stage import Stage, requires_grad

Transform = Callable[[torch.Tensor], torch.Tensor]


class ModelFamily(Protocol):
    model: SinGAN

    def new_scale(self, n: int, config: SinGANConfig, critic: nn.Module | None) -> Stage:
        """The networks, noise amplitudes and reconstruction of a stage training new scale n."""

    def tune(self, first: int, last: int, iters: int, config: SinGANConfig,
             critic: nn.Module | None, transform: Transform | None) -> Stage:
        """The same for fine-tuning trained scales first..last."""

    def reconstruction(self, stage: Stage, draw: Draw) -> tuple[torch.Tensor, dict]:
        """The reconstruction's input and noise for one iteration."""

    def forward(self, stage: Stage, x: torch.Tensor, noise: dict[int, torch.Tensor],
                window: tuple | None) -> torch.Tensor:
        """The stage's learning networks on x, the input of scale `stage.lo`."""

    def generator_steps(self, stage: Stage, loss: Callable[[], torch.Tensor]) -> None:
        """The generators' updates of one iteration; `loss()` runs a forward pass and scores it."""

    def logged(self, stage: Stage) -> dict[str, float]:
        """Values reported with the losses."""

    def append(self, stage: Stage) -> None:
        """Add the stage's trained scale to the model."""

    def snapshot(self, n: int, config: SinGANConfig) -> dict:
        """What a stage training scale n changes in place, to restore it after a divergence."""

    def restore(self, saved: dict) -> None: ...


class SinGANFamily:
    """SinGAN's per-scale generators; `generator` draws fresh weights and scale 0's z_rec."""

    def __init__(self, model: SinGAN, generator: torch.Generator):
        self.model, self.gen = model, generator

    # --- stages ------------------------------------------------------------------------------

    def networks(self, n: int, config: SinGANConfig,
                 critic: nn.Module | None) -> tuple[nn.Module, nn.Module]:
        """G_n and D_n: copies of scale n-1's generator and `critic` when widths match (warm
        start), else fresh."""
        model, c, device = self.model, config, self.model.device
        g_net = model.new_generator(n).to(device)
        d_net = model.new_discriminator(n).to(device)
        if n > 0 and c.channels(n) == c.channels(n - 1) and critic is not None:
            g_net.load_state_dict(model.generators[n - 1].state_dict())
            d_net.load_state_dict(critic.state_dict())
        else:
            init_weights(g_net, self.gen)
            init_weights(d_net, self.gen)
        return g_net, d_net

    def new_scale(self, n: int, config: SinGANConfig, critic: nn.Module | None) -> Stage:
        """Scale n's new networks, with up to `train_depth - 1` trained scales learning
        alongside; sets z_rec at scale 0."""
        model, c = self.model, config
        self._freeze_all()
        g_net, d_net = self.networks(n, c, critic)
        lo = max(0, n - c.train_depth + 1)  # first scale that learns in this stage
        nets = {k: model.generators[k] for k in range(lo, n)}
        nets[n] = g_net
        for k in range(lo, n):
            nets[k].train()
            requires_grad(nets[k], True)
        g_net.train()
        d_net.train()

        # Noise amplitude of the new scale and the fixed inputs of the reconstruction. (With
        # BatchNorm the learning scales reconstruct in training mode, as the original.)
        real = model.reals[n]
        if n == 0:
            model.z_rec.copy_(model.draw_noise(0, 1, generator=self.gen))
            amp_n = torch.ones((), device=model.device)
        else:
            rec_prev = model.reconstruct(n)
            amp_n = c.noise_amp_scale * torch.sqrt(torch.mean((real - rec_prev) ** 2))
        amps = {k: model.noise_amp[k] for k in range(lo, n)}
        amps[n] = amp_n
        return Stage(config=c, n=n, lo=lo, iters=c.iters_at(n, model.num_scales), nets=nets,
                     amps=amps, d_net=d_net, g_groups=self._groups(nets, n, c), real=real,
                     rec_in=model.reconstruct(lo), rec_z=self._rec_z(nets))

    def tune(self, first: int, last: int, iters: int, config: SinGANConfig,
             critic: nn.Module | None, transform: Transform | None = None) -> Stage:
        """Trained scales first..last learning again; `critic` (scale `last`'s) or a fresh one.
        `transform` applies to the reconstruction's input."""
        model = self.model
        self._freeze_all()
        nets = {k: model.generators[k] for k in range(first, last + 1)}
        for net in nets.values():
            net.train()
            requires_grad(net, True)
        d_net = critic
        if d_net is None:
            d_net = model.new_discriminator(last).to(model.device)
            init_weights(d_net, self.gen)
        d_net.train()
        rec_in = model.reconstruct(first)
        return Stage(config=config, n=last, lo=first, iters=iters, nets=nets,
                     amps={k: model.noise_amp[k] for k in nets}, d_net=d_net,
                     g_groups=self._groups(nets, last, config), real=model.reals[last],
                     rec_in=rec_in if transform is None else transform(rec_in),
                     rec_z=self._rec_z(nets))

    def _freeze_all(self) -> None:
        for g in self.model.generators:
            g.eval()
            requires_grad(g, False)

    @staticmethod
    def _groups(nets: dict[int, nn.Module], n: int, c: SinGANConfig) -> list:
        """The newest scale at full rate, each coarser one lr_scale times slower."""
        return [(list(nets[k].parameters()), c.lr_g * c.lr_scale ** (n - k)) for k in nets]

    def _rec_z(self, nets: dict[int, nn.Module]) -> dict[int, torch.Tensor]:
        return {k: self.model.rec_noise(k) for k in nets}

    # --- iterations --------------------------------------------------------------------------

    def reconstruction(self, stage: Stage, draw: Draw) -> tuple[torch.Tensor, dict]:
        rec_z = dict(stage.rec_z)
        if draw.z_rec is not None:  # redraw_z_rec: the original's new z_rec every iteration
            self.model.z_rec.copy_(draw.z_rec)
            rec_z[0] = draw.z_rec
        return stage.rec_in, rec_z

    def forward(self, stage: Stage, x: torch.Tensor, noise: dict[int, torch.Tensor],
                window: tuple | None) -> torch.Tensor:
        """Scales lo..n with the learning generators; `window` at scale n only."""
        return self.model.walk(x, stage.lo, stage.n + 1, noise=noise, nets=stage.nets,
                               amps=stage.amps, window=window)

    def generator_steps(self, stage: Stage, loss: Callable[[], torch.Tensor]) -> None:
        """`g_steps` steps, each on a freshly generated fake."""
        for _ in range(stage.config.g_steps):
            total = loss()
            stage.g_opt.zero_grad(set_to_none=True)
            total.backward()
            stage.g_opt.step()

    def logged(self, stage: Stage) -> dict[str, float]:
        return {"noise_amp": float(stage.amps[stage.n])}

    def append(self, stage: Stage) -> None:
        self.model.add_scale(stage.nets[stage.n], stage.amps[stage.n].detach())

    # --- restarts ----------------------------------------------------------------------------

    def snapshot(self, n: int, config: SinGANConfig) -> dict:
        """What training scale n changes in place: z_rec and the earlier generators that learn."""
        lo = max(0, n - config.train_depth + 1)
        return {"z_rec": self.model.z_rec.clone(),
                "generators": {k: {name: t.clone() for name, t in
                                   self.model.generators[k].state_dict().items()}
                               for k in range(lo, n)}}

    def restore(self, saved: dict) -> None:
        self.model.z_rec.copy_(saved["z_rec"])
        for k, state in saved["generators"].items():
            self.model.generators[k].load_state_dict(state)

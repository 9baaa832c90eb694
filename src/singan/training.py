"""Training a SinGAN on one image, scale by scale from coarse to fine (spec section 4).

Differences from the original code, all deliberate (see README):
- the fake image is regenerated at every generator step (the original reused a stale graph, which
  newer PyTorch rejects; spec 8.1);
- the coarsest reconstruction noise z_rec is drawn once, as the paper says (the original redraws it
  every iteration; `redraw_z_rec=True` restores that);
- resampling is done in float on the model's device (no 8-bit round trip unless
  `quantize_8bit=True`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .config import SinGANConfig
from .losses import d_wgan_loss, g_adv_loss, gradient_penalty, rec_loss
from .models import Discriminator, SinGAN, init_weights
from .pyramid import build_pyramid, geometry


@dataclass
class Progress:
    """What the training loop reports after every iteration."""

    scale: int  # scale being trained (0 = coarsest)
    num_scales: int
    iteration: int  # 1-based iteration within the scale
    iters: int  # iterations of this scale
    elapsed: float  # seconds since training (or resuming) began
    losses: dict[str, float] | None = None  # filled every `log_every` iterations and at the end
    scale_done: bool = False  # True once for the last iteration of a scale


Callback = Callable[[Progress], None]


@dataclass
class TrainState:
    """What resuming needs beyond the model: the last critic and the random generator's state."""

    scale: int  # last finished scale
    discriminator: dict[str, torch.Tensor] = field(default_factory=dict)
    rng_state: torch.Tensor | None = None


def requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


class Trainer:
    """Trains the scales of a `SinGAN` one after another.

    Use `Trainer.from_image(...)` to start and `Trainer(model, state, ...)` to resume; `run()`
    trains every remaining scale.
    """

    def __init__(self, model: SinGAN, *, generator: torch.Generator,
                 discriminator: Discriminator | None = None, log_every: int = 25):
        self.model = model
        self.config = model.config
        self.gen = generator
        self.device = model.z_rec.device
        self.discriminator = discriminator
        self.log_every = log_every

    @classmethod
    def from_image(cls, image: torch.Tensor, config: SinGANConfig, *,
                   device: torch.device | str = "cpu", seed: int = 0,
                   log_every: int = 25) -> Trainer:
        """Set up training on a (1, 3, H, W) image in [-1, 1]."""
        h, w = image.shape[-2:]
        geo = geometry(h, w, min_size=config.min_size, max_size=config.max_size,
                       scale_factor_init=config.scale_factor_init)
        model = SinGAN(config, list(geo.sizes), geo.scale_factor).to(device)
        reals = build_pyramid(image.to(device=device, dtype=torch.float32), geo,
                              quantize=config.quantize_8bit)
        model.set_reals(reals)
        gen = torch.Generator(device=device).manual_seed(int(seed))
        return cls(model, generator=gen, log_every=log_every)

    @classmethod
    def resume(cls, model: SinGAN, state: TrainState, *, log_every: int = 25) -> Trainer:
        """Continue training after `state.scale`, with the model's first scales already trained."""
        device = model.z_rec.device
        gen = torch.Generator(device=device)
        if state.rng_state is not None:
            gen.set_state(state.rng_state.cpu())
        disc = None
        if state.discriminator:
            disc = model.new_discriminator(state.scale).to(device)
            disc.load_state_dict(state.discriminator)
        while model.num_trained > state.scale + 1:  # drop a scale saved without its train state
            del model.generators[-1]
            model.noise_amp = model.noise_amp[:-1].clone()
        return cls(model, generator=gen, discriminator=disc, log_every=log_every)

    def state(self) -> TrainState:
        disc = {k: v.detach().clone() for k, v in self.discriminator.state_dict().items()} \
            if self.discriminator is not None else {}
        return TrainState(scale=self.model.num_trained - 1, discriminator=disc,
                          rng_state=self.gen.get_state())

    # --- the loop ----------------------------------------------------------------------------

    def run(self, callback: Callback | None = None,
            on_scale_end: Callable[[Trainer], None] | None = None) -> SinGAN:
        """Train every scale not trained yet; returns the model in eval mode."""
        start = time.perf_counter()
        while not self.model.is_complete:
            self.train_scale(self.model.num_trained, callback, start)
            if on_scale_end is not None:
                on_scale_end(self)
        return self.model.eval()

    def _new_networks(self, n: int) -> tuple[nn.Module, Discriminator]:
        """G_n and D_n: copies of scale n-1's when widths match (warm start), else fresh."""
        model, c = self.model, self.config
        g_net = model.new_generator(n).to(self.device)
        d_net = model.new_discriminator(n).to(self.device)
        if n > 0 and c.channels(n) == c.channels(n - 1) and self.discriminator is not None:
            g_net.load_state_dict(model.generators[n - 1].state_dict())
            d_net.load_state_dict(self.discriminator.state_dict())
        else:
            init_weights(g_net, self.gen)
            init_weights(d_net, self.gen)
        return g_net, d_net

    @torch.no_grad()
    def _random_prev(self, upto: int, batch: int) -> torch.Tensor:
        """Random samples of the frozen scales 0..upto-1, up-sampled to scale `upto`."""
        model = self.model
        x = model.z_rec.new_zeros(batch, 3, *model.sizes[0])
        for k in range(upto):
            x = model.scale_step(k, x, model.draw_noise(k, batch, generator=self.gen))
            x = model.upsample(x, model.sizes[k + 1])
        return x

    def _crop_windows(self, n: int, iters: int) -> list[list[tuple[int, int, int, int]]]:
        """Random (top, left, h, w) windows per iteration and critic step, or [] for no crops."""
        c, (h, w) = self.config, self.model.sizes[n]
        if not c.crop_size or max(h, w) <= c.crop_size:
            return []
        ch, cw = min(h, c.crop_size), min(w, c.crop_size)
        u = torch.rand(iters, c.d_steps, 2, generator=self.gen, device=self.device).tolist()
        return [[(int(a * (h - ch + 1)), int(b * (w - cw + 1)), ch, cw) for a, b in row]
                for row in u]

    def train_scale(self, n: int, callback: Callback | None = None,
                    start: float | None = None) -> None:
        """Train scale n (with up to `train_depth - 1` coarser scales alongside) and append it."""
        model, c, gen = self.model, self.config, self.gen
        start = time.perf_counter() if start is None else start
        for g in model.generators:
            g.eval()
            requires_grad(g, False)
        g_net, d_net = self._new_networks(n)
        real = model.reals[n]
        lo = max(0, n - c.train_depth + 1)  # first scale that learns in this stage
        nets = {k: model.generators[k] for k in range(lo, n)}
        nets[n] = g_net

        # Noise amplitude of the new scale and the fixed inputs of the reconstruction.
        if n == 0:
            model.z_rec.copy_(model.draw_noise(0, 1, generator=gen))
            amp_n = torch.ones((), device=self.device)
        else:
            rec_prev = model.reconstruct(n)
            amp_n = c.noise_amp_scale * torch.sqrt(torch.mean((real - rec_prev) ** 2))
        amps = {k: model.noise_amp[k] for k in range(lo, n)}
        amps[n] = amp_n
        rec_in = model.reconstruct(lo)  # input of scale lo when reconstructing

        # Optimisers: the newest scale at full rate, earlier learning scales scaled down.
        g_groups = [{"params": list(nets[k].parameters()),
                     "lr": c.lr_g * c.lr_scale ** (n - k)} for k in range(lo, n + 1)]
        for k in range(lo, n):
            nets[k].train()
            requires_grad(nets[k], True)
        g_opt = torch.optim.Adam(g_groups, lr=c.lr_g, betas=(c.beta1, c.beta2))
        d_opt = torch.optim.Adam(d_net.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
        iters = c.iters_at(n, model.num_scales)
        milestone = int(round(c.lr_decay_at * iters))
        scheds = [torch.optim.lr_scheduler.MultiStepLR(o, [milestone], c.lr_gamma)
                  for o in (g_opt, d_opt)]

        def forward(x: torch.Tensor, zs: dict[int, torch.Tensor],
                    window: tuple[int, int, int, int] | None) -> torch.Tensor:
            for k in range(lo, n):
                x = model.upsample(model.scale_step(k, x, zs[k], nets[k], amps[k]),
                                   model.sizes[k + 1])
            return model.scale_step(n, x, zs[n], nets[n], amps[n], window)

        # Large scales train on random crops (the same computation as on the whole image, on
        # a window of it); all windows of the scale are drawn at once to avoid host syncs.
        windows = self._crop_windows(n, iters)

        rec_z = {k: model.rec_noise(k) for k in range(lo, n + 1)}
        g_net.train()
        d_net.train()
        sums = {"d_loss": 0.0, "g_loss": 0.0, "rec_loss": 0.0, "gp": 0.0}
        sums_t = {k: torch.zeros((), device=self.device) for k in sums}
        count = 0
        for it in range(iters):
            if n == 0 and c.redraw_z_rec:
                model.z_rec.copy_(model.draw_noise(0, 1, generator=gen))
                rec_z[0] = model.rec_noise(0)
            z_n = model.draw_noise(n, 1, generator=gen)  # once per iteration
            # Random inputs of every critic step, drawn as one batch through the frozen scales.
            prevs = self._random_prev(lo, c.d_steps)
            z_lo = {k: model.draw_noise(k, c.d_steps, generator=gen) for k in range(lo, n)}

            # Critic steps.
            requires_grad(d_net, True)
            for j in range(c.d_steps):
                zs = {k: z[j:j + 1] for k, z in z_lo.items()}
                zs[n] = z_n
                win = windows[it][j] if windows else None
                target = _crop(real, win)
                with torch.no_grad():
                    fake = forward(prevs[j:j + 1], zs, win)
                d_real = d_net(target)
                d_fake = d_net(fake)
                gp = gradient_penalty(d_net, target, fake, gen)
                d_loss = d_wgan_loss(d_real, d_fake) + c.gp_weight * gp
                d_opt.zero_grad(set_to_none=True)
                d_loss.backward()
                d_opt.step()

            # Generator steps: regenerate the fake each time, with the last critic step's inputs.
            requires_grad(d_net, False)
            for _ in range(c.g_steps):
                fake = forward(prevs[-1:], zs, win)
                g_adv = g_adv_loss(d_net(fake))
                rec = c.rec_weight * rec_loss(forward(rec_in, rec_z, win), target)
                g_loss = g_adv + rec
                g_opt.zero_grad(set_to_none=True)
                g_loss.backward()
                g_opt.step()
            for s in scheds:
                s.step()

            # Running sums stay on the device; they are read only when logging.
            with torch.no_grad():
                sums_t["d_loss"] += d_loss.detach()
                sums_t["g_loss"] += g_adv.detach()
                sums_t["rec_loss"] += rec.detach()
                sums_t["gp"] += gp.detach()
            count += 1
            last = it + 1 == iters
            losses = None
            if (it + 1) % self.log_every == 0 or last:
                losses = {k: float(v) / count for k, v in sums_t.items()}
                losses["noise_amp"] = float(amp_n)
                for v in sums_t.values():
                    v.zero_()
                count = 0
            if callback is not None:
                callback(Progress(n, model.num_scales, it + 1, iters,
                                  time.perf_counter() - start, losses, last))

        for k in range(lo, n):
            requires_grad(nets[k], False)
            nets[k].eval()
        requires_grad(g_net, False)
        requires_grad(d_net, False)
        g_net.eval()
        d_net.eval()
        model.add_scale(g_net, amp_n.detach())
        self.discriminator = d_net


def _crop(x: torch.Tensor, window: tuple[int, int, int, int] | None) -> torch.Tensor:
    if window is None:
        return x
    top, left, h, w = window
    return x[..., top:top + h, left:left + w]


def train(image: torch.Tensor, config: SinGANConfig, *, device: torch.device | str = "cpu",
          seed: int = 0, callback: Callback | None = None,
          on_scale_end: Callable[[Trainer], None] | None = None, log_every: int = 25) -> SinGAN:
    """Train a SinGAN on a (1, 3, H, W) image in [-1, 1] (or (3, H, W)); returns it in eval mode.

    `callback` receives a `Progress` after every iteration; `on_scale_end` the trainer after each
    finished scale (the CLI saves the run there).
    """
    if image.dim() == 3:
        image = image.unsqueeze(0)
    trainer = Trainer.from_image(image, config, device=device, seed=seed, log_every=log_every)
    return trainer.run(callback, on_scale_end)


def num_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def expected_work(model: SinGAN) -> list[float]:
    """Relative cost of training each scale (pixels x width^2 x iterations), for progress bars."""
    c, crop = model.config, model.config.crop_size or 1 << 30
    return [min(h, crop) * min(w, crop) * c.channels(n) ** 2 * c.iters_at(n, model.num_scales)
            for n, (h, w) in enumerate(model.sizes)]


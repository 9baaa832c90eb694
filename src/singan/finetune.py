"""Continue training some scales of a trained model on other inputs (ConSinGAN's fine-tuning).

Used by editing and harmonization (the generators from the injection scale up learn to turn the
injected naive image into patches of the training image) and by quantised paint-to-image (the
injection scale learns to turn palette-quantised images into the training image, spec 6.2 step 4).
The losses are training's (spec 4): a WGAN-GP critic against the training image at the finest
learning scale, plus the weighted reconstruction loss that keeps the model reproducing it.
The model is changed in place: callers that must keep it pass a copy.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .errors import ConfigError
from .losses import d_wgan_loss, g_adv_loss, gradient_penalty, rec_loss
from .models import SinGAN, init_weights
from .training import requires_grad

Transform = Callable[[torch.Tensor], torch.Tensor]


@torch.no_grad()
def _frozen_chain(model: SinGAN, x: torch.Tensor, start: int, stop: int,
                  gen: torch.Generator) -> torch.Tensor:
    """Run scales start..stop-1 on `x` (at scale `start`) with fresh noise, up to scale `stop`."""
    for k in range(start, stop):
        x = model.scale_step(k, x, model.draw_noise(k, x.shape[0], generator=gen))
        x = model.upsample(x, model.sizes[k + 1])
    return x


def fine_tune(model: SinGAN, first: int, last: int, iters: int, *, generator: torch.Generator,
              start_scale: int = 0, start_image: torch.Tensor | None = None,
              transform: Transform | None = None, critic: nn.Module | None = None,
              callback: Callable[[int, int], None] | None = None) -> nn.Module:
    """Train the generators of scales first..last of `model` for `iters` more iterations.

    The random input of scale `first` is `start_image` injected at `start_scale` (zeros at scale
    0 when None: the model's own random samples), run through the frozen scales start_scale..
    first-1 with fresh noise, then passed through `transform` (as is the reconstruction input).
    Scale `last` learns at the config's lr_g, each coarser one `lr_scale` times slower. The critic
    at `last` is `critic` (changed in place) or a freshly initialised one. `callback(done, iters)`
    is called after every iteration. Returns the critic; the model is left in eval mode with its
    parameters frozen.
    """
    c, device = model.config, model.z_rec.device
    if not 0 <= start_scale <= first <= last < model.num_trained:
        raise ConfigError(f"cannot fine-tune scales {first}..{last} from scale {start_scale} of "
                          f"a model with {model.num_trained} trained scales")
    if iters < 0:
        raise ConfigError(f"fine-tuning iterations must be >= 0, got {iters}")
    keep = transform or (lambda x: x)
    if start_image is None:
        start_image = model.z_rec.new_zeros(1, 3, *model.sizes[start_scale])
    if critic is None:
        critic = model.new_discriminator(last).to(device)
        init_weights(critic, generator)
    nets = {k: model.generators[k] for k in range(first, last + 1)}
    for g in model.generators:
        requires_grad(g, False)
        g.eval()
    for g in nets.values():
        requires_grad(g, True)
        g.train()
    critic.train()
    groups = [{"params": nets[k].parameters(), "lr": c.lr_g * c.lr_scale ** (last - k)}
              for k in nets]
    g_opt = torch.optim.Adam(groups, lr=c.lr_g, betas=(c.beta1, c.beta2))
    d_opt = torch.optim.Adam(critic.parameters(), lr=c.lr_d, betas=(c.beta1, c.beta2))
    milestone = int(round(c.lr_decay_at * iters))
    scheds = [torch.optim.lr_scheduler.MultiStepLR(o, [milestone], c.lr_gamma)
              for o in (g_opt, d_opt)]

    def forward(x: torch.Tensor, zs: dict[int, torch.Tensor]) -> torch.Tensor:
        for k in nets:
            x = model.scale_step(k, x, zs[k], nets[k])
            if k < last:
                x = model.upsample(x, model.sizes[k + 1])
        return x

    real = model.reals[last]
    rec_in = keep(model.reconstruct(first))
    rec_z = {k: model.rec_noise(k) for k in nets}
    starts = start_image.expand(c.d_steps, -1, -1, -1)
    for it in range(iters):
        prevs = keep(_frozen_chain(model, starts, start_scale, first, generator))
        z_all = {k: model.draw_noise(k, c.d_steps, generator=generator) for k in nets}

        requires_grad(critic, True)
        for j in range(c.d_steps):  # critic steps, each on its own random input
            zs = {k: z[j:j + 1] for k, z in z_all.items()}
            with torch.no_grad():
                fake = forward(prevs[j:j + 1], zs)
            d_loss = d_wgan_loss(critic(real), critic(fake)) + \
                c.gp_weight * gradient_penalty(critic, real, fake, generator)
            d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            d_opt.step()

        requires_grad(critic, False)
        for _ in range(c.g_steps):  # generator steps on the last critic step's input
            fake = forward(prevs[-1:], zs)
            g_loss = g_adv_loss(critic(fake)) + \
                c.rec_weight * rec_loss(forward(rec_in, rec_z), real)
            g_opt.zero_grad(set_to_none=True)
            g_loss.backward()
            g_opt.step()
        for s in scheds:
            s.step()
        if callback is not None:
            callback(it + 1, iters)

    for g in nets.values():
        requires_grad(g, False)
        g.eval()
    critic.eval()
    return critic

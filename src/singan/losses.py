"""Losses of SinGAN's training (spec section 4): WGAN critic, gradient penalty, reconstruction."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def d_wgan_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """Critic loss: push scores of real patches up and of fake patches down."""
    return d_fake.mean() - d_real.mean()


def g_adv_loss(d_fake: torch.Tensor) -> torch.Tensor:
    """Generator adversarial loss."""
    return -d_fake.mean()


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None,
                     u: torch.Tensor | None = None) -> torch.Tensor:
    """WGAN-GP term, unweighted: mean over pixels of (||grad||_2 - 1)^2.

    As the original: one interpolation coefficient per image, and the gradient norm taken per
    pixel over channels (1-Lipschitz per patch), averaged over batch and positions. No gradient
    flows to whatever produced `fake`. `u` (B, 1, 1, 1) gives the coefficients; by default they
    are drawn uniformly from `generator`.
    """
    if u is None:
        u = torch.rand(real.shape[0], 1, 1, 1, generator=generator, device=real.device,
                       dtype=real.dtype)
    interp = (u * real + (1 - u) * fake.detach()).requires_grad_(True)
    scores = critic(interp)
    (grad,) = torch.autograd.grad(scores.sum(), interp, create_graph=True)
    return ((grad.norm(2, dim=1) - 1) ** 2).mean()


def rec_loss(output: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Reconstruction loss (unweighted): mean squared error."""
    return F.mse_loss(output, real)


SWD_PATCH = 7  # side of the patches of the patch sliced-Wasserstein loss (GPDM's)
SWD_DIRECTIONS = 64  # random directions per step (GPDM's)


def random_directions(channels: int, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu", count: int = SWD_DIRECTIONS,
                      patch: int = SWD_PATCH) -> torch.Tensor:
    """`count` random unit directions in the space of (channels x patch x patch) patches, as
    the (count, channels, patch, patch) weight of a convolution that projects every patch."""
    d = torch.randn(count, channels * patch * patch, generator=generator, device=device)
    d = d / d.norm(dim=1, keepdim=True)
    return d.reshape(count, channels, patch, patch)


def patch_swd(fake: torch.Tensor, real: torch.Tensor, directions: torch.Tensor) -> torch.Tensor:
    """Sliced Wasserstein distance between the patch distributions of `fake` and `real` (GPDM's
    loss): every patch of each (B, C, H, W, the same size) projected on every direction (a
    convolution), the projections of each direction sorted, and the mean absolute difference of
    the sorted values. Computed in float32 even under autocast; gradients reach `fake` only."""
    with torch.autocast(fake.device.type, enabled=False):
        w = directions.float()
        pf = F.conv2d(fake.float(), w).flatten(2)  # (B, directions, patches)
        pr = F.conv2d(real.detach().float(), w).flatten(2)
        return (pf.sort(dim=2).values - pr.sort(dim=2).values).abs().mean()


MS_EPS = 1e-5  # keeps the mode-seeking loss finite when two fakes coincide (MSGAN's)


def mode_seeking(fake_a: torch.Tensor, fake_b: torch.Tensor, in_a: torch.Tensor,
                 in_b: torch.Tensor) -> torch.Tensor:
    """Mode-seeking loss (Mao et al., CVPR 2019), unweighted: 1 / (d(fakes) / d(inputs) + eps)
    with d the mean absolute difference. Minimising it pushes two fakes of different inputs
    apart, less and less as they separate; no gradient flows into the inputs."""
    ratio = (fake_a - fake_b).abs().mean() / (in_a - in_b).detach().abs().mean().clamp_min(1e-12)
    return 1 / (ratio + MS_EPS)

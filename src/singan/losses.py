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

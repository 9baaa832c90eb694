"""Objectives: what the critic and the generators minimise in one step.

An objective is given to the stage engine. It names the losses it reports (`names`, the keys of
`Progress.losses`), says whether real and fake may be scored as one batch (`pairs`), and turns a
critic step's real and fake into the critic's loss and a generator step's fake and
reconstruction into the generators' loss; each loss comes with the parts it reports.
"""

from __future__ import annotations

from typing import Protocol

import torch
from torch import nn

from ..config import SinGANConfig
from ..losses import d_wgan_loss, g_adv_loss, gradient_penalty, rec_loss

Parts = dict[str, torch.Tensor]  # reported parts of a loss, by name


class Objective(Protocol):
    names: tuple[str, ...]  # every part the losses report

    def pairs(self, config: SinGANConfig) -> bool:
        """Whether real and fake (fake and reconstruction) may run as one batch of two."""

    def critic_loss(self, config: SinGANConfig, critic: nn.Module, real: torch.Tensor,
                    fake: torch.Tensor, u: torch.Tensor, step: int) -> tuple[torch.Tensor, Parts]:
        """The critic's loss at critic step `step` of an iteration."""

    def generator_loss(self, config: SinGANConfig, critic: nn.Module | None, fake: torch.Tensor,
                       rec: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, Parts]:
        """The generators' loss on a fake and the reconstruction `rec` of `real` (`critic`
        None: a scale without a critic, no adversarial term)."""


class WGANGP:
    """SinGAN's objective (spec 4.2): WGAN with a gradient penalty for the critic, adversarial
    plus `rec_weight` x reconstruction loss for the generators.

    The penalty is lazy: with `gp_every=k` only critic steps 0, k, 2k, ... of an iteration are
    penalised, with the weight scaled so that an iteration's total stays d_steps * gp_weight.
    """

    names = ("d_loss", "g_loss", "rec_loss", "gp")

    def __init__(self, batch_pairs: bool = True):
        self.batch_pairs = batch_pairs  # False: run real and fake as separate passes

    def pairs(self, config: SinGANConfig) -> bool:
        # Without normalisation every image of a batch is computed on its own, so scoring real
        # and fake as one batch of two is the same arithmetic in half the calls (BatchNorm would
        # mix the two).
        return config.norm == "none" and self.batch_pairs

    def critic_loss(self, config: SinGANConfig, critic: nn.Module, real: torch.Tensor,
                    fake: torch.Tensor, u: torch.Tensor, step: int) -> tuple[torch.Tensor, Parts]:
        c = config
        if self.pairs(c):
            d_real, d_fake = critic(torch.cat([real, fake])).chunk(2)
        else:
            d_real, d_fake = critic(real), critic(fake)
        d_loss = d_wgan_loss(d_real, d_fake)
        parts = {}
        if step % c.gp_every == 0:  # lazy penalty: fewer steps, same weight per iteration
            gp_scale = c.d_steps / len(range(0, c.d_steps, c.gp_every))
            gp = gradient_penalty(critic, real, fake, u=u)
            d_loss = d_loss + c.gp_weight * gp_scale * gp
            parts["gp"] = gp
        parts["d_loss"] = d_loss
        return d_loss, parts

    def generator_loss(self, config: SinGANConfig, critic: nn.Module | None, fake: torch.Tensor,
                       rec: torch.Tensor, real: torch.Tensor) -> tuple[torch.Tensor, Parts]:
        weighted = config.rec_weight * rec_loss(rec, real)
        if critic is None:
            return weighted, {"rec_loss": weighted}
        g_adv = g_adv_loss(critic(fake))
        return g_adv + weighted, {"g_loss": g_adv, "rec_loss": weighted}

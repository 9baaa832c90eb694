import torch

from singan.losses import gradient_penalty


class PixelWeightedCritic(torch.nn.Module):
    """D(x)[p] = a[p] * sum_c x[c, p]: its input gradient at pixel p is a[p] on every channel."""

    def __init__(self, a):
        super().__init__()
        self.a = a

    def forward(self, x):
        return self.a * x.sum(1, keepdim=True)


def test_gradient_penalty_hand_computed():
    a = torch.tensor([[0.0, 0.5], [1.0, 2.0]]).reshape(1, 1, 2, 2)
    critic = PixelWeightedCritic(a)
    real, fake = torch.rand(1, 3, 2, 2), torch.rand(1, 3, 2, 2)
    gp = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0))
    # Per pixel the gradient is a[p] * (1, 1, 1): norm |a[p]| * sqrt(3).
    norms = a.abs().flatten() * 3 ** 0.5
    expected = ((norms - 1) ** 2).mean()
    assert torch.allclose(gp, expected, atol=1e-6)


def test_gradient_penalty_does_not_reach_the_fake():
    critic = torch.nn.Conv2d(3, 1, 3)
    real = torch.rand(1, 3, 8, 8)
    fake = torch.rand(1, 3, 8, 8, requires_grad=True)
    gradient_penalty(critic, real, fake).backward()
    assert fake.grad is None
    assert critic.weight.grad is not None  # but it trains the critic


def test_patch_swd_compares_patch_distributions_not_positions():
    from singan.losses import patch_swd, random_directions

    gen = torch.Generator().manual_seed(0)
    dirs = random_directions(3, gen)
    assert dirs.shape == (64, 3, 7, 7)
    assert torch.allclose(dirs.flatten(1).norm(dim=1), torch.ones(64))
    x = torch.rand(1, 3, 32, 32, generator=gen) * 2 - 1
    shuffled = torch.cat([x[..., 16:], x[..., :16]], dim=-1)  # the same patches, moved
    other = torch.rand(1, 3, 32, 32, generator=gen) * 0.2  # other colours and contrast
    assert patch_swd(x, x, dirs) == 0
    moved, unlike = patch_swd(shuffled, x, dirs), patch_swd(other, x, dirs)
    assert moved < 0.25 * unlike
    fake = other.clone().requires_grad_(True)
    real = x.clone().requires_grad_(True)
    patch_swd(fake, real, dirs).backward()
    assert fake.grad.abs().sum() > 0 and real.grad is None


def test_mode_seeking_rewards_fakes_apart_less_and_less():
    from singan.losses import mode_seeking

    gen = torch.Generator().manual_seed(0)
    za, zb = torch.randn(2, 1, 3, 8, 8, generator=gen)
    base = torch.rand(1, 3, 16, 16, generator=gen)
    step = torch.rand(1, 3, 16, 16, generator=gen)
    near, far = mode_seeking(base, base + 0.1 * step, za, zb), \
        mode_seeking(base, base + 0.4 * step, za, zb)
    assert far < near  # farther apart: a smaller loss
    ratio = (0.1 * step).abs().mean() / (za - zb).abs().mean()
    assert torch.isclose(near, 1 / (ratio + 1e-5))
    a = base.clone().requires_grad_(True)
    b = (base + 0.1 * step).requires_grad_(True)
    zin = za.clone().requires_grad_(True)
    mode_seeking(a, b, zin, zb).backward()
    assert zin.grad is None  # the inputs' distance is a constant of the loss
    grad_near = b.grad.abs().sum()
    b2 = (base + 0.4 * step).requires_grad_(True)
    mode_seeking(base, b2, za, zb).backward()
    assert b2.grad.abs().sum() < grad_near  # the push fades as the fakes separate

import pytest
import torch

import singan
from singan.errors import ConfigError


def test_shapes_and_range(tiny_model):
    x = singan.generate(tiny_model, 3, generator=torch.Generator().manual_seed(0))
    assert x.shape == (3, 3, *tiny_model.sizes[-1])
    assert torch.isfinite(x).all() and x.abs().max() < 3


@pytest.mark.parametrize("start", [0, 1, -1])
def test_every_start_scale(tiny_model, start):
    start = start % tiny_model.num_scales
    x = singan.generate(tiny_model, 2, start_scale=start, seeds=[0, 1])
    assert x.shape == (2, 3, *tiny_model.sizes[-1])
    assert not torch.equal(x[0], x[1])


def test_later_start_scale_stays_closer_to_the_reconstruction(tiny_model):
    real = tiny_model.reconstruct(tiny_model.num_scales)
    seeds = list(range(8))
    top = tiny_model.num_scales - 1
    d0 = (singan.generate(tiny_model, 8, seeds=seeds) - real).pow(2).mean()
    dn = (singan.generate(tiny_model, 8, start_scale=top, seeds=seeds) - real).pow(2).mean()
    assert dn < d0


def test_same_seed_alone_or_in_batch(tiny_model):
    batch = singan.generate(tiny_model, 4, seeds=[10, 11, 12, 13])
    alone = singan.generate(tiny_model, 1, seeds=[12])
    assert torch.equal(batch[2:3], alone)
    again = singan.generate(tiny_model, 4, seeds=[10, 11, 12, 13])
    assert torch.equal(batch, again)


def test_arbitrary_sizes(tiny_model):
    h, w = tiny_model.sizes[-1]
    x = singan.generate(tiny_model, 1, scale_h=1.0, scale_w=2.0, seeds=[0])
    assert x.shape[-2:] == (h, 2 * w)
    x = singan.generate(tiny_model, 1, size=(37, 29), seeds=[0])
    assert x.shape[-2:] == (37, 29)
    x = singan.generate(tiny_model, 1, start_scale=1, scale_w=1.5, seeds=[0])
    assert x.shape[-2:] == (h, round(1.5 * w))


def test_start_image_is_injected(tiny_model):
    n = tiny_model.num_scales - 1
    img = tiny_model.reals[n]
    a = singan.generate(tiny_model, 1, start_scale=n, start_image=img, seeds=[0])
    b = singan.generate(tiny_model, 1, start_scale=n, start_image=-img, seeds=[0])
    assert (a - img).abs().mean() < (b - img).abs().mean()


def test_bad_arguments(tiny_model):
    with pytest.raises(ConfigError):
        singan.generate(tiny_model, 1, start_scale=tiny_model.num_scales)
    with pytest.raises(ConfigError):
        singan.generate(tiny_model, 2, seeds=[1])
    with pytest.raises(ConfigError):
        singan.generate(tiny_model, 1, scale_h=0)

import pytest
import torch

import singan
from singan.models import Discriminator, Generator, SinGAN, init_weights, receptive_field
from singan.training import num_parameters


def test_shapes_shrink_by_ten():
    g, d = Generator(32), Discriminator(32)
    x = torch.randn(2, 3, 40, 50)
    assert g(x).shape == (2, 3, 30, 40)
    assert d(x).shape == (2, 1, 30, 40)
    assert g(x).abs().max() <= 1  # tanh


def test_parameter_counts_match_the_original():
    assert num_parameters(Generator(32)) == pytest.approx(29.8e3, rel=0.01)
    assert num_parameters(Discriminator(32)) == pytest.approx(29.2e3, rel=0.01)


def test_receptive_field_is_11_pixels():
    assert receptive_field() == 11
    d = Discriminator(8).eval()
    x = torch.zeros(1, 3, 31, 31, requires_grad=True)
    d(x)[0, 0, 10, 10].backward()
    rows, cols = torch.nonzero(x.grad.abs().sum(1)[0], as_tuple=True)
    assert rows.min() == 10 and rows.max() == 20 and cols.min() == 10 and cols.max() == 20


def test_channel_schedule():
    c = singan.make_config("paper")
    assert [c.channels(n) for n in (0, 3, 4, 7, 8, 12)] == [32, 32, 64, 64, 128, 128]
    c = c.replace(base_channels=16, max_channels=48, channels_double_every=2)
    assert [c.channels(n) for n in range(6)] == [16, 16, 32, 32, 48, 48]


def test_init_statistics():
    g = Generator(128)
    gen = torch.Generator().manual_seed(0)
    init_weights(g, gen)
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, torch.nn.Conv2d)])
    assert w.std().item() == pytest.approx(0.02, rel=0.05) and abs(w.mean().item()) < 1e-3
    bn = torch.cat([m.weight for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert bn.mean().item() == pytest.approx(1.0, abs=0.01)
    assert bn.std().item() == pytest.approx(0.02, rel=0.2)
    g2 = Generator(128)
    init_weights(g2, torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(g.state_dict().values(),
                                                 g2.state_dict().values()))


def test_scale_step_is_residual():
    cfg = singan.make_config("tiny")
    model = SinGAN(cfg, [(20, 24), (26, 31)], 0.77)
    model.grow_to(2)
    for p in model.generators[1][-2].parameters():  # last conv -> tanh(0) = 0
        torch.nn.init.zeros_(p)
    model.eval()
    prev = torch.rand(1, 3, 26, 31)
    out = model.scale_step(1, prev, torch.randn(1, 3, 26, 31))
    assert torch.allclose(out, prev)


def test_noise_padding_draws_over_the_border():
    cfg = singan.make_config("tiny", mode="animation")
    model = SinGAN(cfg, [(20, 24)], 1.0)
    z = model.draw_noise(0, 2)
    assert z.shape == (2, 3, 30, 34)
    assert torch.equal(z[:, 0], z[:, 1])  # grayscale noise at scale 0


def test_noise_channels_grey_noise_at_every_scale():
    """noise_channels=3 (the paper): colour noise above scale 0; 1: grey noise everywhere."""
    sizes = [(20, 24), (26, 31)]
    for channels, grey in ((3, False), (1, True)):
        cfg = singan.make_config("tiny", noise_channels=channels)
        z = SinGAN(cfg, sizes, 0.77).draw_noise(1, 2, generator=torch.Generator().manual_seed(0))
        assert z.shape == (2, 3, 26, 31) and z.std() > 0.5
        assert torch.equal(z[:, 0], z[:, 2]) is grey
    with pytest.raises(singan.ConfigError, match="noise_channels"):
        singan.make_config("tiny", noise_channels=2)


def test_walk_is_every_pass_up_the_pyramid(tiny_model):
    """`walk` runs scales start..stop-1: with no scale it is x itself; with "rec" it is the
    reconstruction; with given noise it is the chain of scale steps; drawn noise comes from the
    generator scale by scale."""
    m = tiny_model
    x = torch.zeros(1, 3, *m.sizes[0])
    assert m.walk(x, 1, 1) is x
    last = m.num_scales - 1
    assert torch.equal(m.walk(x, 0, last, noise="rec", upsample_end=True), m.reconstruct(last))
    zs = {k: m.draw_noise(k, 2, generator=torch.Generator().manual_seed(k))
          for k in range(m.num_scales)}
    with torch.no_grad():
        chain = x.expand(2, -1, -1, -1)
        for k in range(m.num_scales):
            chain = m.scale_step(k, chain, zs[k])
            chain = m.upsample(chain, m.sizes[k + 1]) if k < last else chain
        walked = m.walk(x.expand(2, -1, -1, -1), 0, m.num_scales, noise=zs)
        drawn = m.walk(x.expand(2, -1, -1, -1), 0, 2, generator=torch.Generator().manual_seed(3))
        again = m.walk(x.expand(2, -1, -1, -1), 0, 2, generator=torch.Generator().manual_seed(3))
    assert torch.equal(walked, chain)
    assert drawn.shape == (2, 3, *m.sizes[1]) and torch.equal(drawn, again)


def test_walk_window_and_replacement_networks(tiny_model):
    """A window is computed at the last scale only; replacement networks and amplitudes are
    used instead of the model's own."""
    cfg = tiny_model.config.replace(norm="none")
    m = SinGAN(cfg, tiny_model.sizes, tiny_model.scale_factor)
    m.grow_to(2)
    m.noise_amp.fill_(1.0)
    m.eval()
    x = torch.rand(1, 3, *m.sizes[0])
    zs = {k: torch.randn(1, 3, *m.sizes[k]) for k in range(2)}
    with torch.no_grad():
        full = m.walk(x, 0, 2, noise=zs)
        part = m.walk(x, 0, 2, noise=zs, window=(2, 3, 8, 9))
        zero_amp = m.walk(x, 0, 2, noise=zs, amps={0: torch.zeros(()), 1: torch.zeros(())})
        quiet = m.walk(x, 0, 2, noise={k: 0 * z for k, z in zs.items()})
        other = m.walk(x, 0, 2, noise=zs, nets={1: m.new_generator(1).eval()})
    assert torch.allclose(part, full[..., 2:10, 3:12], atol=1e-6)
    assert torch.equal(zero_amp, quiet)
    assert not torch.equal(other, full)

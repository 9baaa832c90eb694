"""The consingan model family (issue 17): its pyramid, its growing generator, its training update,
and everything a run of it supports, as for the SinGAN family."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import singan
from singan.bands import crop_window, upsample
from singan.consingan import ConSinGAN
from singan.cli import main
from singan.errors import ConfigError
from singan.families import build_model
from singan.pyramid import consingan_geometry, geometry_for
from singan.training import Trainer


def small(**changes) -> singan.SinGANConfig:
    """The consingan preset shrunk to test size: 4 stages of 8 channels, 2 iterations each."""
    base = dict(max_size=32, min_size=12, num_stages=4, base_channels=8, max_channels=8, iters=2)
    return singan.make_config("consingan", **{**base, **changes})


@pytest.fixture(scope="module")
def model(tiny_image):
    return singan.train(tiny_image, small(), seed=0)


def test_the_preset_is_the_published_recipe():
    c = singan.make_config("consingan")
    assert (c.arch, c.num_stages, c.base_channels, c.num_layers, c.norm, c.leaky_slope) == \
        ("consingan", 6, 64, 3, "none", 0.05)
    assert (c.train_depth, c.lr_scale, c.iters, c.d_steps, c.g_steps) == (3, 0.1, 2000, 3, 3)
    assert (c.lr_g, c.lr_d, c.beta1, c.lr_decay_at, c.lr_gamma) == (5e-4, 5e-4, 0.5, 0.8, 0.1)
    assert (c.rec_weight, c.gp_weight, c.noise_amp_scale, c.max_size, c.min_size) == \
        (10.0, 0.1, 0.1, 250, 25)


def test_the_wide_cut_is_the_fast_cut_at_consingans_width():
    fast, wide = singan.make_config("consingan-fast"), singan.make_config("consingan-wide")
    assert (fast.base_channels, fast.max_channels, wide.base_channels, wide.max_channels) == \
        (32, 32, 64, 64)
    assert wide.replace(base_channels=32, max_channels=32) == fast
    assert (wide.crop_size, wide.d_steps, wide.lr_scale, wide.iters_finest) == (128, 2, 0.5, 1000)


def test_stage_sizes_follow_consingans_rescaling():
    """A 188x250 image: short sides near 25, 31, 42, 63, 126 and 188 (the facts file)."""
    geo = geometry_for(singan.make_config("consingan"), 188, 250)
    shorts = [min(s) for s in geo.sizes]
    assert len(shorts) == 6 and shorts[0] == 25 and shorts[-1] == 188
    assert all(abs(a - b) <= 1 for a, b in zip(shorts, [25, 31, 42, 63, 126, 188]))
    assert geo.sizes[-1] == (188, 250)
    assert consingan_geometry(500, 375).sizes[-1] == (250, 188)  # shrunk, never enlarged
    with pytest.raises(singan.InputError, match="too small"):
        consingan_geometry(20, 30)


def test_six_stages_have_about_660k_parameters():
    geo = geometry_for(singan.make_config("consingan"), 188, 250)
    m = build_model(singan.make_config("consingan"), list(geo.sizes), geo.scale_factor)
    m.grow_to(6)
    n = sum(p.numel() for p in m.parameters())
    assert 640_000 < n < 690_000, n


def test_a_stage_is_one_backward_then_three_optimizer_steps(tiny_image, monkeypatch):
    """Per iteration: one generator loss and backward pass, then g_steps optimizer steps on that
    same gradient (ConSinGAN); the critic takes its d_steps steps before."""
    from singan.training import objective

    tr = Trainer.from_image(tiny_image, small(), seed=0)
    stage = tr.engine.setup(0, tr.config)
    losses, grads = [], []
    real_loss = objective.WGANGP.generator_loss
    monkeypatch.setattr(objective.WGANGP, "generator_loss",
                        lambda self, *a: losses.append(1) or real_loss(self, *a))
    real_step = stage.g_opt.step
    param = next(p for p in stage.nets[0].parameters())

    def step(*a, **k):
        grads.append(param.grad.clone())
        return real_step(*a, **k)

    stage.g_opt.step = step
    d_steps = []
    real_d = stage.d_opt.step
    stage.d_opt.step = lambda *a, **k: d_steps.append(1) or real_d(*a, **k)
    tr.engine.step(stage, tr.inputs.draw(stage))
    assert len(losses) == 1 and len(grads) == 3 and len(d_steps) == 3
    assert all(torch.equal(grads[0], g) for g in grads)


def test_the_newest_three_stages_head_and_tail_learn(tiny_image):
    tr = Trainer.from_image(tiny_image, small(num_stages=5, max_size=40), seed=0)
    for n in range(4):
        tr.train_scale(n)
    stage = tr.engine.setup(4, tr.config)
    learning = {k for k in stage.nets}
    assert learning == {2, 3, 4, "tail"}  # the head learns below train_depth only
    rates = sorted(rate for _, rate in stage.g_groups)
    c = tr.config
    assert rates == pytest.approx(sorted([c.lr_g * 0.01, c.lr_g * 0.1, c.lr_g, c.lr_g]))
    first = Trainer.from_image(tiny_image, small(), seed=0).engine
    assert set(first.setup(0, small()).nets) == {0, "head", "tail"}


def test_same_seed_same_model_and_resume_equals_uninterrupted(tiny_image):
    a = singan.train(tiny_image, small(), seed=3)
    b = singan.train(tiny_image, small(), seed=3)
    c = singan.train(tiny_image, small(), seed=4)
    wa, wb, wc = (m.state_dict() for m in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    tr = Trainer.from_image(tiny_image, small(), seed=3)
    tr.train_scale(0)
    tr.train_scale(1)
    partial = build_model(small(), tr.model.sizes, tr.model.scale_factor)
    partial.grow_to(2)
    partial.load_state_dict(tr.model.state_dict())
    resumed = Trainer.resume(partial, tr.state()).run()
    wr = resumed.state_dict()
    assert wa.keys() == wr.keys() and all(torch.equal(wa[k], wr[k]) for k in wa)


def random_consingan(height: int, width: int, **changes) -> singan.ConSinGAN:
    """Six stages of 4 channels (or as `changes` say) with random weights and noise
    amplitudes, in float64."""
    c = singan.make_config("consingan", **{"base_channels": 4, "max_channels": 4, **changes})
    geo = geometry_for(c, height, width)
    m = build_model(c, list(geo.sizes), geo.scale_factor)
    m.grow_to(6)
    m.double()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) * 0.2)
        m.noise_amp = torch.rand(6, generator=gen, dtype=torch.float64)
    return m


@pytest.mark.parametrize("shape,size", [((2, 8, 26, 34), (32, 40)), ((1, 3, 5, 7), (9, 11)),
                                        ((1, 4, 12, 10), (7, 15)), ((1, 2, 1, 4), (3, 1)),
                                        ((1, 2, 9, 9), (9, 9))])
def test_feature_upsampling_is_pytorchs_bicubic_as_matrix_products(shape, size):
    """The generator's bicubic up-sampling (aligned corners) runs as two matrix products, much
    faster than PyTorch's CPU kernel: the same values and gradients, up or down, any aspect."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(*shape, generator=gen, dtype=torch.float64, requires_grad=True)
    ours = upsample(x, size)
    theirs = F.interpolate(x, size=size, mode="bicubic", align_corners=True)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)
    weights = torch.randn(ours.shape, generator=gen, dtype=torch.float64)
    (g_ours,) = torch.autograd.grad((ours * weights).sum(), x)
    (g_theirs,) = torch.autograd.grad((theirs * weights).sum(), x)
    torch.testing.assert_close(g_ours, g_theirs, rtol=0, atol=1e-12)
    assert ConSinGAN.upsample(x.detach().float(), size).dtype == torch.float32


def test_channels_last_features_stay_channels_last_through_windows_and_resampling():
    """NHWC features (bf16 training) are cropped and resampled without leaving NHWC (each
    change of layout is a copy), to the same values as NCHW ones."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 8, 20, 30, generator=gen, dtype=torch.float64)
    nhwc = x.to(memory_format=torch.channels_last)
    top, left = torch.tensor(3), torch.tensor(5)
    for ours, plain in [(crop_window(nhwc, top, left, 9, 11), crop_window(x, top, left, 9, 11)),
                        (upsample(nhwc, (27, 41)), upsample(x, (27, 41)))]:
        assert ours.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(ours, plain, rtol=0, atol=1e-12)
    assert crop_window(nhwc, top * 0, left * 0, 20, 30) is nhwc  # the whole: no copy at all


@pytest.mark.parametrize("height,width,crop,widths", [
    (94, 125, (24, 24), {}), (60, 45, (20, 45), {}), (188, 250, (48, 48), {}),
    (94, 125, (24, 24), {"coarse_channels": 6, "coarse_scales": 4})])
def test_a_window_computed_on_bands_equals_the_whole_stage_cropped(height, width, crop, widths):
    """Training windows (crop_size): each stage above the plan's `full` one is computed on the
    band its window needs, the noise cropped or drawn at the window's size, and the result is
    the whole stage's image at that window, at every corner up to the borders (with a width
    change inside the band too)."""
    m = random_consingan(height, width, **widths)
    gen = torch.Generator().manual_seed(1)
    z0 = torch.randn(2, 3, *m.sizes[0], generator=gen, dtype=torch.float64)
    noise = {k: torch.randn(2, *m.noise_shape(k), generator=gen, dtype=torch.float64)
             for k in range(1, 6)}
    n = 5
    whole = m.run(z0, noise, n + 1)
    plan = m.window_plan(n, crop)
    assert plan.full < n and plan.win[n - 1][0] < m.sizes[n - 1][0]  # a band, not the stage
    (h, w), (ch, cw) = m.sizes[n], crop
    for top, left in [(0, 0), (h - ch, w - cw), (1, max(0, w - cw - 1)),
                      ((h - ch) // 2, (w - cw) // 3)]:
        corner = (torch.tensor(top), torch.tensor(left))
        window = m.run_window(z0, noise, n, corner, crop)
        assert window.shape == (2, 3, ch, cw)
        torch.testing.assert_close(window, whole[..., top:top + ch, left:left + cw],
                                   rtol=0, atol=1e-10)
        at = plan.positions(*corner)  # the same with noise already at the window's size
        small_noise = {k: plan.noise_window(k, z, at[k]) if k > plan.full else z
                       for k, z in noise.items()}
        torch.testing.assert_close(m.run_window(z0, small_noise, n, corner, crop), window,
                                   rtol=0, atol=1e-12)


def test_training_on_windows(tiny_image):
    """With crop_size the larger stages train on one window per iteration, with noise drawn at
    the window's size; training is deterministic and resumes exactly as without windows."""
    config = small(max_size=40, min_size=12, num_stages=4, crop_size=16)
    tr = Trainer.from_image(tiny_image, config, seed=0)
    assert max(tr.model.sizes[-1]) > 16
    for n in range(3):
        tr.train_scale(n)
    stage = tr.engine.setup(3, tr.config)
    assert stage.crop == (16, 16)
    draw = tr.inputs.draw(stage)
    plan = tr.model.window_plan(3, (16, 16))
    assert draw.tensors["z3"].shape[-2:] == plan.noise_size(3)
    fake = tr.family.forward(stage, draw.prev(0), draw.noise(0), draw.window(0))
    assert fake.shape == (1, 3, 16, 16)
    a = singan.train(tiny_image, config, seed=3)
    b = singan.train(tiny_image, config, seed=3)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                  b.state_dict().values()))
    samples = a.synthesize(2, a.sizes)
    assert samples.shape == (2, 3, *a.sizes[-1]) and torch.isfinite(samples).all()
    with pytest.raises(ConfigError, match="prev_pool"):
        small(prev_pool=8)


def test_reconstruction_starts_from_the_real_coarsest_image(model):
    assert torch.equal(model.rec_noise(0), model.reals[0])
    assert model.noise_amp[0] == 1 and (model.noise_amp[1:] > 0).all()
    assert model.rec_noise(1).shape[1] == model.config.base_channels  # feature noise
    rec = model.reconstruct(model.num_scales)
    assert rec.shape == model.reals[-1].shape


def test_samples_of_any_size_and_from_a_finer_stage(model):
    h, w = model.sizes[-1]
    x = singan.generate(model, 3, seeds=[0, 1, 2])
    assert x.shape == (3, 3, h, w) and torch.isfinite(x).all()
    assert not torch.equal(x[0], x[1])
    assert torch.equal(singan.generate(model, 1, seeds=[1])[0], x[1])
    assert singan.generate(model, 2, seeds=[0, 1], scale_w=1.5).shape[-1] == round(1.5 * w)
    assert singan.generate(model, 1, seeds=[0], size=(40, 20)).shape[-2:] == (40, 20)
    fine = singan.generate(model, 2, seeds=[0, 1], start_scale=model.num_scales - 1)
    free = singan.generate(model, 2, seeds=[0, 1])
    assert (fine[0] - fine[1]).abs().mean() < (free[0] - free[1]).abs().mean()


def test_the_applications(model, tiny_image):
    h, w = model.sizes[-1]
    edited = tiny_image.clone()
    edited[..., 5:12, 8:20] = 0.8
    mask = torch.zeros(1, 1, *tiny_image.shape[-2:])
    mask[..., 5:12, 8:20] = 1
    for fn in (singan.edit, singan.harmonize):
        r = fn(model, edited, mask, start_scale=1, seed=0)
        assert r.blended.shape == r.raw.shape == (1, 3, h, w)
        r = fn(model, edited, mask, start_scale=2, seed=0, fine_tune=2)
        assert r.blended.shape == (1, 3, h, w) and torch.isfinite(r.blended).all()
    assert singan.paint_to_image(model, edited, start_scale=1, seed=0).shape == (1, 3, h, w)
    assert singan.paint_to_image(model, edited, start_scale=1, seed=0,
                                 fine_tune_iters=2).shape == (1, 3, h, w)
    with pytest.raises(ConfigError, match="SinGAN's variant"):
        singan.paint_to_image(model, edited, start_scale=1, quantize=True)
    with pytest.raises(ConfigError, match="needs SinGAN's per-scale generators"):
        singan.super_resolve(model, 2)
    with pytest.raises(ConfigError, match="arch singan"):
        small(mode="sr")


def test_animation(tiny_image):
    anim = singan.train(tiny_image, small(mode="animation"), seed=1)
    assert not torch.equal(anim.rec_noise(0), anim.reals[0])  # noise, not the image
    frames = singan.animate(anim, frames=4, seed=0)
    assert frames.shape == (4, 3, *anim.sizes[-1]) and torch.isfinite(frames).all()


def test_a_consingan_run_folder_through_the_cli(tmp_path, image_file, capsys):
    run = tmp_path / "run"
    assert main(["train", str(image_file), "--out", str(run), "--preset", "consingan",
                 "--max-size", "32", "--min-size", "12", "--num-stages", "3",
                 "--base-channels", "4", "--max-channels", "4", "--iters", "1", "--quiet",
                 "--device", "cpu"]) == 0, capsys.readouterr().err
    info = singan.run.read_run_info(run)
    assert info["config"].arch == "consingan" and info["preset"] == "consingan"
    m = singan.load(run)
    assert type(m).__name__ == "ConSinGAN" and m.is_complete
    assert main(["sample", str(run), "--num", "2", "--scale-w", "1.5", "--out",
                 str(tmp_path / "s"), "--quiet"]) == 0
    assert len(list((tmp_path / "s").glob("*.png"))) == 2
    rc = main(["sr", str(image_file), "--factor", "2", "--out", str(tmp_path / "big.png"),
               "--run", str(run)])
    err = capsys.readouterr().err
    assert rc == 2 and "needs SinGAN's per-scale generators" in err


def test_the_patch_loss_at_the_finest_stages_alone_or_beside_the_critic(tiny_image):
    """swd_stages finest stages add the patch sliced-Wasserstein loss; with swd_only they train
    without a critic (no critic steps)."""
    config = small(max_size=40, num_stages=4, crop_size=16, swd_weight=1.0, swd_stages=1,
                   swd_only=True)
    tr = Trainer.from_image(tiny_image, config, seed=0)
    for n in range(3):
        tr.train_scale(n)
    coarse = tr.engine.setup(2, tr.config)
    assert not coarse.swd and coarse.critic
    stage = tr.engine.setup(3, tr.config)
    assert stage.swd and not stage.critic
    draw = tr.engine.draw(stage)
    assert draw.tensors["directions"].shape == (64, 3, 7, 7)
    d_before = [p.clone() for p in stage.d_net.parameters()]
    g_before = [p.clone() for p in stage.nets[3].parameters()]
    tr.engine.step(stage, draw)
    assert all(torch.equal(a, b) for a, b in zip(d_before, stage.d_net.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(g_before, stage.nets[3].parameters()))
    assert float(stage.sums["swd"]) > 0 and float(stage.sums["d_loss"]) == 0
    beside = small(max_size=40, num_stages=4, swd_weight=1.0, swd_stages=2)
    a = singan.train(tiny_image, beside, seed=1)
    b = singan.train(tiny_image, beside, seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                  b.state_dict().values()))
    with pytest.raises(ConfigError, match="swd_only"):
        small(swd_only=True)


def test_mode_seeking_at_the_coarsest_stages(tiny_image, monkeypatch):
    """ms_stages coarsest stages add the mode-seeking loss: the generators' batch holds a second
    fake from a second draw of inputs (the same window), and the loss pushes the two apart."""
    from singan.training import stage as stage_module

    config = small(max_size=40, num_stages=4, crop_size=16, ms_weight=1.0, ms_stages=2)
    tr = Trainer.from_image(tiny_image, config, seed=0)
    tr.train_scale(0)
    stage = tr.engine.setup(1, tr.config)
    assert stage.ms
    draw = tr.engine.draw(stage)
    twin = tr.engine.second(draw)
    assert not torch.equal(twin.prev(0), draw.prev(0))
    assert set(twin.noise(0)) == set(draw.noise(0)) == {1}
    assert twin.noise(0)[1].shape == draw.noise(0)[1].shape
    seen = []
    real_ms = stage_module.mode_seeking
    monkeypatch.setattr(stage_module, "mode_seeking",
                        lambda a, b, x, y: seen.append((a.detach(), b.detach(), x, y))
                        or real_ms(a, b, x, y))
    tr.engine.step(stage, draw)
    (a, b, x, y), = seen
    assert stage.crop == (15, 16)  # a window of the 15x19 stage
    assert a.shape == b.shape == (1, 3, 15, 16) and not torch.equal(a, b)
    assert x is draw.prev(0) or torch.equal(x, draw.prev(0))
    assert torch.equal(y, twin.prev(0))
    assert float(stage.sums["ms"]) > 0
    for n in (1, 2):
        tr.train_scale(n)
    assert not tr.engine.setup(3, tr.config).ms  # finer stages train without it
    a = singan.train(tiny_image, config, seed=1)
    b = singan.train(tiny_image, config, seed=1)
    plain = singan.train(tiny_image, small(max_size=40, num_stages=4, crop_size=16), seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                  b.state_dict().values()))
    assert not all(torch.equal(x, y) for x, y in zip(a.state_dict().values(),
                                                      plain.state_dict().values()))
    with pytest.raises(ConfigError, match="ms_stages"):
        small(ms_weight=1.0)


def test_coarse_channels_widen_the_coarsest_stages(tiny_image, tmp_path):
    """coarse_channels: the coarse_scales coarsest stages are wider; the stage above them
    takes the features to its width with a 1x1 convolution and has its own tail, which starts
    from the image of the stage below; its blocks start from the body below seen through
    that convolution, its critic from the critic below. Training is deterministic, resumes
    exactly, and the run folder loads."""
    config = small(max_size=40, num_stages=4, coarse_channels=12, coarse_scales=2,
                   crop_size=16)
    assert [config.channels(k) for k in range(4)] == [12, 12, 8, 8]
    tr = Trainer.from_image(tiny_image, config, seed=0)
    for n in range(2):
        tr.train_scale(n)
    m = tr.model
    assert m.changes == [2] and set(m.tails) == {"2"} and m.tail_for(1) is m.tail
    with torch.no_grad():
        below = m.run(m.rec_noise(0), {1: m.rec_noise(1)}, 2)
    stage = tr.engine.setup(2, tr.config, tr.discriminator)
    body = stage.nets[2]
    assert body.adapt.in_channels == 12 and body.adapt.out_channels == 8
    convs = [x for x in stage.d_net.modules() if isinstance(x, torch.nn.Conv2d)]
    assert stage.nets["tail"] is m.tail_for(2) and convs[0].out_channels == 8
    assert m.noise_shape(2)[0] == 8 and m.noise_shape(1)[0] == 12
    with torch.no_grad():  # the new stage with its amplitude at 0 starts from the image below
        zero = torch.zeros(())
        start = m.run(m.rec_noise(0), {1: m.rec_noise(1), 2: m.rec_noise(2)}, 3,
                      bodies={2: body}, amps={2: zero})
        lifted = m.tail_for(1)(F.pad(m.upsample(m.features(
            m.rec_noise(0), {1: m.rec_noise(1)}, 2), m.sizes[2]), (1, 1, 1, 1)))
    assert below.shape[-2:] == tuple(m.sizes[1])
    # 8 channels cannot carry the 27-dim subspace a 12-channel tail reads, so not exact;
    # the carried blocks add the projection of what the body below adds on these features
    assert (start - lifted).abs().mean() < 0.5 * (lifted - lifted.mean()).abs().mean()
    basis = body.adapt.weight.reshape(8, 12).T
    first_old, first_new = m.bodies[1][0][0], body.blocks[0][0]
    torch.testing.assert_close(first_new.weight,
                               torch.einsum("ab,aihw,ic->bchw", basis, first_old.weight, basis))
    torch.testing.assert_close(convs[1].weight,
                               tr.discriminator[1][0].weight[:8, :8])
    a = singan.train(tiny_image, config, seed=3)
    b = singan.train(tiny_image, config, seed=3)
    wa, wb = a.state_dict(), b.state_dict()
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert "tails.2.0.weight" in wa and "bodies.2.adapt.weight" in wa
    tr = Trainer.from_image(tiny_image, config, seed=3)
    for n in range(3):
        tr.train_scale(n)
    partial = build_model(config, tr.model.sizes, tr.model.scale_factor)
    partial.grow_to(3)
    partial.load_state_dict(tr.model.state_dict())
    wr = Trainer.resume(partial, tr.state()).run().state_dict()
    assert all(torch.equal(wa[k], wr[k]) for k in wa)
    singan.run.save_run(a, tmp_path / "run")
    loaded = singan.load(tmp_path / "run")
    g = [torch.Generator().manual_seed(5) for _ in range(2)]
    size = [(h + 3, w + 5) for h, w in a.sizes]
    torch.testing.assert_close(loaded.synthesize(2, size, generator=g[0]),
                               a.synthesize(2, size, generator=g[1]))
    with pytest.raises(ConfigError, match="go together"):
        small(coarse_channels=16)


@pytest.mark.parametrize("old_width,new_width", [(64, 32), (8, 16)])
def test_a_width_change_carries_the_tail_exactly(old_width, new_width):
    """carry_tail: the 1x1 convolution and the new tail make the same image from any features
    as the old tail, when the new width holds the old tail's rank (<= 27) or widens."""
    from singan.consingan import carry_tail, new_tail
    gen = torch.Generator().manual_seed(0)
    old, new = new_tail(old_width).double(), new_tail(new_width).double()
    adapt = torch.nn.Conv2d(old_width, new_width, 1).double()
    with torch.no_grad():
        old[0].weight.copy_(torch.randn(old[0].weight.shape, generator=gen, dtype=torch.float64))
    carry_tail(old, adapt, new)
    f = torch.randn(2, old_width, 9, 11, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(new(adapt(f)), old(f), rtol=0, atol=1e-10)


def test_a_width_change_carries_the_body_and_the_critic():
    """carry_body: on features in the subspace the 1x1 convolution keeps, each new convolution
    is the projection of the old one (exact before the activation). carry_critic: a wider
    critic scores every image as the old one; a narrower one keeps its first channels."""
    from singan.consingan import carry_body, carry_critic, carry_tail, new_tail
    from singan.models import ConvBlock, Discriminator
    gen = torch.Generator().manual_seed(1)
    old_tail, new_t = new_tail(12).double(), new_tail(8).double()
    adapt = torch.nn.Conv2d(12, 8, 1).double()
    with torch.no_grad():
        old_tail[0].weight.copy_(torch.randn(old_tail[0].weight.shape, generator=gen,
                                             dtype=torch.float64))
    carry_tail(old_tail, adapt, new_t)
    old = torch.nn.Sequential(*[ConvBlock(12, 12, 3, "none", 0.05) for _ in range(2)]).double()
    new = torch.nn.Sequential(*[ConvBlock(8, 8, 3, "none", 0.05) for _ in range(2)]).double()
    carry_body(old, adapt, new)
    basis = adapt.weight.reshape(8, 12).T  # (12, 8), orthonormal columns
    torch.testing.assert_close(basis.T @ basis, torch.eye(8, dtype=torch.float64))
    g = torch.randn(2, 8, 9, 11, generator=gen, dtype=torch.float64)
    f = torch.einsum("ac,nchw->nahw", basis, g)  # features in the kept subspace
    with torch.no_grad():
        torch.testing.assert_close(new[0][0](g), adapt(old[0][0](f)) - adapt.bias.view(1, -1, 1, 1))
    narrow, wide = Discriminator(8, 5, 3, "none", 0.05), Discriminator(16, 5, 3, "none", 0.05)
    carry_critic(narrow, wide)
    x = torch.randn(2, 3, 20, 20, generator=gen)
    with torch.no_grad():
        torch.testing.assert_close(wide(x), narrow(x))
    back = Discriminator(8, 5, 3, "none", 0.05)
    carry_critic(wide, back)
    for a, b in zip(back.parameters(), narrow.parameters()):
        assert torch.equal(a, b)

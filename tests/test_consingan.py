"""The consingan model family (issue 17): its pyramid, its growing generator, its training update,
and everything a run of it supports, as for the SinGAN family."""

from __future__ import annotations

import pytest
import torch
import singan
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

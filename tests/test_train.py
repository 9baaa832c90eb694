import json

import pytest
import torch

import singan
from singan.training import Trainer


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_trains_every_scale(tiny_model, tiny_config):
    m = tiny_model
    assert m.is_complete and m.num_trained == m.num_scales >= 2
    assert m.noise_amp[0] == 1 and (m.noise_amp[1:] > 0).all()
    assert all(not g.training for g in m.generators)
    assert all(not p.requires_grad for p in m.parameters())
    assert [tuple(r.shape[-2:]) for r in m.reals] == m.sizes


def fast_small() -> singan.SinGANConfig:
    """The `fast` preset shrunk to test size, keeping what makes it `fast` (normalisation,
    crops of the larger scales, the pool of coarse inputs, the per-scale schedule)."""
    return singan.make_config("fast", max_size=32, min_size=16, base_channels=8, max_channels=8,
                              iters=4, iters_finest=2, crop_size=16, prev_pool=4)


@pytest.fixture(params=["tiny", "fast"])
def preset_config(request, tiny_config):
    return tiny_config if request.param == "tiny" else fast_small()


def test_fast_preset_trains_every_scale_on_crops(tiny_image):
    cfg = fast_small()
    assert cfg.crop_size and cfg.prev_pool and cfg.iters_finest
    m = singan.train(tiny_image, cfg, seed=0)
    assert m.is_complete and m.num_trained == m.num_scales >= 2
    assert max(m.sizes[-1]) > cfg.crop_size  # the finest scale trained on crops
    x = singan.generate(m, 2, seeds=[0, 1])
    assert x.shape == (2, 3, *m.sizes[-1]) and torch.isfinite(x).all()
    assert not torch.equal(x[0], x[1])


def test_same_seed_same_model(tiny_image, preset_config):
    a = singan.train(tiny_image, preset_config, seed=3)
    b = singan.train(tiny_image, preset_config, seed=3)
    c = singan.train(tiny_image, preset_config, seed=4)
    wa, wb, wc = weights(a), weights(b), weights(c)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


def test_resume_equals_uninterrupted(tiny_image, preset_config):
    full = singan.train(tiny_image, preset_config, seed=5)
    # Stop after two scales, keep only what a run folder keeps, and resume.
    tr = Trainer.from_image(tiny_image, preset_config, seed=5)
    tr.train_scale(0)
    tr.train_scale(1)
    state = tr.state()
    partial = singan.SinGAN(preset_config, tr.model.sizes, tr.model.scale_factor)
    partial.grow_to(2)
    partial.load_state_dict(tr.model.state_dict())
    resumed = Trainer.resume(partial, state).run()
    wf, wr = weights(full), weights(resumed)
    assert wf.keys() == wr.keys()
    assert all(torch.equal(wf[k], wr[k]) for k in wf)


def test_pool_is_carried_scale_to_scale_and_rebuilt_exactly(tiny_image, tmp_path):
    """Each scale's pool of random inputs is the previous one taken one generator further (one
    pass per scale, not the whole chain again); a trainer with the same pool seed (as resuming
    has, from the run folder) rebuilds the same pool; a restarted scale gets the same pool."""

    cfg = fast_small().replace(iters=1, iters_finest=0)
    tr = Trainer.from_image(tiny_image, cfg, seed=2)
    passes, advance = [], tr.inputs.advance_pool
    tr.inputs.advance_pool = lambda k, pool: passes.append(k) or advance(k, pool)
    pools = []
    for n in range(tr.model.num_scales):
        tr.train_scale(n)
        pools.append(tr.inputs.pool.clone())
    last = tr.model.num_scales - 1
    assert passes == list(range(last))
    assert pools[0].abs().max() == 0  # scale 0 starts from nothing
    assert pools[last].shape == (cfg.prev_pool, 3, *tr.model.sizes[last])
    assert not torch.equal(pools[last][0], pools[last][1])
    assert tr.inputs.pool_at(last) is tr.inputs.pool  # asked again (a restart): the same pool
    singan.save_run(tr.model, tmp_path / "run", tr.state())
    seed = singan.run.load_train_state(tmp_path / "run", tr.model).pool_seed
    assert seed == tr.pool_seed is not None
    other = Trainer(tr.model, generator=torch.Generator().manual_seed(9), pool_seed=seed)
    assert torch.equal(other.inputs.pool_at(last), pools[last])
    assert Trainer(tr.model, generator=torch.Generator()).pool_seed != seed
    assert Trainer.from_image(tiny_image, cfg.replace(prev_pool=0), seed=2).pool_seed is None


def test_warm_start_copies_previous_scale(tiny_image, tiny_config):
    tr = Trainer.from_image(tiny_image, tiny_config.replace(iters=1), seed=0)
    tr.train_scale(0)
    g1, _ = tr.family.networks(1, tr.config, tr.discriminator)  # same width as scale 0: a copy
    assert all(torch.equal(a, b) for a, b in zip(g1.state_dict().values(),
                                                 tr.model.generators[0].state_dict().values()))
    cfg = tiny_config.replace(iters=1, channels_double_every=1, max_channels=16)
    tr = Trainer.from_image(tiny_image, cfg, seed=0)
    tr.train_scale(0)
    g1, _ = tr.family.networks(1, tr.config, tr.discriminator)  # wider: fresh
    assert g1[0][0].weight.shape[0] == 16


def test_z_rec_drawn_once_unless_redraw(tiny_image, tiny_config):
    cfg = tiny_config.replace(iters=3)
    seen = []
    tr = Trainer.from_image(tiny_image, cfg, seed=0)
    tr.train_scale(0, callback=lambda p: seen.append(tr.model.z_rec.clone()))
    assert all(torch.equal(seen[0], s) for s in seen)
    seen.clear()
    tr = Trainer.from_image(tiny_image, cfg.replace(redraw_z_rec=True), seed=0)
    tr.train_scale(0, callback=lambda p: seen.append(tr.model.z_rec.clone()))
    assert not torch.equal(seen[0], seen[-1])


def test_reconstruction_improves_with_training(tiny_image, tiny_config):
    short = singan.train(tiny_image, tiny_config.replace(iters=2), seed=0)
    longer = singan.train(tiny_image, tiny_config.replace(iters=60), seed=0)

    def rec_error(m):
        return torch.mean((m.reconstruct(m.num_scales) - m.reals[-1]) ** 2).item()

    assert rec_error(longer) < rec_error(short)


def test_progress_reports_losses(tiny_image, tiny_config):
    events = []
    singan.train(tiny_image, tiny_config.replace(iters=5), callback=events.append, log_every=2)
    scales = {e.scale for e in events}
    assert scales == set(range(len(scales)))
    logged = [e for e in events if e.losses]
    assert logged and all({"d_loss", "g_loss", "rec_loss", "gp"} <= e.losses.keys()
                          for e in logged)
    assert sum(e.scale_done for e in events) == len(scales)


def test_concurrent_depth_trains_earlier_scales_too(tiny_image, tiny_config):
    cfg = tiny_config.replace(train_depth=2, iters=3)
    tr = Trainer.from_image(tiny_image, cfg, seed=0)
    tr.train_scale(0)
    g0 = weights(tr.model.generators[0])
    tr.train_scale(1)
    g0_after = weights(tr.model.generators[0])
    assert not all(torch.equal(g0[k], g0_after[k]) for k in g0)


@pytest.mark.parametrize("mode", ["sr", "animation"])
def test_modes_train(tiny_image, mode):
    cfg = singan.make_config("tiny", mode=mode, max_size=32, base_channels=8, max_channels=8,
                             iters=2)
    m = singan.train(tiny_image, cfg)
    assert m.is_complete and m.config.mode == mode


def test_window_step_equals_crop_of_full_step(tiny_model):
    """With norm="none" a window of the generator's output is exactly that crop of the image."""
    cfg = tiny_model.config.replace(norm="none")
    model = singan.SinGAN(cfg, tiny_model.sizes, tiny_model.scale_factor)
    model.grow_to(2)
    model.eval()
    prev = torch.rand(1, 3, *model.sizes[1]) * 2 - 1
    z = torch.randn(1, 3, *model.sizes[1])
    full = model.scale_step(1, prev, z)
    for win in [(0, 0, 8, 9), (3, 5, 10, 7), (model.sizes[1][0] - 6, model.sizes[1][1] - 6, 6, 6)]:
        top, left, h, w = win
        part = model.scale_step(1, prev, z, window=win)
        assert torch.allclose(part, full[..., top:top + h, left:left + w], atol=1e-6)


def test_crop_training_and_iteration_schedule(tiny_image, tiny_config):
    cfg = tiny_config.replace(norm="none", crop_size=16, iters=6, iters_finest=2)
    seen = {}
    m = singan.train(tiny_image, cfg, callback=lambda p: seen.__setitem__(p.scale, p.iters))
    assert m.is_complete
    n = m.num_scales
    assert seen[0] == 6 and seen[n - 1] == 2
    assert [cfg.iters_at(k, n) for k in range(n)] == [seen[k] for k in range(n)]


def test_paired_passes_match_separate_passes(tiny_image):
    """Without normalisation, scoring real and fake (making fake and reconstruction) as one batch
    of two is the same arithmetic as separate passes: the weights agree to float precision."""
    cfg = fast_small()
    assert cfg.norm == "none"
    trained = []
    for paired in (True, False):
        tr = Trainer.from_image(tiny_image, cfg, seed=3)
        tr.batch_pairs = paired
        trained.append(tr.run())
    a, b = (weights(m) for m in trained)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-4), k


@pytest.mark.parametrize("every, calls_per_iter", [(1, 3), (2, 2), (3, 1)])
def test_lazy_gradient_penalty(tiny_image, monkeypatch, every, calls_per_iter):
    """gp_every=k penalises critic steps 0, k, 2k, ... of each iteration, with the weight scaled
    so that an iteration's total penalty weight stays d_steps * gp_weight."""
    from singan.training import objective

    seen = []
    real_gp = objective.gradient_penalty

    def counting(*args, **kwargs):
        seen.append(1)
        return real_gp(*args, **kwargs)

    monkeypatch.setattr(objective, "gradient_penalty", counting)
    cfg = fast_small().replace(d_steps=3, gp_every=every)
    tr = Trainer.from_image(tiny_image, cfg, seed=0)
    stage = tr.engine.setup(0, tr.config)
    tr.engine.step(stage, tr.inputs.draw(stage))
    assert len(seen) == calls_per_iter


def test_gp_every_must_fit_the_critic_steps():
    with pytest.raises(singan.ConfigError, match="gp_every"):
        fast_small().replace(d_steps=3, gp_every=4)


def test_random_windows_cover_the_borders(tiny_image):
    """Crops stay inside the image and a border row is covered about half as often as an interior
    one (windows drawn inside the image alone would cover it about 1/crop as often)."""
    cfg = fast_small()
    tr = Trainer.from_image(tiny_image, cfg, seed=0)
    n = tr.model.num_scales - 1
    crop = tr.inputs.crop_size(n, tr.config)
    assert crop is not None
    (h, w), (ch, cw) = tr.model.sizes[n], crop
    corners = tr.inputs.window_corners(n, crop, 20000)
    top, left = corners[:, 0], corners[:, 1]
    assert corners.dtype == torch.long
    assert int(top.min()) == 0 and int(top.max()) == h - ch
    assert int(left.min()) == 0 and int(left.max()) == w - cw
    rows = torch.zeros(h)
    for t in range(h - ch + 1):
        rows[t:t + ch] += (top == t).sum()
    interior = rows[h // 2]
    assert 0.35 < rows[0] / interior < 0.8 and 0.35 < rows[-1] / interior < 0.8


def test_progress_percent_is_the_share_of_expected_work(tiny_image, tiny_config):
    """Every Progress carries the share of the whole training's expected work done at it: rising,
    100 at the end, each scale's share in proportion to its expected work."""
    from singan.training import expected_work

    events = []
    tr = Trainer.from_image(tiny_image, tiny_config.replace(iters=4), seed=0)
    model = tr.run(events.append)
    work = expected_work(model)
    percents = [e.percent for e in events]
    assert all(p is not None for p in percents)
    assert percents == sorted(percents) and percents[-1] == pytest.approx(100)
    ends = [e.percent for e in events if e.scale_done]
    assert ends == pytest.approx([100 * sum(work[:k + 1]) / sum(work) for k in range(len(work))])


def test_restart_events_carry_the_percent_of_the_restarted_scale(tiny_image, tiny_config):
    from singan.training import DivergenceError, expected_work

    tr = Trainer.from_image(tiny_image, tiny_config.replace(iters=2), seed=0, log_every=1)
    tr.train_scale(0)
    tr.loss_bound, tr.max_restarts = -1.0, 1  # every log point diverges
    events = []
    with pytest.raises(DivergenceError):
        tr.run(lambda p: p.event and events.append(p))
    work = expected_work(tr.model)
    assert len(events) == 1 and events[0].scale == 1
    assert events[0].percent == pytest.approx(100 * work[0] / sum(work))


def test_from_image_takes_a_precomputed_geometry(tiny_image, tiny_config):
    from singan.pyramid import geometry_for

    geo = geometry_for(tiny_config, *tiny_image.shape[-2:])
    a = Trainer.from_image(tiny_image, tiny_config, seed=1, geometry=geo).model
    b = Trainer.from_image(tiny_image, tiny_config, seed=1).model
    assert a.sizes == b.sizes == [tuple(s) for s in geo.sizes]
    assert all(torch.equal(x, y) for x, y in zip(a.reals, b.reals))


def test_fine_tuning_runs_the_training_stage(tiny_model):
    """Fine-tuning is a stage of the same engine: the tuned scales change, the others and the
    original model do not, and the critic it trained is kept."""
    import copy

    model = copy.deepcopy(tiny_model)
    last = model.num_scales - 1
    before = weights(model)
    tr = Trainer(model, generator=torch.Generator().manual_seed(0))
    prevs = model.reconstruct(last).expand(4, -1, -1, -1)
    done = []
    tr.fine_tune(last, last, 3, prevs, callback=lambda i, n: done.append((i, n)))
    after = weights(model)
    assert done == [(1, 3), (2, 3), (3, 3)]
    changed = {k.split(".")[1] for k in before if not torch.equal(before[k], after[k])}
    assert changed == {str(last)}
    assert tr.discriminator is not None and not tr.discriminator.training
    assert all(not p.requires_grad for p in model.parameters())


def test_bf16_trains_in_bfloat16_arithmetic_where_the_device_has_it(tiny_image):
    """bf16 autocasts the iterations (other results than fp32, the weights stay fp32); the CLI
    refuses --bf16 on a device without native bfloat16."""
    from singan.training import supports_bf16

    if not supports_bf16("cpu"):
        pytest.skip("this CPU has no native bfloat16 (AVX512-BF16 or AMX)")
    cfg = fast_small()
    a = singan.train(tiny_image, cfg, seed=1)
    b = singan.train(tiny_image, cfg, seed=1, bf16=True)
    assert all(v.dtype == torch.float32 for v in b.state_dict().values() if v.is_floating_point())
    wa, wb = weights(a), weights(b)
    assert not all(torch.equal(wa[k], wb[k]) for k in wa)
    assert all(torch.isfinite(v).all() for v in wb.values() if v.is_floating_point())
    # the config's bf16 (a preset's) is the same arithmetic where the device has it and it pays
    from singan.training import trainer
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(trainer, "_cpu_info", lambda: ("AuthenticAMD", frozenset({"avx512_bf16"})))
        c = singan.train(tiny_image, cfg.replace(bf16=True), seed=1)
    assert all(torch.equal(wb[k], v) for k, v in weights(c).items())


def test_config_bf16_falls_back_to_float32_where_it_is_not_native(monkeypatch, tiny_image):
    """A config (preset) asking for bf16 trains in float32, unchanged, on a device without native
    bfloat16, and says so in `singan train`'s first message; only --bf16 by name is refused."""
    from singan.cli.train import arithmetic
    from singan.training import Trainer

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False,
                        raising=False)
    cfg = fast_small()
    asked = cfg.replace(bf16=True)
    fallback = Trainer.from_image(tiny_image, asked, seed=1)
    assert not fallback.bf16 and not fallback.engine.channels_last  # NHWC only with bf16
    a = weights(singan.train(tiny_image, cfg, seed=1))
    b = weights(singan.train(tiny_image, asked, seed=1))
    assert all(torch.equal(a[k], b[k]) for k in a)
    cpu = torch.device("cpu")
    assert arithmetic(cfg, cpu) == "float32"
    assert arithmetic(asked, cpu) == "float32 (cpu has no native bfloat16)"
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True,
                        raising=False)
    from singan.training import trainer
    monkeypatch.setattr(trainer, "_cpu_info", lambda: ("AuthenticAMD", frozenset({"avx512_bf16"})))
    assert arithmetic(asked, cpu) == "bfloat16" and Trainer.from_image(tiny_image, asked).bf16
    # bf16 trains NHWC networks unless told otherwise
    assert Trainer.from_image(tiny_image, asked).engine.channels_last
    assert not Trainer.from_image(tiny_image, asked, channels_last=False).engine.channels_last
    # and Adam's fused kernel where this PyTorch has it (bits differ from fp32 anyway)
    from singan.training.stage import fused_adam_runs
    fast_opt = Trainer.from_image(tiny_image, asked).engine.setup(0, asked).g_opt
    assert bool(fast_opt.defaults["fused"]) == fused_adam_runs("cpu")
    assert not Trainer.from_image(tiny_image, cfg).engine.setup(0, cfg).d_opt.defaults["fused"]
    assert not Trainer.from_image(tiny_image, cfg).bf16


@pytest.mark.parametrize("vendor,flags,pays", [
    ("AuthenticAMD", {"avx512f", "avx512_bf16"}, True),  # measured 1.5x faster (AMD EPYC)
    ("GenuineIntel", {"avx512f", "avx512_bf16"}, False),  # measured 1.3-1.4x slower (no AMX)
    ("GenuineIntel", {"avx512_bf16", "amx_tile", "amx_bf16"}, True),
    ("AuthenticAMD", {"avx2"}, False),
])
def test_a_preset_trains_in_bfloat16_only_where_it_is_faster(monkeypatch, tiny_image, vendor,
                                                              flags, pays):
    """A config's bf16 (a preset's) needs native bfloat16 that is faster than float32 on this
    CPU, by a fixed rule of its flags; bf16=True (--bf16) asks for it wherever it is native."""
    from singan.cli.train import arithmetic
    from singan.training import Trainer, bf16_pays, trainer

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True,
                        raising=False)
    monkeypatch.setattr(trainer, "_cpu_info", lambda: (vendor, frozenset(flags)))
    asked = fast_small().replace(bf16=True)
    assert bf16_pays("cpu") is pays
    assert Trainer.from_image(tiny_image, asked).bf16 is pays
    assert Trainer.from_image(tiny_image, asked, bf16=True).bf16
    assert Trainer.from_image(tiny_image, asked.replace(bf16=False), bf16=True).bf16
    assert not Trainer.from_image(tiny_image, asked.replace(bf16=False)).bf16
    message = arithmetic(asked, torch.device("cpu"))
    assert message == "bfloat16" if pays else message.startswith("float32 (bfloat16 is native")
    # where the flags cannot be read, native means faster
    monkeypatch.setattr(trainer, "_cpu_info", lambda: None)
    assert bf16_pays("cpu")


def test_cpu_flags_are_read_from_proc_cpuinfo():
    from singan.training import trainer

    info = trainer._cpu_info()
    if info is None:
        pytest.skip("no readable /proc/cpuinfo with a flags line on this machine")
    vendor, flags = info
    assert isinstance(vendor, str) and flags and all(isinstance(f, str) for f in flags)
    assert "fpu" in flags or "sse2" in flags or "fp" in flags  # every x86 and ARM64 CPU


def test_the_run_records_its_arithmetic_and_resumes_in_it(monkeypatch, tmp_path, image_file):
    """`singan train --bf16` trains in bfloat16 even where a preset would not (native, not
    faster), config.json says so, and --resume continues in it; a preset's run there says
    float32."""
    from conftest import QUICK_CLI

    from singan.cli import main
    from singan.training import Trainer, trainer

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True,
                        raising=False)
    monkeypatch.setattr(trainer, "_cpu_info", lambda: ("GenuineIntel", frozenset({"avx512_bf16"})))
    seen = []
    original = Trainer.train_scale

    def stop_at_1(self, n, *a, **k):
        seen.append(self.bf16)
        if n == 1 and len(seen) == 2:
            raise KeyboardInterrupt
        return original(self, n, *a, **k)

    monkeypatch.setattr(Trainer, "train_scale", stop_at_1)
    run = tmp_path / "r"
    assert main(["train", str(image_file), "--out", str(run), "--bf16", "--quiet"]
                + QUICK_CLI) == 130
    assert json.loads((run / "config.json").read_text())["arithmetic"] == "bfloat16"
    assert main(["train", "--resume", "--out", str(run), "--quiet"]) == 0
    assert seen and all(seen)
    assert json.loads((run / "config.json").read_text())["arithmetic"] == "bfloat16"
    from singan.run.train import train_run

    plain = tmp_path / "p"
    train_run(plain, singan.images.load_image(image_file), fast_small().replace(bf16=True))
    assert json.loads((plain / "config.json").read_text())["arithmetic"] == "float32"
    # a damaged value is refused with one message
    info = json.loads((plain / "config.json").read_text())
    (plain / "config.json").write_text(json.dumps({**info, "arithmetic": "fp8"}))
    with pytest.raises(singan.RunError, match="arithmetic"):
        singan.load(plain)


def test_bf16_is_refused_where_it_is_not_native(monkeypatch, tmp_path, image_file, capsys):
    from conftest import QUICK_CLI

    from singan.cli import main
    from singan.training import trainer

    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False,
                        raising=False)
    assert not trainer.supports_bf16("cpu")
    assert main(["train", str(image_file), "--out", str(tmp_path / "r"), "--bf16"]
                + QUICK_CLI) == 2
    assert "has no native bfloat16" in capsys.readouterr().err


@pytest.mark.parametrize("arch", ["singan", "consingan"])
def test_channels_last_trains_the_same_arithmetic_and_saves_plain_tensors(tiny_image, tmp_path,
                                                                           arch):
    """NHWC tensors change only the rounding: the first scale's weights agree with NCHW training
    to float precision, and the run folder holds ordinary contiguous tensors."""
    cfg = fast_small().replace(iters=2) if arch == "singan" else singan.make_config(
        "consingan", max_size=32, min_size=12, num_stages=3, base_channels=8, max_channels=8,
        iters=2)
    plain = Trainer.from_image(tiny_image, cfg, seed=0)
    plain.train_scale(0)
    nhwc = Trainer.from_image(tiny_image, cfg, seed=0, channels_last=True)
    nhwc.train_scale(0)
    a, b = plain.model.state_dict(), nhwc.model.state_dict()
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], rtol=1e-4, atol=1e-5) for k in a)
    singan.save_run(nhwc.model, tmp_path / "run", nhwc.state())
    loaded = singan.load(tmp_path / "run", allow_incomplete=True)
    assert all(v.is_contiguous() for v in loaded.state_dict().values())
    x = singan.generate(loaded, 1, seeds=[0])
    assert torch.isfinite(x).all()


def test_the_mode_seeking_loss_trains_singans_coarsest_scales(tiny_image):
    """The engine's mode-seeking loss works for SinGAN's per-scale generators too: the second
    fake starts from another coarse input of the pool, with other noise."""
    cfg = fast_small().replace(ms_weight=1.0, ms_stages=1)
    tr = Trainer.from_image(tiny_image, cfg, seed=0)
    stage = tr.engine.setup(0, tr.config)
    assert stage.ms
    draw = tr.engine.draw(stage)
    twin = tr.engine.second(draw)
    assert not torch.equal(twin.noise(0)[0], draw.noise(0)[0])
    tr.engine.step(stage, draw)
    assert float(stage.sums["ms"]) > 0
    tr.train_scale(0)
    assert not tr.engine.setup(1, tr.config).ms
    m = singan.train(tiny_image, cfg, seed=0)
    assert m.is_complete and torch.isfinite(singan.generate(m, 1, seeds=[0])).all()


def test_the_patch_loss_trains_singans_finest_scales_on_windows_without_a_critic(tiny_image):
    """The engine's patch SWD loss works for SinGAN's per-scale generators too, on windows: the
    fake window is compared with an independently drawn window of the real image."""
    cfg = fast_small().replace(swd_weight=1.0, swd_stages=1, swd_only=True)
    tr = Trainer.from_image(tiny_image, cfg, seed=0)
    for n in range(tr.model.num_scales - 1):
        tr.train_scale(n)
    stage = tr.engine.setup(tr.model.num_scales - 1, tr.config)
    assert stage.swd and not stage.critic and stage.crop is not None
    draw = tr.engine.draw(stage)
    assert draw.tensors["real_corner"].shape == (2,)
    critic = [p.clone() for p in stage.d_net.parameters()]
    tr.engine.step(stage, draw)
    assert all(torch.equal(a, b) for a, b in zip(critic, stage.d_net.parameters()))
    assert float(stage.sums["swd"]) > 0
    m = singan.train(tiny_image, cfg, seed=0)
    assert m.is_complete and torch.isfinite(singan.generate(m, 1, seeds=[0])).all()


def test_coarse_channels_widen_the_coarsest_singan_scales(tiny_image, tmp_path):
    """coarse_channels in the SinGAN family: the coarsest coarse_scales generators and critics
    are that wide, the rest follow base_channels; the run saves and loads."""
    cfg = fast_small().replace(coarse_channels=12, coarse_scales=2)
    m = singan.train(tiny_image, cfg, seed=0)
    first = [next(g.parameters()).shape[0] for g in m.generators]
    assert first[:2] == [12, 12] and set(first[2:]) == {8}
    singan.run.save_run(m, tmp_path / "run")
    loaded = singan.load(tmp_path / "run")
    g = [torch.Generator().manual_seed(1) for _ in range(2)]
    torch.testing.assert_close(loaded.synthesize(1, m.sizes, generator=g[0]),
                               m.synthesize(1, m.sizes, generator=g[1]))

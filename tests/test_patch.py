"""The training-free patch engines (singan.patch): their parts against plain formulations, the
memory bound, every task's shapes and guarantees, determinism per seed, and `singan patch`."""

from __future__ import annotations

import math

import pytest
import torch

import singan
from singan import images, patch
from singan.apps.refine import default_layout_scale, refine_samples
from singan.cli import main
from singan.errors import InputError
from singan.patch import gpdm, search
from singan.patch.levels import pyramid, pyramid_from
from singan.patch.patches import extract, fold, touching

GPNN_FAST = patch.GPNNSettings(iters=2)
GPDM_FAST = patch.GPDMSettings(steps=4)


@pytest.fixture(scope="module")
def small() -> torch.Tensor:
    """(1, 3, 48, 64) from the embedded landscape."""
    return images.image_to_tensor(singan.default_image(96, 128).resize((64, 48)))


def test_fold_of_extracted_patches_is_the_image(small):
    assert torch.allclose(fold(extract(small, 7), (48, 64), 7), small, atol=1e-6)


def test_touching_marks_the_patches_over_the_mask():
    mask = torch.zeros(1, 1, 10, 10)
    mask[..., 4, 4] = 1
    hit = touching(mask, 3).view(8, 8)
    assert hit.sum() == 9 and hit[2:5, 2:5].all()


def brute_force(q, k, alpha):
    d = ((q[:, None] - k[None]) ** 2).sum(-1) / 4
    return (d / (alpha + d.min(0, keepdim=True).values)).argmin(1)


@pytest.mark.parametrize("alpha", [0.005, 1.0])
def test_exact_search_is_the_normalised_nearest_neighbour(alpha):
    g = torch.Generator().manual_seed(0)
    q, k = torch.rand(300, 27, generator=g), torch.rand(200, 27, generator=g)
    want = brute_force(q, k, alpha)
    assert torch.equal(search.exact(q, k, alpha), want)  # the whole matrix at once
    # blocks of 3 queries: the two-pass way gives the same answer within the memory bound
    assert search.exact_rows(200, 4 * 200 * 3) == 3
    assert torch.equal(search.exact(q, k, alpha, memory=4 * 200 * 3), want)


def test_patchmatch_finds_the_matches_of_a_shifted_copy(small):
    x = small
    moved = torch.roll(x, (3, 5), (2, 3))
    q, k = extract(moved, 7)[0], extract(x, 7)[0]
    qgrid = kgrid = (42, 58)
    g = torch.Generator().manual_seed(0)
    keys = search.Keys(k)
    exact = search.exact(q, k, 1e6)
    d = lambda idx: float(((q - k[idx]) ** 2).sum(1).mean())  # noqa: E731
    field = search.approximate(q, keys, 1e6, None, qgrid, kgrid, generator=g, rounds=1)
    start = d(field.index)
    for _ in range(8):  # as many rounds as a level of GPNN gives it
        field = search.approximate(q, keys, 1e6, field, qgrid, kgrid, generator=g, rounds=4)
    # from random matches to within 1.6 times the exact nearest neighbours' mean distance
    assert start > 3 * d(exact) and d(field.index) < 1.6 * d(exact)


def test_sliced_distance_is_the_sorted_difference():
    g = torch.Generator().manual_seed(1)
    a, b = torch.rand(2, 50, 12, generator=g), torch.rand(50, 12, generator=g)
    dirs = torch.nn.functional.normalize(torch.randn(12, 5, generator=g), dim=0)
    pa = (a @ dirs).sort(dim=1).values
    pb = (b @ dirs).sort(dim=0).values
    want = (pa - pb[None]).abs().mean(dim=(1, 2))
    assert torch.allclose(gpdm.sliced_distance(a, b, dirs), want, atol=1e-6)
    assert gpdm.sliced_distance(b[None], b, dirs).abs().max() < 1e-6
    # sets of different sizes: the source resampled at the output's quantiles
    assert gpdm.sliced_distance(a, b[:20], dirs).shape == (2,)


def test_pyramids_follow_the_papers_ratios():
    lv = pyramid((188, 250), (188, 375), ratio=4 / 3, coarsest=14, patch=7)
    assert lv[-1].source == (188, 250) and lv[-1].output == (188, 375)
    assert 13 <= min(lv[0].source) <= 19 and len(lv) == 10
    for a, b in zip(lv, lv[1:]):
        assert b.scale / a.scale == pytest.approx(4 / 3)
    lv = pyramid((188, 250), (188, 250), ratio=1 / 0.85, coarsest=21, patch=7)
    assert 21 <= min(lv[0].source) <= 25
    lv = pyramid_from((47, 62), (188, 250), (188, 250), ratio=4 / 3, patch=7)
    assert lv[0].output == (47, 62) and lv[-1].output == (188, 250) and len(lv) == 6


@pytest.mark.parametrize("engine,settings", [("gpnn", GPNN_FAST), ("gpdm", GPDM_FAST)])
def test_samples_of_any_size_and_their_seeds(small, engine, settings):
    a = patch.sample(small, 2, engine=engine, seed=3, settings=settings)
    assert a.shape == (2, 3, 48, 64) and a.abs().max() <= 1
    b = patch.sample(small, 2, engine=engine, seed=3, settings=settings)
    assert torch.equal(a, b)
    c = patch.sample(small, 2, engine=engine, seed=4, settings=settings)
    assert not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])  # each output its own noise
    wide = patch.sample(small, 1, engine=engine, scale_w=1.5, seed=0, settings=settings)
    assert wide.shape == (1, 3, 48, 96)
    exact = patch.sample(small, 1, engine=engine, size=(40, 30), seed=0, settings=settings)
    assert exact.shape == (1, 3, 40, 30)


def test_gpnn_copies_patches_of_the_source(small):
    out = patch.sample(small, 1, seed=0, settings=GPNN_FAST)
    # without noise and with plain nearest neighbours the image rebuilds itself
    same = patch.sample(small, 1, seed=0, settings=patch.GPNNSettings(noise=0, alpha=1e6,
                                                                      iters=2))
    assert (same - small).abs().mean() < 0.05
    assert (out - small).abs().mean() > (same - small).abs().mean()


@pytest.mark.parametrize("engine", ["gpnn", "gpdm"])
@pytest.mark.parametrize("task", ["inpaint", "edit"])
def test_masked_tasks_keep_the_outside(small, engine, task):
    mask = torch.zeros(1, 1, 48, 64)
    mask[..., 16:32, 20:40] = 1
    fn = getattr(patch, task)
    settings = patch.settings_for(engine, **({"iters": 2, "alpha": 1.0, "noise": 0.0}
                                             if engine == "gpnn" else {"steps": 4, "noise": 0.0}))
    out = fn(small, mask, 1, engine=engine, seed=0, settings=settings)
    assert out.shape == small.shape
    outside = mask.expand_as(small) == 0
    assert torch.allclose(out[outside], small.clamp(-1, 1)[outside], atol=1e-6)
    assert (out - small)[~outside].abs().mean() > 0  # the region was rebuilt


def test_masks_that_leave_nothing_to_do_are_refused(small):
    with pytest.raises(InputError, match="empty"):
        patch.inpaint(small, torch.zeros(1, 1, 48, 64))
    with pytest.raises(InputError, match="whole image"):
        patch.inpaint(small, torch.ones(1, 1, 48, 64))
    nearly = torch.ones(1, 1, 48, 64)
    nearly[..., :2, :2] = 0
    with pytest.raises(InputError, match="make the mask smaller"):
        patch.inpaint(small, nearly, settings=GPNN_FAST)


def test_an_image_too_small_for_the_patches_is_refused():
    with pytest.raises(InputError, match="at least 9 px"):
        patch.sample(torch.zeros(1, 3, 8, 40))


@pytest.mark.parametrize("engine,settings", [("gpnn", GPNN_FAST), ("gpdm", GPDM_FAST)])
def test_analogy_and_refine_shapes(small, engine, settings):
    other = torch.flip(small, (3,))
    out = patch.analogy(other, small, 2, engine=engine, seed=0, settings=settings)
    assert out.shape == (2, 3, 48, 64)
    layouts = torch.nn.functional.interpolate(small, size=(16, 21)).repeat(2, 1, 1, 1)
    out = patch.refine(layouts, small, (48, 80), engine=engine, seed=0, settings=settings)
    assert out.shape == (2, 3, 48, 80)


def test_refine_builds_on_a_trained_models_layout(tiny_model):
    k = default_layout_scale(tiny_model)
    assert 0 <= k < tiny_model.num_trained
    out = refine_samples(tiny_model, [0, 1], settings=GPNN_FAST, scale_w=1.5)
    h, w = tiny_model.sizes[-1]
    assert out.shape == (2, 3, h, round(w * 1.5))
    again = refine_samples(tiny_model, [0], settings=GPNN_FAST, scale_w=1.5)
    assert torch.equal(out[:1], again)


def test_the_memory_bound_names_a_size_that_fits():
    s = patch.GPNNSettings()
    need = patch.memory_needed(s, (750, 1000), (750, 1000))
    assert 1.5 * 2**30 < need < 4 * 2**30  # a 1000-px image: about 2.3 GiB
    with pytest.raises(InputError, match=r"about \d+x\d+ px .* would fit"):
        patch.sample(torch.zeros(1, 3, 750, 1000), settings=s, max_memory=2**30)
    g = patch.GPDMSettings()
    assert patch.memory_needed(g, (188, 250), (188, 250), 4) > \
        patch.memory_needed(g, (188, 250), (188, 250), 1)


def test_settings_are_checked():
    with pytest.raises(singan.errors.ConfigError, match="search"):
        patch.settings_for("gpnn", search="fast")
    with pytest.raises(singan.errors.ConfigError, match="no setting steps"):
        patch.settings_for("gpnn", steps=3)
    with pytest.raises(singan.errors.ConfigError, match="engine"):
        patch.settings_for("gan")
    assert math.isclose(patch.settings_for("gpdm").ratio, 1 / 0.85)


def test_cli_writes_one_file_per_seed(tmp_path, small, capsys):
    img = tmp_path / "img.png"
    images.save_image(small[0], img)
    out = tmp_path / "o"
    base = ["patch", str(img), "--out", str(out), "--num", "2", "--quiet", "--device", "cpu"]
    assert main(base + ["--seed", "5", "--scale-w", "1.5"]) == 0
    files = sorted(p.name for p in out.iterdir())
    assert files == ["seed0005.png", "seed0006.png"]
    assert images.read_image(out / "seed0005.png").size == (96, 48)
    assert main(base + ["--seed", "5"]) == 2  # no overwriting without --force
    assert "exists" in capsys.readouterr().err
    mask = tmp_path / "m.png"
    m = torch.zeros(1, 3, 48, 64)
    m[..., 10:30, 10:30] = 1
    images.save_image(m[0] * 2 - 1, mask)
    assert main(base + ["--task", "inpaint", "--mask", str(mask), "--force", "--engine",
                        "gpdm", "--steps", "2"]) == 0


@pytest.mark.parametrize("argv,message", [
    (["--task", "inpaint"], "needs --mask"),
    (["--task", "analogy"], "needs --structure"),
    (["--engine", "gpdm", "--alpha", "1"], "gpnn setting"),
    (["--engine", "gpnn", "--steps", "3"], "gpdm setting"),
    (["--task", "edit", "--mask", "m.png", "--height", "40"], "keeps the image's size"),
])
def test_cli_refuses_flags_that_do_not_fit(tmp_path, small, capsys, argv, message):
    img = tmp_path / "img.png"
    images.save_image(small[0], img)
    rc = main(["patch", str(img), "--out", str(tmp_path / "o"), "--quiet"] + argv)
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_cli_refine_from_a_run(tiny_run, tmp_path):
    out = tmp_path / "r"
    assert main(["patch", "--task", "refine", "--run", str(tiny_run), "--num", "1", "--out",
                 str(out), "--quiet", "--device", "cpu"]) == 0
    assert (out / "seed0000.png").is_file()

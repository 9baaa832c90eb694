"""The applications (super-resolution, paint, editing, harmonization, animation): library and CLI."""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import singan
from singan import images
from singan.apps.common import blurred_injection
from singan.apps.masks import dilate, mask_to_tensor, soft_mask
from singan.apps.palette import kmeans, quantize
from singan.apps.sr import sr_steps
from singan.cli import main
from singan.resize import resize

TINY = ["--preset", "tiny", "--max-size", "32", "--min-size", "16", "--base-channels", "8",
        "--max-channels", "8", "--iters", "3", "--quiet", "--device", "cpu"]


@pytest.fixture(scope="session")
def anim_run(tmp_path_factory, tiny_image):
    path = tmp_path_factory.mktemp("anim") / "run"
    img = path.parent / "img.png"
    images.save_image(tiny_image[0], img)
    assert main(["train", str(img), "--mode", "animation", "--out", str(path)] + TINY) == 0
    return path


@pytest.fixture(scope="session")
def sr_run(tmp_path_factory, tiny_image):
    """`singan sr` without --run: trains into OUT_run, then enlarges."""
    folder = tmp_path_factory.mktemp("sr")
    img = folder / "small.png"
    images.save_image(tiny_image[0], img)
    assert main(["sr", str(img), "--factor", "2", "--out", str(folder / "big.png")] + TINY) == 0
    return folder


@pytest.fixture(scope="session")
def wide_model(device):
    """A 48 x 96 model (two iterations per scale): room for pixels far from a mask."""
    image = images.image_to_tensor(singan.default_image(96, 192).resize((96, 48)))
    config = singan.make_config("tiny", max_size=96, min_size=16, base_channels=8,
                                max_channels=8, iters=2)
    return singan.train(image, config, device=device, seed=0)


def corner_mask(model, box=(4, 16, 4, 16)) -> torch.Tensor:
    h, w = model.sizes[-1]
    m = torch.zeros(1, 1, h, w)
    m[..., box[0]:box[1], box[2]:box[3]] = 1
    return m


def run_cli(argv, capsys):
    rc = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


# --- masks and palettes ------------------------------------------------------------------------


def test_mask_formats_agree(tmp_path):
    a = np.zeros((20, 30), np.uint8)
    a[5:12, 8:20] = 255
    gray = Image.fromarray(a, "L")
    rgba_alpha = Image.fromarray(np.dstack([np.full_like(a, 90)] * 3 + [a]), "RGBA")
    rgba_opaque = Image.fromarray(np.dstack([a, a, a, np.full_like(a, 240)]), "RGBA")
    ims = [gray, gray.convert("1"), gray.convert("RGB"), rgba_alpha, rgba_opaque]
    ref = torch.from_numpy(a / 255.0).float()
    for im in ims:
        im.save(tmp_path / "m.png")
        m = mask_to_tensor(images.open_image(tmp_path / "m.png"))
        assert m.shape == (1, 1, 20, 30)
        assert torch.equal((m[0, 0] > 0.5), ref > 0.5), im.mode
    assert torch.equal(mask_to_tensor(ref), ref[None, None])


def test_soft_mask_reaches_exactly_radius_plus_blur():
    m = torch.zeros(1, 1, 100, 100)
    m[..., 45:55, 45:55] = 1
    d = dilate(m, 7)
    assert d[0, 0, 50, 38] == 1 and d[0, 0, 50, 37] == 0  # disk of radius 7 around the square
    s = soft_mask(m, 7)
    assert s.min() == 0 and s.max() == 1
    ys, xs = torch.nonzero(s[0, 0] > 0, as_tuple=True)
    assert xs.min() == 45 - 7 - 20 and ys.max() == 54 + 7 + 20  # 4 sigma of blur, no further


def test_kmeans_clusters_rgb_pixels():
    g = torch.Generator().manual_seed(0)
    colours = torch.tensor([[0.9, -0.8, -0.8], [-0.8, -0.8, 0.9], [0.0, 0.7, 0.0]])
    labels = torch.randint(0, 3, (40, 50), generator=g)
    image = colours[labels].permute(2, 0, 1)[None] + 0.02 * torch.randn(1, 3, 40, 50, generator=g)
    centres = kmeans(image, 3)
    assert torch.cdist(colours, centres).min(dim=1).values.max() < 0.05
    assert torch.equal(kmeans(image, 3), centres)  # seeded
    q = quantize(image, centres)
    # every pixel is exactly one of the palette's colours (compared value by value: cdist's
    # matrix-product path leaves rounding of about 1e-3 on some CPUs even for equal points)
    pixels = q.permute(0, 2, 3, 1).reshape(-1, 3)
    assert (pixels[:, None, :] == centres[None]).all(dim=2).any(dim=1).all()
    # and the nearest one: each pixel keeps the label of its nearest centre
    nearest = torch.cdist(image.permute(0, 2, 3, 1).reshape(-1, 3), centres).argmin(dim=1)
    assert torch.equal(pixels, centres[nearest])


# --- library -----------------------------------------------------------------------------------


def test_blurred_injection_is_a_coarser_image(tiny_model, tiny_image):
    x = blurred_injection(tiny_model, tiny_image, 2)
    assert x.shape[-2:] == tiny_model.sizes[2]
    direct = resize(tiny_image, size=tiny_model.sizes[2])
    assert 0 < (x - direct).abs().mean() < 0.1  # the same picture, a little blurred


@pytest.mark.parametrize("fn,radius", [(singan.edit, 20), (singan.harmonize, 7)])
def test_blend_keeps_pixels_outside_the_mask(wide_model, fn, radius):
    image = wide_model.reals[-1] + 0.1 * torch.randn_like(wide_model.reals[-1])
    result = fn(wide_model, image, corner_mask(wide_model), start_scale=1, seed=0)
    h, w = wide_model.sizes[-1]
    for x in (result.blended, result.raw):
        assert x.shape == (1, 3, h, w) and torch.isfinite(x).all()
    assert result.mask.shape == (1, 1, h, w)
    reach = 16 + radius + 20  # mask edge + dilation + 4 sigma of blur
    assert torch.equal(result.blended[..., reach:], image[..., reach:])
    assert (result.mask[..., reach:] == 0).all() and result.mask[0, 0, 10, 10] > 0.95
    assert not torch.equal(result.blended[..., :16, :16], image[..., :16, :16])


def test_seed_makes_edit_reproducible(wide_model):
    mask = corner_mask(wide_model)
    a = singan.harmonize(wide_model, wide_model.reals[-1], mask, start_scale=2, seed=3)
    b = singan.harmonize(wide_model, wide_model.reals[-1], mask, start_scale=2, seed=3)
    assert torch.equal(a.raw, b.raw)


def test_fine_tune_works_on_a_copy(wide_model):
    before = {k: v.clone() for k, v in wide_model.state_dict().items()}
    mask = corner_mask(wide_model)
    calls = []
    tuned = singan.edit(wide_model, wide_model.reals[-1], mask, start_scale=3, fine_tune=2,
                        seed=0, callback=lambda done, total: calls.append((done, total)))
    plain = singan.edit(wide_model, wide_model.reals[-1], mask, start_scale=3, seed=0)
    assert calls == [(1, 2), (2, 2)]
    assert all(torch.equal(v, wide_model.state_dict()[k]) for k, v in before.items())
    assert torch.isfinite(tuned.raw).all() and not torch.equal(tuned.raw, plain.raw)


def test_paint_to_image(tiny_model):
    h, w = tiny_model.sizes[-1]
    paint = Image.new("RGB", (w * 2, h * 2), (40, 120, 200))  # other size: resized with a notice
    with pytest.warns(singan.InputNotice, match="resized"):
        x = singan.paint_to_image(tiny_model, paint, start_scale=1, seed=0)
    q = singan.paint_to_image(tiny_model, tiny_model.reals[-1], start_scale=1, quantize=True,
                              fine_tune_iters=1, seed=0)
    for y in (x, q):
        assert y.shape == (1, 3, h, w) and torch.isfinite(y).all()
    with pytest.raises(singan.ConfigError, match="quantize"):
        singan.paint_to_image(tiny_model, paint, start_scale=1, fine_tune_iters=3)


@pytest.mark.parametrize("bad,match", [
    ({"start_scale": 0}, "start scale"), ({"start_scale": 99}, "start scale"),
    ({"image": torch.zeros(1, 3, 24, 64)}, "aspect ratio"),
    ({"mask": torch.zeros(1, 1, 24, 32)}, "empty"), ({"mask": torch.ones(24, 32)}, "full"),
])
def test_injection_errors(tiny_model, tiny_image, bad, match):
    kw = {"start_scale": 1, "image": tiny_image, "mask": corner_mask(tiny_model, (2, 8, 2, 8))}
    kw.update(bad)
    with pytest.raises(singan.SinGANError, match=match):
        singan.edit(tiny_model, kw["image"], kw["mask"], start_scale=kw["start_scale"])


def test_sr_steps_follow_the_paper():
    assert sr_steps(4) == (6, pytest.approx(4 ** (1 / 6)))
    assert sr_steps(2)[0] == 3 and sr_steps(8)[0] == 9
    assert sr_steps(3) == (5, pytest.approx(1.2457, abs=1e-4))
    assert sr_steps(1.5)[0] == 2
    with pytest.raises(singan.ConfigError):
        sr_steps(1.0)


def test_super_resolve_sizes(sr_run):
    model = singan.load(sr_run / "big_run")
    assert model.config.mode == "sr" and model.config.rec_weight == 100
    assert model.scale_factor == pytest.approx(2 ** (-1 / 3))  # tied to the x2 step
    h, w = model.sizes[-1]
    for f in (1.5, 2, 3, 4, 8):
        x = singan.super_resolve(model, f, seed=0)
        assert x.shape == (1, 3, round(f * h), round(f * w)) and torch.isfinite(x).all()
    y = singan.super_resolve(model, 2.5, image=torch.zeros(3, 10, 15), seed=0)
    assert y.shape == (1, 3, 25, 38)


def test_modes_are_checked(tiny_model):
    with pytest.raises(singan.ConfigError, match="sr mode"):
        singan.super_resolve(tiny_model, 2)
    with pytest.raises(singan.ConfigError, match="animation mode"):
        singan.animate(tiny_model, frames=2)


def test_animation_is_a_random_walk(anim_run):
    model = singan.load(anim_run)
    frames = singan.animate(model, frames=12, seed=0, batch=5)
    assert frames.shape == (12, 3, *model.sizes[-1]) and torch.isfinite(frames).all()
    step = (frames[1:] - frames[:-1]).abs().mean(dim=(1, 2, 3))
    independent = singan.generate(model, 12, seeds=range(12))
    apart = (independent[1:] - independent[:-1]).abs().mean(dim=(1, 2, 3))
    assert (step > 0).all()
    assert step.mean() < 0.5 * apart.mean()
    again = singan.animate(model, frames=12, seed=0, batch=12)
    assert torch.allclose(again, frames, atol=1e-5)


def test_write_animation(tmp_path, anim_run, monkeypatch):
    frames = torch.rand(5, 3, 21, 33) * 2 - 1
    gif = singan.write_animation(frames, tmp_path / "a.gif", fps=10)
    with Image.open(gif) as im:
        assert im.n_frames == 5 and im.size == (33, 21) and im.info["duration"] == 100
    mask = os.umask(0)
    os.umask(mask)
    assert gif.stat().st_mode & 0o777 == 0o666 & ~mask  # not the temporary file's 0600
    pytest.importorskip("imageio_ffmpeg")
    import imageio.v3 as iio

    mp4 = singan.write_animation(frames, tmp_path / "a.mp4", fps=5)
    assert iio.imread(mp4, plugin="FFMPEG").shape[:3] == (5, 22, 34)  # padded to even
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    with pytest.raises(singan.ConfigError, match=r"singan\[video\]"):
        singan.write_animation(frames, tmp_path / "b.mp4")
    with pytest.raises(singan.ConfigError, match="gif or .mp4"):
        singan.write_animation(frames, tmp_path / "b.avi")


# --- command line ------------------------------------------------------------------------------


@pytest.fixture
def inputs(tmp_path, tiny_run):
    """An edited image, a paint and a mask for the tiny run, the mask as an RGBA alpha."""
    model = singan.load(tiny_run)
    h, w = model.sizes[-1]
    images.save_image(model.reals[-1][0], tmp_path / "edit.png")
    Image.new("RGB", (2 * w, 2 * h), (200, 60, 30)).save(tmp_path / "paint.png")
    a = np.zeros((h, w, 4), np.uint8)
    a[4:10, 6:14, 3] = 255
    Image.fromarray(a, "RGBA").save(tmp_path / "mask.png")
    return model


def test_cli_paint_edit_harmonize(tiny_run, inputs, tmp_path, capsys):
    h, w = inputs.sizes[-1]
    last = inputs.num_scales - 1
    t = str(tmp_path)
    cases = [
        (["paint", str(tiny_run), f"{t}/paint.png", "--out", f"{t}/p.png"], ["p.png"]),
        (["paint", str(tiny_run), f"{t}/edit.png", "--out", f"{t}/q.png", "--quantize",
          "--fine-tune", "1"], ["q.png"]),
        (["edit", str(tiny_run), f"{t}/edit.png", "--mask", f"{t}/mask.png", "--out",
          f"{t}/e.png", "--save-raw"], ["e.png", "e_raw.png"]),
        (["harmonize", str(tiny_run), f"{t}/edit.png", "--mask", f"{t}/mask.png", "--out",
          f"{t}/h.png", "--start-scale", "all"], [f"h_scale{k}.png" for k in range(1, last + 1)]),
        (["harmonize", str(tiny_run), f"{t}/edit.png", "--mask", f"{t}/mask.png", "--out",
          f"{t}/f.png", "--fine-tune", "1", "--start-scale", str(last)], ["f.png"]),
    ]
    model_bytes = (tiny_run / "model.safetensors").read_bytes()
    for argv, files in cases:
        rc, err = run_cli(argv + ["--quiet", "--device", "cpu"], capsys)
        assert rc == 0, err
        for f in files:
            a = np.asarray(Image.open(tmp_path / f))
            assert a.shape == (h, w, 3)
    assert (tiny_run / "model.safetensors").read_bytes() == model_bytes  # fine-tuning: a copy


def test_cli_notes_resized_inputs(tiny_run, inputs, tmp_path, capsys):
    rc, err = run_cli(["paint", str(tiny_run), str(tmp_path / "paint.png"), "--out",
                       str(tmp_path / "p.png"), "--quiet"], capsys)
    assert rc == 0 and "note:" in err and "resized" in err


def test_cli_sr_trains_once_and_reuses(sr_run, tiny_image, capsys, tmp_path):
    h, w = tiny_image.shape[-2:]
    assert Image.open(sr_run / "big.png").size == (2 * w, 2 * h)
    assert (sr_run / "big_run" / "config.json").exists()
    before = (sr_run / "big_run" / "model.safetensors").stat().st_mtime_ns
    rc, err = run_cli(["sr", str(sr_run / "small.png"), "--factor", "3", "--out",
                       str(tmp_path / "x3.png"), "--run", str(sr_run / "big_run"), "--quiet"],
                      capsys)
    assert rc == 0, err
    assert Image.open(tmp_path / "x3.png").size == (3 * w, 3 * h)
    assert (sr_run / "big_run" / "model.safetensors").stat().st_mtime_ns == before
    Image.new("RGB", (w, h), "gray").save(tmp_path / "other.png")
    rc, err = run_cli(["sr", str(tmp_path / "other.png"), "--factor", "2", "--out",
                       str(tmp_path / "o.png"), "--run", str(sr_run / "big_run")], capsys)
    assert rc == 2 and "another image" in err


def test_sr_settings_are_one_for_the_cli_and_the_library(sr_run, tiny_image):
    """`train(image, sr_config(F))` learns the image at its full size, as `singan sr` does, with
    the same settings (issue 16: they lived in three places that disagreed)."""
    from singan.pyramid import geometry_for

    big = singan.sr_config(2)
    assert big.mode == "sr" and big.max_size >= 1000
    assert geometry_for(big, 300, 400).sizes[-1] == (300, 400)  # not shrunk to 250 px
    saved = singan.run.read_run_info(sr_run / "big_run")["config"]  # the flags of TINY
    assert saved == singan.sr_config(2, "tiny", max_size=32, min_size=16, base_channels=8,
                                     max_channels=8, iters=3)
    assert saved.scale_factor_init == pytest.approx(1 / 2 ** (1 / 3))


def test_cli_animate(anim_run, tmp_path, capsys):
    rc, err = run_cli(["animate", str(anim_run), "--out", str(tmp_path / "a.gif"), "--frames",
                       "6", "--quiet"], capsys)
    assert rc == 0, err
    with Image.open(tmp_path / "a.gif") as im:
        assert im.n_frames == 6
    rc, err = run_cli(["animate", str(anim_run), "--out", str(tmp_path / "a.gif"), "--frames",
                       "2"], capsys)
    assert rc == 2 and "--force" in err


@pytest.mark.parametrize("argv,message", [
    (["edit", "{run}", "{t}/edit.png", "--mask", "{t}/empty.png", "--out", "{t}/o.png"], "empty"),
    (["edit", "{run}", "{t}/edit.png", "--mask", "{t}/full.png", "--out", "{t}/o.png"], "full"),
    (["harmonize", "{run}", "{t}/wide.png", "--mask", "{t}/mask.png", "--out", "{t}/o.png"],
     "aspect ratio"),
    (["edit", "{run}", "{t}/edit.png", "--mask", "{t}/mask.png", "--out", "{t}/o.png",
      "--start-scale", "0"], "--start-scale"),
    (["paint", "{run}", "{t}/paint.png", "--out", "{t}/o.png", "--start-scale", "99"],
     "--start-scale"),
    (["paint", "{run}", "{t}/paint.png", "--out", "{t}/o.png", "--fine-tune", "3"],
     "--quantize"),
    (["paint", "{run}", "{t}/paint.png", "--out", "{t}/o.xyz"], "unknown image type"),
    (["paint", "{run}", "{t}/missing.png", "--out", "{t}/o.png"], "no such file"),
    (["paint", "{run}", "{t}/paint.png", "--out", "{t}/edit.png"], "exists"),
    (["animate", "{run}", "--out", "{t}/a.gif"], "animation mode"),
    (["animate", "{run}", "--out", "{t}/a.avi"], ".gif or .mp4"),
    (["sr", "{t}/edit.png", "--factor", "2", "--out", "{t}/o.png", "--run", "{run}"],
     "sr mode"),
    (["sr", "{t}/edit.png", "--factor", "0.5", "--out", "{t}/o.png"], "factor"),
])
def test_cli_errors(tiny_run, inputs, tmp_path, capsys, argv, message):
    h, w = inputs.sizes[-1]
    Image.new("L", (w, h), 0).save(tmp_path / "empty.png")
    Image.new("L", (w, h), 255).save(tmp_path / "full.png")
    Image.new("RGB", (2 * w, h), "gray").save(tmp_path / "wide.png")
    argv = [a.format(run=tiny_run, t=tmp_path) for a in argv]
    before = sorted(p.name for p in tmp_path.iterdir())
    rc, err = run_cli(argv + ["--device", "cpu"], capsys)
    assert rc == 2 and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_cli_mp4_needs_the_video_extra(anim_run, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "imageio_ffmpeg", None)
    rc, err = run_cli(["animate", str(anim_run), "--out", str(tmp_path / "a.mp4")], capsys)
    assert rc == 2 and "singan[video]" in err


def test_help_documents_default_scales(capsys):
    for cmd in ("paint", "edit", "harmonize", "animate", "sr"):
        assert main([cmd, "--help"]) == 0
        out = capsys.readouterr().out
        assert "examples:" in out
        if cmd != "sr":
            assert "default:" in out and "--start-scale" in out
    assert math.isclose(2 ** (-1 / 3), singan.make_config("paper", "sr").scale_factor_init)


def test_readme_applications_example(tmp_path, monkeypatch, tiny_run, sr_run, anim_run):
    """Run the README's Python block of the Applications section on the tiny runs."""
    import re
    import shutil
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text[text.index("## Applications"):]
    code = re.findall(r"```python\n(.*?)```", section, flags=re.S)[0]
    monkeypatch.chdir(tmp_path)
    shutil.copytree(tiny_run, "runs/stone")
    shutil.copytree(anim_run, "runs/lightning")
    shutil.copytree(sr_run / "big_run", "big_run")
    model = singan.load(tiny_run)
    images.save_image(model.reals[-1][0], "stone_edit.png")
    images.save_image(model.reals[-1][0].flip(-1), "paint.png")
    mask = np.zeros(model.sizes[-1], np.uint8)
    mask[4:10, 6:14] = 255
    Image.fromarray(mask).save("edit_mask.png")
    exec(compile(code, "README.md", "exec"), {})
    assert Image.open("edited.png").size == Image.open("stone_edit.png").size
    with Image.open("lightning.gif") as im:
        assert im.n_frames == 100


def test_mask_growth_scales_with_the_image():
    from singan.apps.masks import TUNED_SIDE, scaled_growth

    assert scaled_growth(20, (168, TUNED_SIDE)) == (20, 5.0)  # the original's figures at 250 px
    assert scaled_growth(7, (250, 200)) == (7, 5.0)
    assert scaled_growth(20, (72, 96)) == (8, 5.0 * 96 / 250)
    assert scaled_growth(7, (24, 32)) == (1, 0.64)
    assert scaled_growth(7, (8, 8)) == (1, 0.5)  # at least 1 px and sigma 0.5


def test_default_scales_come_from_one_place(capsys):
    from singan.apps.common import DEFAULT_SCALE_HELP, default_start_scale
    from singan.cli.apps import default_scale

    assert [default_start_scale(a, 8) for a in ("paint", "edit", "harmonize", "animate")] == \
        [2, 4, 5, 0]
    assert [default_start_scale(a, 3) for a in ("paint", "edit", "harmonize", "animate")] == \
        [2, 1, 1, 0]
    assert default_start_scale("paint", 2) == 1

    class Model:
        num_scales = 6
    assert default_scale("edit", Model()) == default_start_scale("edit", 6) == 2
    for cmd in ("paint", "edit", "harmonize"):
        assert main([cmd, "--help"]) == 0
        assert " ".join(DEFAULT_SCALE_HELP[cmd].split()) in " ".join(
            capsys.readouterr().out.split())

"""Resource limits: input pixels, training and output memory, --threads, config bounds."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_CLI
import torch
from PIL import Image

import singan
from singan import budget, images
from singan.cli import main
from singan.errors import ConfigError, InputError

TINY = TINY_CLI + ["--iters", "1"]


@pytest.fixture
def img(tmp_path):
    path = tmp_path / "img.png"
    Image.effect_noise((64, 48), 40).convert("RGB").save(path)
    return path


def test_max_pixels_flag_and_environment(img, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    assert main(["train", str(img), "--out", str(out), "--max-pixels", "3000"] + TINY) == 2
    assert "64x48 = 3072 pixels, more than the limit of 3000" in capsys.readouterr().err
    assert not out.exists()
    monkeypatch.setenv(budget.MAX_PIXELS_ENV, "3000")
    with pytest.raises(InputError, match="limit of 3000"):
        images.load_image(img)
    assert images.load_image(img, max_pixels=3072).shape == (1, 3, 48, 64)  # the flag wins
    monkeypatch.setenv(budget.MAX_PIXELS_ENV, "lots")
    assert main(["train", str(img), "--out", str(out)] + TINY) == 2
    assert "SINGAN_MAX_PIXELS must be a whole number of pixels, got 'lots'" in \
        capsys.readouterr().err
    monkeypatch.delenv(budget.MAX_PIXELS_ENV)
    with pytest.raises(ConfigError, match="at least 1"):
        images.load_image(img, max_pixels=0)


def test_training_refused_when_the_memory_estimate_exceeds_what_is_free(
        img, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(budget, "available_memory", lambda device: 2**20)
    out = tmp_path / "run"
    assert main(["train", str(img), "--out", str(out)] + TINY) == 2
    err = capsys.readouterr().err
    assert "training at --max-size 32 needs about" in err and "more than the 1 MiB free on cpu" \
        in err
    assert not out.exists()


def test_dry_run_reports_the_memory_estimate(img, tmp_path, capsys):
    assert main(["train", str(img), "--out", str(tmp_path / "r"), "--dry-run", "--json"]
                + TINY) == 0
    info = json.loads(capsys.readouterr().out)
    config = singan.make_config("tiny", max_size=32, min_size=16, base_channels=8,
                                max_channels=8, iters=1)
    need = budget.training_memory(config, [tuple(s) for s in info["sizes"]])
    assert info["memory_estimate"] == budget.format_bytes(need)


def test_training_memory_grows_with_size_and_width():
    c = singan.make_config("paper")
    small = budget.training_memory(c, [(25, 33), (100, 133)])
    assert budget.training_memory(c, [(25, 33), (200, 266)]) > 3 * (small - 96 * 2**20)
    assert budget.training_memory(c.replace(max_channels=256), [(25, 33), (100, 133)]) >= small


def test_training_memory_counts_the_pool_of_random_inputs():
    """With windows the activations stay small; the pool of full-size random inputs does not."""
    from singan.pyramid import geometry

    c = singan.make_config("fast", max_size=1000)
    sizes = list(geometry(750, 1000, min_size=c.min_size, max_size=c.max_size,
                          scale_factor_init=c.scale_factor_init).sizes)
    pool_finest = 4 * c.prev_pool * 3 * 750 * 1000
    with_pool = budget.training_memory(c, sizes)
    assert with_pool >= 1.5 * pool_finest  # made from the previous scale's pool
    assert budget.training_memory(c.replace(prev_pool=0), sizes) < with_pool - pool_finest
    assert budget.training_memory(c.replace(prev_pool=128), sizes) > with_pool + pool_finest


def test_sample_output_size_is_checked_before_generating(tiny_run, tmp_path, capsys, monkeypatch):
    out = tmp_path / "s"
    assert main(["sample", str(tiny_run), "--num", "1", "--out", str(out), "--max-pixels",
                 "100"]) == 2
    assert "pixels is over the limit of 100" in capsys.readouterr().err
    monkeypatch.setattr(budget, "available_memory", lambda device: 10 * 2**20)
    assert main(["sample", str(tiny_run), "--num", "1", "--out", str(out), "--height", "4000",
                 "--width", "4000"]) == 2
    err = capsys.readouterr().err
    assert "an output of 4000x4000 needs about" in err and "more than the 10 MiB available" in err
    assert not out.exists()


def test_check_output_size():
    c = singan.make_config("paper")
    need = budget.check_output_size(250, 250, c)
    assert budget.check_output_size(500, 500, c) > 3.5 * need
    assert budget.check_output_size(250, 250, c, batch=16) > need
    assert budget.check_output_size(250, 250, c, available=need) == need
    with pytest.raises(ConfigError, match=r"needs about .* more than the"):
        budget.check_output_size(250, 250, c, available=need - 1)
    with pytest.raises(ConfigError, match="over the limit"):
        budget.check_output_size(10_000, 10_000, c)


def test_available_memory_is_known_on_this_machine():
    free = budget.available_memory(torch.device("cpu"))
    assert free is None or free > 0


def test_threads_flag_is_honoured(tiny_run, tmp_path, capsys):
    before = torch.get_num_threads()
    try:
        target = 1 if before != 1 else 2
        assert main(["sample", str(tiny_run), "--num", "1", "--out", str(tmp_path / "s"),
                     "--threads", str(target), "--quiet"]) == 0
        assert torch.get_num_threads() == target
    finally:
        torch.set_num_threads(before)
    assert main(["sample", str(tiny_run), "--num", "1", "--out", str(tmp_path / "t"),
                 "--threads", "0"]) == 2
    assert "--threads: must be a whole number from 1 to 256, got 0" in capsys.readouterr().err


def test_config_upper_bounds(img, tmp_path, capsys):
    with pytest.raises(ConfigError, match="max_size must be a whole number from 8 to 4096"):
        singan.make_config("paper", max_size=5000)
    assert main(["train", str(img), "--out", str(tmp_path / "r"), "--max-channels", "5000",
                 "--quiet"]) == 2
    assert "--max-channels: must be a whole number from 1 to 1024" in capsys.readouterr().err

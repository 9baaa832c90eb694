"""Property tests (Hypothesis) for the pyramid math and the image, mask and config loaders."""

from __future__ import annotations

import copy
import dataclasses
import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

import singan
from singan import budget, images
from singan.config import PRESETS, SinGANConfig
from singan.errors import ConfigError, InputError, RunError, SinGANError
from singan.pyramid import build_pyramid, geometry
from singan.resize import out_size

FAST = settings(deadline=None, max_examples=150, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)


# --- pyramid ----------------------------------------------------------------------------------


@FAST
@given(h=st.integers(1, 10**6), w=st.integers(1, 10**6), min_size=st.integers(8, 64),
       max_size=st.integers(8, 4096), sf=st.floats(0.5, 0.95))
def test_geometry_sizes_are_consistent_and_monotone(h, w, min_size, max_size, sf):
    """From the minimum size up to the pixel limit: scales grow coarse to fine, the coarsest
    short side is min_size (ceil rounding may add 1), the finest is the clamped image."""
    assume(max_size >= min_size and h * w <= budget.MAX_PIXELS)
    clamp = min(max_size / max(h, w), 1.0)
    clamped = (out_size(h, clamp), out_size(w, clamp))
    try:
        geo = geometry(h, w, min_size=min_size, max_size=max_size, scale_factor_init=sf)
    except InputError:
        assert min(clamped) < min_size
        return
    s = geo.sizes
    assert len(s) >= 2 and s[-1] == clamped
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(s, s[1:]))
    assert min(s[0]) in (min_size, min_size + 1)
    assert max(s[-1]) <= max_size + 1 and 0 < geo.scale_factor <= 1
    # Neighbouring scales differ by the factor, up to the rounding of one pixel.
    for (h0, w0), (h1, w1) in zip(s, s[1:]):
        assert abs(h0 - h1 * geo.scale_factor) <= 1 + 1e-9 * h1


@FAST
@given(h=st.integers(-10, 10**15), w=st.integers(-10, 10**15),
       min_size=st.integers(-5, 10**6), max_size=st.integers(-5, 10**6),
       sf=st.floats(allow_nan=True, allow_infinity=True))
def test_geometry_raises_only_our_errors(h, w, min_size, max_size, sf):
    try:
        geometry(h, w, min_size=min_size, max_size=max_size, scale_factor_init=sf)
    except InputError:
        pass
    except ConfigError:
        assert not (1 <= min_size <= max_size and 0 < sf < 1)


@settings(FAST, max_examples=30)
@given(h=st.integers(16, 48), w=st.integers(16, 48))
def test_pyramid_levels_have_the_geometry_sizes(h, w):
    geo = geometry(h, w, min_size=12, max_size=40, scale_factor_init=0.75)
    levels = build_pyramid(torch.zeros(1, 3, h, w), geo)
    assert [tuple(x.shape[-2:]) for x in levels] == list(geo.sizes)


# --- config -----------------------------------------------------------------------------------

FIELDS = [f.name for f in dataclasses.fields(SinGANConfig)]


@FAST
@given(st.dictionaries(st.sampled_from(FIELDS + ["unknown"]), JSON, max_size=6))
def test_config_from_dict_checks_every_value(data):
    """Any JSON for the config gives a valid config that round-trips, or a ConfigError."""
    try:
        config = SinGANConfig.from_dict(data)
    except ConfigError:
        return
    assert SinGANConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert config.validated() is config


def _valid_info() -> dict:
    return {"format_version": singan.run.FORMAT_VERSION, "singan_version": "0.1.0",
            "config": PRESETS["tiny"].to_dict(), "sizes": [[20, 26], [48, 64]],
            "scale_factor": 0.5, "seed": 0, "preset": "tiny",
            "image": {"source": "x.png", "height": 48, "width": 64}}


@FAST
@given(where=st.sampled_from(["top", "config"]), key=st.text(max_size=12) | st.sampled_from(
    FIELDS + list(_valid_info())), value=JSON)
def test_run_info_checks_every_field(where, key, value):
    """config.json with any one field replaced by any JSON value: valid or a RunError."""
    info = copy.deepcopy(_valid_info())
    (info if where == "top" else info["config"])[key] = value
    try:
        checked = singan.run.check_run_info(info, "config.json")
    except RunError as e:
        assert str(e).startswith("config.json: ")
        return
    assert isinstance(checked["config"], SinGANConfig)
    assert all(isinstance(v, int) for s in checked["sizes"] for v in s)


# --- images and masks -------------------------------------------------------------------------


@FAST
@given(h=st.integers(8, 40), w=st.integers(8, 40), fmt=st.sampled_from(["PNG", "BMP", "TIFF"]),
       seed=st.integers(0, 2**16))
def test_lossless_images_load_exactly(tmp_path, h, w, fmt, seed):
    a = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    path = tmp_path / f"x.{fmt.lower()}"
    Image.fromarray(a).save(path, fmt)
    assert np.array_equal(np.asarray(images.read_image(path)), a)
    x = images.load_image(path)
    assert x.shape == (1, 3, h, w) and x.min() >= -1 and x.max() <= 1


@FAST
@given(h=st.integers(8, 40), w=st.integers(8, 40), seed=st.integers(0, 2**16),
       mode=st.sampled_from(["1", "L", "I;16", "RGB", "RGBA", "LA", "P"]))
def test_masks_select_the_same_pixels_in_every_format(tmp_path, h, w, seed, mode):
    sel = np.random.default_rng(seed).random((h, w)) < 0.5
    assume(sel.any())
    a = sel.astype(np.uint8) * 255
    if mode == "RGBA":
        im = Image.fromarray(np.dstack([np.full((h, w, 3), 90, np.uint8), a]), "RGBA")
    elif mode == "LA":
        im = Image.fromarray(np.dstack([np.full((h, w), 200, np.uint8), a]), "LA")
    elif mode == "I;16":
        im = Image.fromarray(a.astype(np.uint16) * 257)
    else:
        im = Image.fromarray(a).convert(mode)
    im.save(tmp_path / "m.png")
    mask = images.read_mask(tmp_path / "m.png")
    assert mask.shape == (1, 1, h, w) and mask.dtype == torch.float32
    assert np.array_equal(mask[0, 0].numpy() > 0.5, sel)
    resized = images.read_mask(tmp_path / "m.png", (2 * h, 3 * w))
    assert resized.shape == (1, 1, 2 * h, 3 * w) and 0 <= resized.min() <= resized.max() <= 1


@FAST
@given(data=st.binary(max_size=300))
def test_any_bytes_as_an_image_give_only_input_errors(tmp_path, data):
    path = tmp_path / "x.png"
    path.write_bytes(data)
    for load in (images.read_image, images.read_mask):
        try:
            load(path)
        except InputError as e:
            assert str(path) in str(e)
        except SinGANError:
            pytest.fail("image loaders raise InputError only")

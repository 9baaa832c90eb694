import math

import pytest
import torch

from singan.errors import InputError
from singan.pyramid import build_pyramid, geometry


def test_worked_example_186x248():
    geo = geometry(186, 248)
    assert geo.num_scales == 9
    assert geo.scale_factor == pytest.approx(0.77813, abs=5e-6)
    assert geo.sizes == ((25, 34), (33, 43), (42, 56), (54, 71), (69, 91), (88, 117),
                         (113, 151), (145, 193), (186, 248))


@pytest.mark.parametrize("h,w", [(750, 1000), (480, 640)])
def test_clamped_to_188x250(h, w):
    geo = geometry(h, w)
    assert geo.sizes[-1] == (188, 250)
    assert geo.num_scales == 9
    assert geo.scale_factor == pytest.approx(0.77709, abs=5e-6)


def test_250x250_has_eleven_scales():
    geo = geometry(250, 250)
    assert geo.num_scales == 11
    assert geo.scale_factor == pytest.approx(0.79433, abs=5e-6)


def test_1024x2048():
    geo = geometry(1024, 2048)
    assert geo.sizes[-1] == (125, 250)
    assert geo.num_scales == 7
    assert geo.scale_factor == pytest.approx(0.76472, abs=5e-6)
    assert geo.sizes[0] == (26, 51)  # ceil of a product a hair above 25 x 50, as the original


def test_degenerate_short_side_equal_to_min_size():
    geo = geometry(25, 40)
    assert geo.num_scales == 2 and geo.scale_factor == 1.0
    assert geo.sizes == ((25, 40), (25, 40))


def test_never_upscales_and_coarsest_short_side_is_min_size():
    for h, w in [(100, 120), (60, 200), (249, 250), (300, 90)]:
        geo = geometry(h, w)
        assert max(geo.sizes[-1]) <= max(h, w) and max(geo.sizes[-1]) <= 250
        assert min(geo.sizes[0]) in (25, 26)
        for a, b in zip(geo.sizes, geo.sizes[1:]):
            assert a[0] <= b[0] and a[1] <= b[1]


def test_too_small_image_is_refused():
    with pytest.raises(InputError, match="too small"):
        geometry(20, 30)
    with pytest.raises(InputError, match="too small"):
        geometry(60, 2000)  # 8 x 250 after the clamp


def test_ceil_sizes_convention():
    geo = geometry(186, 248)
    top = geo.num_scales - 1
    for k, (h, w) in enumerate(geo.sizes):
        assert h == math.ceil(186 * geo.scale_factor ** (top - k))
        assert w == math.ceil(248 * geo.scale_factor ** (top - k))


def test_build_pyramid_shapes_and_range():
    img = torch.rand(1, 3, 60, 80) * 2 - 1
    geo = geometry(60, 80, min_size=20)
    reals = build_pyramid(img, geo)
    assert [tuple(r.shape[-2:]) for r in reals] == list(geo.sizes)
    assert torch.equal(reals[-1], img)  # finest level is the image itself (no clamp needed)
    assert all(r.min() >= -1 and r.max() <= 1 for r in reals)

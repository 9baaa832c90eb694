"""The torch resampler against an independent per-pixel NumPy implementation of MATLAB imresize."""

import math

import numpy as np
import pytest
import torch

from singan.resize import resize, upsample_to


def keys(t: float) -> float:
    t = abs(t)
    if t <= 1:
        return 1.5 * t ** 3 - 2.5 * t ** 2 + 1
    if t <= 2:
        return -0.5 * t ** 3 + 2.5 * t ** 2 - 4 * t + 2
    return 0.0


def mirror(j: int, n: int) -> int:
    while j < 0 or j >= n:
        j = -j - 1 if j < 0 else 2 * n - 1 - j
    return j


def ref_axis(a: np.ndarray, out_len: int, scale: float) -> np.ndarray:
    """Resize axis 0 of `a`, one output sample at a time."""
    n = a.shape[0]
    out = np.zeros((out_len,) + a.shape[1:])
    for i in range(out_len):
        centre = (i + 1) / scale + 0.5 * (1 - 1 / scale)  # 1-based input coordinate
        half = 2 / scale if scale < 1 else 2
        taps = range(math.floor(centre - half) - 1, math.ceil(centre + half) + 2)
        ws = []
        for j in taps:
            d = centre - j
            ws.append(scale * keys(scale * d) if scale < 1 else keys(d))
        total = sum(ws)
        for j, wgt in zip(taps, ws):
            out[i] += wgt / total * a[mirror(j - 1, n)]
    return out


def ref_resize(img: np.ndarray, sh: float, sw: float, oh: int, ow: int) -> np.ndarray:
    x = ref_axis(img, oh, sh)  # (H', W, C)
    x = ref_axis(np.swapaxes(x, 0, 1), ow, sw)
    return np.clip(np.swapaxes(x, 0, 1), -1, 1)


@pytest.mark.parametrize("h,w,scale", [(31, 40, 0.77813), (25, 34, 1 / 0.77813), (20, 17, 0.5),
                                       (12, 16, 1.7), (40, 30, 0.3), (9, 11, 1.0)])
def test_matches_reference(h, w, scale):
    rng = np.random.default_rng(0)
    img = rng.uniform(-1, 1, (h, w, 3))
    t = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    out = resize(t, scale)
    oh, ow = math.ceil(h * scale), math.ceil(w * scale)
    assert out.shape[-2:] == (oh, ow)
    ref = ref_resize(img, scale, scale, oh, ow)
    err = np.abs(out[0].permute(1, 2, 0).double().numpy() - ref).max()
    assert err <= 1e-4


def test_matches_reference_to_shape():
    rng = np.random.default_rng(1)
    img = rng.uniform(-1, 1, (23, 37, 3))
    t = torch.from_numpy(img).permute(2, 0, 1)[None].float()
    out = resize(t, size=(30, 20))
    ref = ref_resize(img, 30 / 23, 20 / 37, 30, 20)
    assert np.abs(out[0].permute(1, 2, 0).double().numpy() - ref).max() <= 1e-4


def test_constant_image_stays_constant():
    t = torch.full((2, 3, 17, 23), 0.25)
    for s in (0.3, 0.77, 1.3, 2.0):
        assert torch.allclose(resize(t, s), torch.full_like(resize(t, s), 0.25), atol=1e-6)


def test_ceil_output_size_convention():
    t = torch.zeros(1, 3, 25, 34)
    assert resize(t, 1 / 0.77813).shape[-2:] == (33, 44)  # ceil(32.13), ceil(43.69)


def test_batched_and_on_device(device):
    t = torch.rand(4, 3, 20, 30, device=device) * 2 - 1
    out = resize(t, 0.6)
    assert out.device.type == device.type
    for i in range(4):
        assert torch.allclose(out[i:i + 1], resize(t[i:i + 1], 0.6), atol=1e-6)


def test_clamps_and_quantize_option():
    t = torch.linspace(-1.5, 1.5, 3 * 10 * 12).reshape(1, 3, 10, 12)
    out = resize(t, 1.5)
    assert out.min() >= -1 and out.max() <= 1
    q = resize(t, 1.0, quantize=True)
    levels = (q + 1) / 2 * 255
    assert torch.allclose(levels, levels.round(), atol=1e-4)


def test_upsample_to_crops_top_left():
    t = torch.rand(1, 3, 25, 34) * 2 - 1
    full = resize(t, 1 / 0.77813)
    out = upsample_to(t, (33, 43), 0.77813)
    assert torch.equal(out, full[..., :33, :43])
    out = upsample_to(t, (40, 50), 0.77813)  # larger than the ceil size: resize to shape
    assert out.shape[-2:] == (40, 50)


def test_differentiable():
    t = (torch.rand(1, 3, 10, 10) * 0.5).requires_grad_(True)
    resize(t, 1.4).sum().backward()
    assert t.grad is not None and torch.isfinite(t.grad).all()

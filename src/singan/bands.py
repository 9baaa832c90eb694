"""Windows through bicubic resampling: the band of the input that a window of the output needs,
and the resampling of that band alone.

`F.interpolate(mode="bicubic", align_corners=True)` is linear and separable: along one axis it is
a matrix A (n_out x n_in) with at most four non-zero entries per row. Output rows [a, a + m)
therefore depend only on a band of input rows [p, p + L), and A[a:a+m, p:p+L] @ x[p:p+L] gives
exactly those rows. An `Axis` holds, for one axis of one resampling step, the matrices (taken
from `F.interpolate` itself, applied to the identity, so that the band's arithmetic is the same
map), the band length L that fits every window of m outputs and the band start for every window
start: a lookup table, so that window corners can stay tensors on the device (no host sync, and
CUDA graphs can replay it).

Several resamplings of the same input can share one band (ConSinGAN's stage needs its coarser
features at two sizes): an `Axis` takes a list of (matrix, output offset, output count) and its
band covers all of them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F


def bicubic_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) float64 matrix of bicubic resampling with aligned corners along one axis."""
    eye = torch.eye(n_in, dtype=torch.float64).reshape(n_in, 1, n_in, 1)
    out = F.interpolate(eye, size=(n_out, 1), mode="bicubic", align_corners=True)
    return out[:, 0, :, 0].T.contiguous()


@functools.lru_cache(maxsize=256)
def _matrix(n_in: int, n_out: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    return bicubic_matrix(n_in, n_out).to(device=device, dtype=dtype)


def upsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """x (B, C, h, w) resampled to `size` like `F.interpolate(x, size, mode="bicubic",
    align_corners=True)`, as two matrix products (`resample`).

    The same map up to rounding, and much faster: PyTorch's CPU bicubic kernel, its backward
    above all, is scalar code, while the products are GEMMs (about 5x less time for ConSinGAN's
    features, forward and backward).
    """
    (h, w), (oh, ow) = x.shape[-2:], size
    return resample(x, _matrix(h, oh, x.device, x.dtype), _matrix(w, ow, x.device, x.dtype))


def resample(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """rows @ x @ cols.T for x (B, C, h, w), rows (H, h) and cols (W, w): (B, C, H, W), in the
    memory layout of x (a band of x and blocks of the matrices for a window, `Axis.block`). A
    channels-last x is resampled as (B, h, w, C), without a copy."""
    rows, cols = rows.to(x.dtype), cols.to(x.dtype)
    if _nhwc(x):
        b, c, h, w = x.shape
        y = torch.matmul(cols, x.permute(0, 2, 3, 1))  # (B, h, W, C)
        y = torch.matmul(rows, y.reshape(b, h, -1))  # (B, H, W * C)
        return y.reshape(b, rows.shape[0], cols.shape[0], c).permute(0, 3, 1, 2)
    (h, w), (oh, ow) = x.shape[-2:], (rows.shape[0], cols.shape[0])
    if oh * h * w + oh * w * ow <= h * w * ow + oh * h * ow:  # the cheaper order
        return torch.matmul(torch.matmul(rows, x), cols.T)
    return torch.matmul(rows, torch.matmul(x, cols.T))


@dataclass(frozen=True)
class Use:
    """One resampling of the band's input: rows [a + offset, a + offset + count) of `matrix`
    for a window that starts at a."""

    matrix: torch.Tensor  # (n_out, n_in)
    offset: int
    count: int


class Axis:
    """The band of an input axis of length `n_in` that windows of `span` positions need.

    `uses` are the resamplings of that input a window needs; a window starts anywhere in
    [0, span_max] (`starts`: how many window starts there are). `length` is the band's length,
    `start[a]` its first row for a window starting at a (a long tensor), and the band is clamped
    into the input, so that every band has the same length.
    """

    def __init__(self, n_in: int, uses: list[Use], starts: int):
        self.n_in, self.uses = n_in, uses
        lo = np.full(starts, n_in, dtype=np.int64)
        hi = np.full(starts, -1, dtype=np.int64)
        for u in uses:
            nz = u.matrix.abs().numpy() > 0  # (n_out, n_in)
            first = np.where(nz.any(1), nz.argmax(1), n_in)
            last = np.where(nz.any(1), n_in - 1 - nz[:, ::-1].argmax(1), -1)
            for a in range(starts):
                rows = slice(a + u.offset, a + u.offset + u.count)
                lo[a] = min(lo[a], first[rows].min())
                hi[a] = max(hi[a], last[rows].max())
        self.length = int(min(n_in, (hi - lo).max() + 1))
        self.start = torch.from_numpy(np.clip(lo, 0, n_in - self.length))

    @property
    def full(self) -> bool:
        """Whether every band is the whole axis (the input is needed in full)."""
        return self.length == self.n_in

    def to(self, device: torch.device, dtype: torch.dtype) -> Axis:
        self.uses = [Use(u.matrix.to(device=device, dtype=dtype), u.offset, u.count)
                     for u in self.uses]
        self.start = self.start.to(device)
        return self

    def block(self, use: int, a: torch.Tensor | int, p: torch.Tensor | int) -> torch.Tensor:
        """The (count, length) block of resampling `use` for a window at a and its band at p."""
        u = self.uses[use]
        rows, cols = a + u.offset, p
        if isinstance(rows, int) and isinstance(cols, int):
            return u.matrix[rows:rows + u.count, cols:cols + self.length]
        arange = torch.arange
        dev = u.matrix.device
        return u.matrix.index_select(0, rows + arange(u.count, device=dev)) \
            .index_select(1, cols + arange(self.length, device=dev))


def crop_window(x: torch.Tensor, top: torch.Tensor | int, left: torch.Tensor | int, h: int,
                w: int) -> torch.Tensor:
    """The (h, w) window of x at (top, left); corners may be 0-dim tensors (no host sync)."""
    if (h, w) == tuple(x.shape[-2:]):  # the whole of x: the corner can only be (0, 0)
        return x
    if isinstance(top, int) and isinstance(left, int):
        return x[..., top:top + h, left:left + w]
    rows = top + torch.arange(h, device=x.device)
    cols = left + torch.arange(w, device=x.device)
    if _nhwc(x):  # select on the (B, H, W, C) view, so that the window stays channels-last
        nhwc = x.permute(0, 2, 3, 1)
        return nhwc.index_select(1, rows).index_select(2, cols).permute(0, 3, 1, 2)
    return x.index_select(-2, rows).index_select(-1, cols)


def _nhwc(x: torch.Tensor) -> bool:
    """Whether x is a 4-D tensor laid out channels-last (and not also plain contiguous)."""
    return x.dim() == 4 and not x.is_contiguous() and \
        x.is_contiguous(memory_format=torch.channels_last)

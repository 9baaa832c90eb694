"""Single Image Fréchet Inception Distance (SIFID; SinGAN paper, spec section 7.1).

Convention: images are (B, 3, H, W) tensors in [-1, 1], like everywhere in the package. Each
spatial position of the chosen Inception layer is one sample; the statistics are the mean and the
unbiased covariance over positions, in float64; the distance is the Fréchet distance between the
real image's and each sample's statistics. No resizing: real and samples may differ in size.
"""

from __future__ import annotations

import torch

from ..errors import InputError
from .inception import InceptionStem

EPS = 1e-6  # added to both covariances' diagonals when the first attempt is not finite


def feature_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(C, h, w) features -> mean (C,) and unbiased covariance (C, C), float64."""
    f = features.flatten(1).double()  # (C, N): one column per position
    if f.shape[1] < 2:
        raise InputError("image too small for SIFID: the feature map has fewer than 2 positions")
    return f.mean(dim=1), torch.cov(f)


def _trace_sqrt_product(s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
    """Tr(sqrtm(s1 @ s2)) for symmetric positive semi-definite s1, s2.

    s1 @ s2 is similar to r @ s2 @ r with r = sqrtm(s1), which is symmetric PSD: its eigenvalues
    are real and >= 0 (rounding errors clipped), so the result stays real.
    """
    w, v = torch.linalg.eigh(s1)
    r = (v * w.clamp(min=0).sqrt()) @ v.T
    m = r @ s2 @ r
    return torch.linalg.eigvalsh((m + m.T) / 2).clamp(min=0).sqrt().sum()


def frechet_distance(mu1: torch.Tensor, s1: torch.Tensor, mu2: torch.Tensor,
                     s2: torch.Tensor) -> float:
    """||mu1 - mu2||^2 + Tr(s1) + Tr(s2) - 2 Tr(sqrtm(s1 s2)), in float64, clamped at 0.

    If the eigendecomposition fails or gives a non-finite value, it is retried once with EPS
    added to both diagonals (as the original script does).
    """
    mu1, s1, mu2, s2 = (t.double() for t in (mu1, s1, mu2, s2))
    diff = ((mu1 - mu2) ** 2).sum()
    for eps in (0.0, EPS):
        eye = eps * torch.eye(s1.shape[0], dtype=s1.dtype, device=s1.device)
        try:
            tr = _trace_sqrt_product(s1 + eye, s2 + eye)
        except RuntimeError:  # eigh did not converge
            continue
        d = diff + torch.trace(s1) + torch.trace(s2) - 2 * tr
        if torch.isfinite(d):
            return max(float(d), 0.0)
    raise InputError("Fréchet distance is not finite (the features hold NaN or infinite values)")


@torch.no_grad()
def sifid(real: torch.Tensor, fakes: torch.Tensor, extractor: InceptionStem,
          layer: int = 64) -> list[float]:
    """SIFID of every image in `fakes` against `real`.

    Args:
        real: (1, 3, H, W) in [-1, 1].
        fakes: (B, 3, H', W') in [-1, 1], or a sequence of (3, H', W') images of any sizes.
        extractor: from `load_inception()`, on the device the images are moved to.
        layer: 64 (before the first max-pool, the original script) or 192 (before the second,
            the paper's text).

    Returns:
        B distances (floats).
    """
    device = next(extractor.parameters()).device
    ref = feature_stats(extractor(real.to(device, torch.float32), layer)[0])
    out = []
    for x in fakes:
        mu, cov = feature_stats(extractor(x[None].to(device, torch.float32), layer)[0])
        out.append(frechet_distance(*ref, mu, cov))
    return out

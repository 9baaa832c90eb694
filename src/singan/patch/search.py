"""Nearest-neighbour search of GPNN: for every query patch the key patch of least normalised
distance.

The score of key j for query i is D_ij / (alpha + min_l D_lj), with D the squared distance of
the patches (sum over the patch, pixel values in [0, 1]). Dividing by the key's own best
distance over all queries makes a key that some query already matches well costly for the
others, which pushes the output toward using every source patch (GPNN's "completeness"); a large
alpha turns it into plain nearest neighbours.

Two searches:
- `exact`: every query against every key, in chunks of queries so that the distance block never
  exceeds `memory` bytes (two passes when the whole matrix does not fit: the keys' minima first,
  then the scores). Its cost is queries x keys x patch size, hundreds of GFLOP for one 250-px
  level.
- `approximate`: a PatchMatch search (random candidates, propagation of the neighbours' matches
  and a shrinking random search around the current match, all in parallel) that keeps a field of
  matches from iteration to iteration and from level to level; its cost is queries x candidates
  x patch size. The keys' minima are taken over the pairs it evaluates.
"""

from __future__ import annotations

import math

import torch

from ..errors import InputError

# Distances use pixel values in [0, 1]: patches in [-1, 1] differ by twice as much.
_UNIT = 0.25


def _augmented(q: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Centred queries [q, |q|^2, 1] and keys [-2k, 1, |k|^2], so that qa @ ka.T = |q - k|^2."""
    mu = k.mean(0, keepdim=True)
    q, k = q - mu, k - mu
    one_q = torch.ones(q.shape[0], 1, device=q.device, dtype=q.dtype)
    one_k = torch.ones(k.shape[0], 1, device=k.device, dtype=k.dtype)
    qa = torch.cat([q, (q * q).sum(1, keepdim=True), one_q], 1)
    ka = torch.cat([-2 * k, one_k, (k * k).sum(1, keepdim=True)], 1)
    return qa, ka


def exact_rows(num_keys: int, memory: int) -> int:
    """Queries per block of the exact search within `memory` bytes (at least one)."""
    return max(1, int(memory // (4 * max(1, num_keys))))


def exact(q: torch.Tensor, k: torch.Tensor, alpha: float, *, memory: int = 256 * 2**20
          ) -> torch.Tensor:
    """Index of the best key for every query, (Q,) long; q (Q, D), k (K, D) patches in [-1, 1].

    The distance block of one step holds at most `memory` bytes of float32 (the patches
    themselves are the caller's).
    """
    if k.shape[0] == 0:
        raise InputError("no source patches to search")
    qa, ka = _augmented(q.float(), k.float())
    ka = ka * _UNIT
    rows = exact_rows(k.shape[0], memory)
    n = q.shape[0]
    if rows >= n:  # the whole matrix fits: one product
        d = (qa @ ka.t()).clamp_min_(0)
        d /= alpha + d.amin(0, keepdim=True)
        return d.argmin(1)
    key_min = torch.full((k.shape[0],), math.inf, device=q.device)
    for i in range(0, n, rows):
        d = qa[i:i + rows] @ ka.t()
        key_min = torch.minimum(key_min, d.amin(0).clamp_min_(0))
    weighted = ka / (alpha + key_min)[:, None]
    out = torch.empty(n, dtype=torch.long, device=q.device)
    for i in range(0, n, rows):
        out[i:i + rows] = (qa[i:i + rows] @ weighted.t()).argmin(1)
    return out


class Field:
    """A field of matches: for every query (on a grid hq x wq) a key (on a grid hk x wk)."""

    def __init__(self, index: torch.Tensor, qgrid: tuple[int, int], kgrid: tuple[int, int]):
        self.index, self.qgrid, self.kgrid = index, qgrid, kgrid

    def resized(self, qgrid: tuple[int, int], kgrid: tuple[int, int]) -> Field:
        """The field carried to another level: each query takes the match of the query at the
        same relative place, moved to the same relative place of the new key grid."""
        (hq0, wq0), (hk0, wk0) = self.qgrid, self.kgrid
        (hq, wq), (hk, wk) = qgrid, kgrid
        dev = self.index.device
        ys = ((torch.arange(hq, device=dev) + 0.5) * hq0 / hq).long().clamp_(0, hq0 - 1)
        xs = ((torch.arange(wq, device=dev) + 0.5) * wq0 / wq).long().clamp_(0, wq0 - 1)
        old = self.index.view(hq0, wq0)[ys][:, xs]
        ky = ((old // wk0 + 0.5) * hk / hk0).long().clamp_(0, hk - 1)
        kx = ((old % wk0 + 0.5) * wk / wk0).long().clamp_(0, wk - 1)
        return Field((ky * wk + kx).flatten(), qgrid, kgrid)


def _candidates(field: Field, step: int, generator: torch.Generator, randoms: int,
                allowed: torch.Tensor | None) -> torch.Tensor:
    """(Q, C) key indices to try: the current match, the matches of two neighbours 1 px away
    and of two 2, 4, 8 or 16 px away (by `step`) shifted by their offset (left and above on even
    steps, right and below on odd ones: a coherent match spreads by doubling distances),
    `randoms` keys at a log-uniform distance (1 px to the key grid's size) from the current
    match, and one key anywhere (among `allowed` when given)."""
    hq, wq = field.qgrid
    hk, wk = field.kgrid
    idx = field.index.view(hq, wq)
    ky, kx = idx // wk, idx % wk
    out = [idx]
    sign = 1 if step % 2 == 0 else -1
    far_jump = 2 ** (1 + (step // 2) % 4)
    for dy, dx in ((sign, 0), (0, sign), (sign * far_jump, 0), (0, sign * far_jump)):
        # the neighbour at (y - dy, x - dx) matched (ky', kx'): try (ky' + dy, kx' + dx)
        ny = torch.roll(ky, dy, 0) + dy
        nx = torch.roll(kx, dx, 1) + dx
        out.append(ny.clamp(0, hk - 1) * wk + nx.clamp(0, wk - 1))
    dev = idx.device
    far = math.log(max(2, hk, wk))
    for _ in range(randoms):
        r = torch.exp(torch.rand(hq, wq, generator=generator, device=dev) * far)
        oy = ((torch.rand(hq, wq, generator=generator, device=dev) * 2 - 1) * r).round().long()
        ox = ((torch.rand(hq, wq, generator=generator, device=dev) * 2 - 1) * r).round().long()
        out.append((ky + oy).clamp(0, hk - 1) * wk + (kx + ox).clamp(0, wk - 1))
    n = hk * wk if allowed is None else allowed.numel()
    anywhere = torch.randint(0, n, (hq, wq), generator=generator, device=dev)
    out.append(anywhere if allowed is None else allowed[anywhere])
    return torch.stack([c.flatten() for c in out], 1)


def _distances(qp: torch.Tensor, qn: torch.Tensor, kp: torch.Tensor, kn: torch.Tensor,
               cand: torch.Tensor, rows: int) -> torch.Tensor:
    """Approximate |q_i - k_cand[i, c]|^2 in [0, 1] units, (Q, C), in blocks of `rows` queries:
    the exact norms and the inner product of the principal components."""
    out = torch.empty(cand.shape, device=qp.device)
    for i in range(0, qp.shape[0], rows):
        c = cand[i:i + rows]
        dot = torch.bmm(kp[c], qp[i:i + rows, :, None])[..., 0]
        out[i:i + rows] = (qn[i:i + rows, None] + kn[c] - 2 * dot).clamp_min_(0) * _UNIT
    return out


def principal(k: torch.Tensor, energy: float) -> torch.Tensor:
    """(D, d) the fewest principal directions of the (centred) keys that keep `energy` of their
    variance."""
    cov = k.t() @ k / max(1, k.shape[0])
    values, vectors = torch.linalg.eigh(cov.double())
    values, vectors = values.flip(0).clamp_min(0), vectors.flip(1)
    share = values.cumsum(0) / values.sum().clamp_min(1e-12)
    d = int((share < energy).sum()) + 1
    return vectors[:, :min(d, k.shape[1])].to(k.dtype)


class Keys:
    """The keys of one level prepared for `approximate`: centred, their norms, and their
    principal components that keep `energy` of their variance (the keys are blurred patches: a
    few dozen of the 147 dimensions carry nearly all of it)."""

    def __init__(self, k: torch.Tensor, energy: float = 0.995):
        self.count = k.shape[0]
        self.mean = k.mean(0, keepdim=True)
        k = (k - self.mean).float()
        self.norms = (k * k).sum(1)
        self.basis = principal(k, energy)
        self.projected = k @ self.basis


def approximate(q: torch.Tensor, keys: Keys, alpha: float, field: Field | None,
                qgrid: tuple[int, int], kgrid: tuple[int, int], *, generator: torch.Generator,
                valid: torch.Tensor | None = None, rounds: int = 2, randoms: int = 2,
                memory: int = 256 * 2**20) -> Field:
    """A PatchMatch search of the best key for every query, starting from `field` (or random
    matches). `valid` (K,) bool marks the keys that may be used (a mask's outside). Distances
    are the exact norms with the inner product of the keys' principal components."""
    dev = q.device
    nk = keys.count
    allowed = None
    if valid is not None:
        allowed = valid.nonzero().flatten()
        if allowed.numel() == 0:
            raise InputError("no source patches to search")
    if field is None:
        pick = torch.randint(0, nk if valid is None else allowed.numel(), (q.shape[0],),
                             generator=generator, device=dev)
        field = Field(pick if valid is None else allowed[pick], qgrid, kgrid)
    q = (q - keys.mean).float()
    qn, qp = (q * q).sum(1), q @ keys.basis
    cols = 6 + randoms
    rows = max(1, int(memory // (8 * cols * keys.basis.shape[1])))
    key_min = torch.full((nk,), math.inf, device=dev)
    for step in range(rounds):
        cand = _candidates(field, step, generator, randoms, allowed)
        d = _distances(qp, qn, keys.projected, keys.norms, cand, rows)
        key_min.scatter_reduce_(0, cand.flatten(), d.flatten(), "amin")
        score = d / (alpha + key_min[cand])
        if valid is not None:
            score = torch.where(valid[cand], score, torch.full_like(score, math.inf))
        field = Field(cand.gather(1, score.argmin(1, keepdim=True)).flatten(), qgrid, kgrid)
    return field

"""ConSinGAN (Hinz et al., WACV 2021): one generator that grows a body per stage, trained a few
stages at a time (../shared/docs/consingan-facts.md has every number).

Convention: stage 0 is the coarsest (as SinGAN's scales here). The generator works on 64-channel
features, not images:

    features = head(pad1(z_0))                              z_0: (B, 3, h0, w0)
    features = body_0(pad2(upsample(features, h0 + 2, w0 + 2)))
    for stage k >= 1:                                       z_k: (B, 64, h_k + 6, w_k + 6)
        features = body_k(upsample(features, h_k + 6, w_k + 6) + amp_k z_k)
                   + upsample(features, h_k, w_k)
    image = tanh(tail(pad1(features)))

with bodies of `num_layers` unpadded 3x3 conv blocks (6 px smaller for 3), a shared head and
tail, LeakyReLU 0.05, no normalisation and bicubic up-sampling with aligned corners between
stages. z_0 is fresh noise for a sample and the real coarsest image for the reconstruction; the
reconstruction's z_k (k >= 1) are fixed random maps drawn when stage k starts. In animation mode
the reconstruction's z_0 is a fixed noise map too.

Widths: every stage is `base_channels` wide (ConSinGAN: 64), or with `coarse_channels` the
`coarse_scales` coarsest stages are that wide (an extension, not ConSinGAN's). At a stage whose
width differs from the one below, the body is a `WidthChange`: a 1x1 convolution takes the
features to the new width before the up-sampling, and that stage and the ones above it have
their own tail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .bands import Axis, Use, bicubic_matrix, crop_window, resample, upsample
from .config import SinGANConfig
from .errors import ConfigError
from .models import ConvBlock, Discriminator
from .resize import resize


class ConSinGAN(nn.Module):
    """A trained (or partly trained) ConSinGAN.

    Attributes:
        config: the model's configuration (`arch="consingan"`).
        sizes: (H, W) of every stage, coarsest first.
        scale_factor: the factor r of ConSinGAN's rescaling (`pyramid.consingan_scales`).
        head, tail: shared by every stage; bodies: one per trained stage.
        noise_amp: (num_trained,) noise amplitude per stage (1 at stage 0).
        z_rec_k: the reconstruction's input of stage k (see the module docstring).
        reals: the training image at every stage, each (1, 3, H, W) in [-1, 1].
    """

    family = "consingan"

    def __init__(self, config: SinGANConfig, sizes: list[tuple[int, int]], scale_factor: float):
        super().__init__()
        if config.kernel_size != 3:
            raise ConfigError("arch consingan has 3x3 convolutions: kernel_size must be 3")
        self.config = config
        self.sizes = [tuple(int(v) for v in s) for s in sizes]
        self.scale_factor = float(scale_factor)
        c = config
        self.widths = [c.channels(k) for k in range(len(self.sizes))]
        self.width = self.widths[0]
        self.head = ConvBlock(3, self.width, 3, "none", c.leaky_slope)
        self.bodies = nn.ModuleList()
        self.tail = new_tail(self.width)
        # the tails of the stages from each width change on (none at ConSinGAN's one width)
        self.changes = [k for k in range(1, len(self.sizes))
                        if self.widths[k] != self.widths[k - 1]]
        self.tails = nn.ModuleDict({str(k): new_tail(self.widths[k]) for k in self.changes})
        self.register_buffer("noise_amp", torch.zeros(0))
        for k, (h, w) in enumerate(self.sizes):
            self.register_buffer(f"z_rec_{k}", torch.zeros(1, *self.noise_shape(k)))
            self.register_buffer(f"real_{k}", torch.zeros(1, 3, h, w))
        self._plans: dict[tuple, WindowPlan] = {}

    # --- structure -------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        return self.noise_amp.device

    @property
    def num_scales(self) -> int:
        return len(self.sizes)

    @property
    def num_trained(self) -> int:
        return len(self.bodies)

    @property
    def is_complete(self) -> bool:
        return self.num_trained == self.num_scales

    @property
    def shrink(self) -> int:
        """How much smaller a body's output is than its input, per side pair (6 for 3 blocks)."""
        return 2 * self.config.num_layers

    @property
    def reals(self) -> list[torch.Tensor]:
        return [getattr(self, f"real_{k}") for k in range(self.num_scales)]

    def set_reals(self, reals: list[torch.Tensor]) -> None:
        for k, r in enumerate(reals):
            getattr(self, f"real_{k}").copy_(r)
        if self.config.mode != "animation":  # the reconstruction starts from the image itself
            self.z_rec_0.copy_(reals[0])

    def noise_shape(self, stage: int, size: tuple[int, int] | None = None) -> tuple[int, int, int]:
        """(channels, h, w) of a stage's noise for an image of `size` (default: training)."""
        h, w = size or self.sizes[stage]
        return (3, h, w) if stage == 0 else \
            (self.widths[stage], h + self.shrink, w + self.shrink)

    def new_body(self, stage: int | None = None) -> nn.Module:
        """A fresh body for `stage` (default: the next one to train): `num_layers` conv
        blocks, behind a 1x1 convolution where the width changes (`WidthChange`)."""
        c = self.config
        stage = self.num_trained if stage is None else stage
        width = self.widths[stage]
        blocks = nn.Sequential(*[ConvBlock(width, width, 3, "none", c.leaky_slope)
                                 for _ in range(c.num_layers)])
        if stage in self.changes:
            return WidthChange(self.widths[stage - 1], width, blocks)
        return blocks

    def tail_for(self, stage: int) -> nn.Module:
        """The tail that makes stage `stage`'s image (the shared one below any width change)."""
        last = max((k for k in self.changes if k <= stage), default=0)
        return self.tails[str(last)] if last else self.tail

    def new_discriminator(self, stage: int) -> Discriminator:
        """A stage's patch critic: a head block, `num_layers` body blocks and a conv to one
        score (5 convolutions and an 11-px receptive field for 3), as wide as the stage."""
        c = self.config
        return Discriminator(self.widths[stage], c.num_layers + 2, 3, "none", c.leaky_slope)

    def add_stage(self, body: nn.Module, noise_amp: float | torch.Tensor) -> None:
        """Append a trained body and its noise amplitude."""
        self.bodies.append(body)
        amp = torch.as_tensor(noise_amp, dtype=self.noise_amp.dtype,
                              device=self.noise_amp.device).reshape(1)
        self.noise_amp = torch.cat([self.noise_amp, amp])

    def drop_last(self) -> None:
        """Remove the last trained stage (one saved without its training state)."""
        del self.bodies[-1]
        self.noise_amp = self.noise_amp[:-1].clone()

    def grow_to(self, num_trained: int) -> None:
        """Add fresh bodies until `num_trained` exist (used before loading weights)."""
        while self.num_trained < num_trained:
            self.add_stage(self.new_body(), 0.0)

    # --- noise -------------------------------------------------------------------------------

    def draw_noise(self, stage: int, batch: int, size: tuple[int, int] | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """Fresh N(0, 1) noise of a stage: 3 channels at stage 0, feature noise above."""
        return torch.randn(batch, *self.noise_shape(stage, size), generator=generator,
                           device=self.device, dtype=self.noise_amp.dtype)

    def rec_noise(self, stage: int, batch: int = 1) -> torch.Tensor:
        """The reconstruction's input of a stage (z_0: the real coarsest image)."""
        return getattr(self, f"z_rec_{stage}").expand(batch, -1, -1, -1)

    # --- the generator -----------------------------------------------------------------------

    @staticmethod
    def upsample(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Features to another size: bicubic with aligned corners (ConSinGAN's up-sampling), as
        matrix products (`bands.upsample`)."""
        return upsample(x, tuple(size))

    def features(self, z0: torch.Tensor, noise: Mapping[int, torch.Tensor], stop: int, *,
                 sizes: Sequence[tuple[int, int]] | None = None,
                 bodies: Mapping[int, nn.Module] | None = None,
                 amps: Mapping[int, torch.Tensor] | None = None,
                 head: nn.Module | None = None) -> torch.Tensor:
        """The features of stage stop-1 for a stage-0 input z0 and the noise of stages 1..stop-1.

        `sizes` are the stages' sizes (default: the training sizes); `bodies`, `amps` and `head`
        replace the model's own (the learning networks during training).
        """
        sizes = self.sizes if sizes is None else sizes
        bodies, amps = bodies or {}, amps or {}
        head = head or self.head
        pad = self.shrink // 2 - 1
        h, w = sizes[0]
        x = head(F.pad(z0, (1, 1, 1, 1)))
        x = F.pad(self.upsample(x, (h + 2, w + 2)), (pad, pad, pad, pad))
        x = (bodies[0] if 0 in bodies else self.bodies[0])(x)
        for k in range(1, stop):
            h, w = sizes[k]
            body = bodies[k] if k in bodies else self.bodies[k]
            amp = amps[k] if k in amps else self.noise_amp[k]
            if isinstance(body, WidthChange):
                x = body.adapt(x)
            grown = self.upsample(x, (h + self.shrink, w + self.shrink)) + amp * noise[k]
            x = body(grown) + self.upsample(x, (h, w))
        return x

    def image(self, features: torch.Tensor, tail: nn.Module | None = None) -> torch.Tensor:
        """The image of some features (by default the shared tail of stage 0's width)."""
        return (tail or self.tail)(F.pad(features, (1, 1, 1, 1)))

    def run(self, z0: torch.Tensor, noise: Mapping[int, torch.Tensor], stop: int,
            **kw) -> torch.Tensor:
        """The image of stage stop-1 (see `features` for the arguments; `tail` replaces that
        stage's tail)."""
        tail = kw.pop("tail", None) or self.tail_for(stop - 1)
        return self.image(self.features(z0, noise, stop, **kw), tail)

    # --- training windows ----------------------------------------------------------------------

    def window_plan(self, stage: int, crop: tuple[int, int]) -> WindowPlan:
        """The plan of (crop) windows of stage `stage`'s image (built once, then kept)."""
        key = (stage, tuple(crop), self.device, self.noise_amp.dtype)
        if key not in self._plans:
            self._plans[key] = WindowPlan(self.sizes, stage, crop, self.shrink) \
                .to(self.device, self.noise_amp.dtype)
        return self._plans[key]

    def run_window(self, z0: torch.Tensor, noise: Mapping[int, torch.Tensor], stage: int,
                   corner: tuple, crop: tuple[int, int], **kw) -> torch.Tensor:
        """The (crop) window at `corner` (top, left; ints or 0-dim tensors) of stage `stage`'s
        image, computing each stage above the plan's `full` one only on the band its window
        needs: the same values as `run(...)` cropped there (up to rounding). `noise[k]` may be
        the whole stage's noise (it is cropped) or already the size of the window's
        (`WindowPlan.noise_size`); `bodies`, `amps`, `head` and `tail` as for `run`."""
        plan = self.window_plan(stage, crop)
        tail = kw.pop("tail", None) or self.tail_for(stage)
        bodies, amps = kw.get("bodies") or {}, kw.get("amps") or {}
        at = plan.positions(*corner)
        x = self.features(z0, noise, plan.full + 1, **kw)
        x = crop_window(x, *at[plan.full], *plan.win[plan.full])
        for k in range(plan.full + 1, stage + 1):
            rows, cols = plan.axes[k]
            (rh, rw), (ph, pw) = at[k], at[k - 1]
            body = bodies[k] if k in bodies else self.bodies[k]
            amp = amps[k] if k in amps else self.noise_amp[k]
            if isinstance(body, WidthChange):  # pointwise: it commutes with the windows
                x = body.adapt(x)
            grown = resample(x, rows.block(0, rh, ph), cols.block(0, rw, pw))
            skip = resample(x, rows.block(1, rh, ph), cols.block(1, rw, pw))
            x = body(grown + amp * plan.noise_window(k, noise[k], at[k])) + skip
        (h, w), oh, ow = crop, at["image"][0], at["image"][1]
        return tail(crop_window(F.pad(x, (1, 1, 1, 1)), oh, ow, h + 2, w + 2))

    @torch.no_grad()
    def reconstruct(self, upto: int) -> torch.Tensor:
        """The reconstruction of the training image by stages 0..upto-1, at the size of stage
        upto-1 (stage `upto` when it exists is not run: ConSinGAN has no image between stages,
        so this is the image of the last stage given)."""
        if upto == 0:
            return self.rec_noise(0)
        return self.run(self.rec_noise(0), {k: self.rec_noise(k) for k in range(1, upto)}, upto)

    def synthesize(self, batch: int, sizes: Sequence[tuple[int, int]], *, start_scale: int = 0,
                   start_image: torch.Tensor | None = None,
                   noise: Mapping[int, torch.Tensor] | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """`batch` images of the stages' `sizes` (sampling; see `sample.generate`).

        Below `start_scale` the stages replay the reconstruction (its inputs resized to other
        sizes); from it on, fresh noise (or `noise[k]`). `start_image` (at any size) is injected
        as the stage-0 input, and the stages below `start_scale` then get no noise.
        """
        stop = len(sizes)
        if start_image is not None:
            z0 = start_image.to(device=self.device, dtype=self.noise_amp.dtype)
            z0 = resize(z0, size=sizes[0]) if tuple(z0.shape[-2:]) != sizes[0] else z0
            z0 = z0.expand(batch, -1, -1, -1) if z0.shape[0] == 1 else z0
        elif start_scale > 0:
            z0 = self._rec_at(0, sizes[0], batch)
        elif noise is not None and 0 in noise:
            z0 = noise[0]
        else:
            z0 = self.draw_noise(0, batch, sizes[0], generator)
        zs = {}
        for k in range(1, stop):
            if k < start_scale:
                zs[k] = self._rec_at(k, sizes[k], batch) if start_image is None else \
                    torch.zeros(batch, *self.noise_shape(k, sizes[k]), device=self.device)
            elif noise is not None and k in noise:
                zs[k] = noise[k]
            else:
                zs[k] = self.draw_noise(k, batch, sizes[k], generator)
        return self.run(z0, zs, stop, sizes=sizes)

    def _rec_at(self, stage: int, size: tuple[int, int], batch: int) -> torch.Tensor:
        """The reconstruction's input of a stage, resized when the output has another size."""
        z = self.rec_noise(stage, batch)
        shape = self.noise_shape(stage, size)[1:]
        if tuple(z.shape[-2:]) == shape:
            return z
        if stage == 0:
            return resize(z, size=shape)
        return self.upsample(z, shape)

    def injection(self, image: torch.Tensor, start_scale: int) -> torch.Tensor:
        """What an application injects for `image` (at the training size): the image shrunk to
        the coarsest stage, ConSinGAN's way (`start_scale` only chooses where noise starts)."""
        return resize(image, size=self.sizes[0])


def new_tail(width: int) -> nn.Sequential:
    """A tail: a 3x3 convolution from `width` features to RGB (on features padded by 1), tanh."""
    return nn.Sequential(nn.Conv2d(width, 3, 3), nn.Tanh())


class WidthChange(nn.Module):
    """The body of a stage whose width differs from the stage below: `adapt`, a 1x1 convolution
    from the features below to this stage's width (applied before the up-sampling), then the
    conv `blocks`."""

    def __init__(self, width_in: int, width: int, blocks: nn.Sequential):
        super().__init__()
        self.adapt = nn.Conv2d(width_in, width, 1)
        self.blocks = blocks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


@torch.no_grad()
def carry_tail(old: nn.Sequential, adapt: nn.Conv2d, new: nn.Sequential) -> None:
    """Set `adapt` and the `new` tail so that new(adapt(f)) makes the image old(f) makes, for
    any features f: `adapt` projects onto the channels' subspace `old` reads (the top right
    singular vectors of its weights), `new` reads that subspace. Exact when the new width is at
    least the rank of `old`'s weights (at most 3 x 9 = 27 for a 3x3 tail), the best
    least-squares choice below it. So a stage after a width change starts from the image of
    the stage below, as a ConSinGAN stage does from its copied body."""
    w_old = old[0].weight  # (3, C_in, 3, 3)
    c_in, c_out = w_old.shape[1], adapt.out_channels
    rows = w_old.permute(0, 2, 3, 1).reshape(-1, c_in).double()  # (27, C_in)
    _, _, vh = torch.linalg.svd(rows, full_matrices=True)  # vh: (C_in, C_in)
    basis = torch.zeros(c_in, c_out, dtype=torch.float64, device=w_old.device)
    k = min(c_in, c_out)
    basis[:, :k] = vh[:k].T
    adapt.weight.copy_(basis.T.reshape(c_out, c_in, 1, 1).to(adapt.weight.dtype))
    adapt.bias.zero_()
    w_new = torch.einsum("oihw,ic->ochw", w_old.double(), basis)
    new[0].weight.copy_(w_new.to(new[0].weight.dtype))
    new[0].bias.copy_(old[0].bias)


def _convs(net: nn.Module) -> list[nn.Conv2d]:
    return [m for m in net.modules() if isinstance(m, nn.Conv2d)]


@torch.no_grad()
def carry_body(old: nn.Sequential, adapt: nn.Conv2d, new: nn.Sequential) -> None:
    """Start the conv blocks `new` of a width change from the blocks `old` below it, seen
    through `adapt` (set by `carry_tail`: its rows are an orthonormal basis P of the features'
    subspace it keeps): every weight becomes P^T W P and every bias P^T b. On features in that
    subspace the new blocks compute the projection of what the old ones compute, up to the
    LeakyReLU, so the stage starts as a copy of the one below, as a ConSinGAN stage does."""
    c_out, c_in = adapt.out_channels, adapt.in_channels
    basis = adapt.weight.reshape(c_out, c_in).T.double()  # (C_in, C_out): P
    for a, b in zip(_convs(old), _convs(new), strict=True):
        w = torch.einsum("ab,aihw,ic->bchw", basis, a.weight.double(), basis)
        b.weight.copy_(w.to(b.weight.dtype))
        b.bias.copy_((basis.T @ a.bias.double()).to(b.bias.dtype))


@torch.no_grad()
def carry_critic(old: nn.Module, new: nn.Module) -> None:
    """Start a critic of another width from the trained one below: each convolution keeps the
    first channels of the old one's (narrower), or the old ones and zeros (wider), so that its
    filters start as trained detectors, not noise; of the same width, an exact copy."""
    for a, b in zip(_convs(old), _convs(new), strict=True):
        o, i = min(a.out_channels, b.out_channels), min(a.in_channels, b.in_channels)
        b.weight.zero_()
        b.bias.zero_()
        b.weight[:o, :i].copy_(a.weight[:o, :i])
        b.bias[:o].copy_(a.bias[:o])


class WindowPlan:
    """How a (crop) window of stage n's image is computed from bands of the stages below it.

    The window's image needs its features one pixel wider on each side (the tail's 3x3
    convolution, zero-padded at the image's borders): a window `win[n]` of stage n's features.
    A window of stage k's features needs a band of stage k-1's (its up-sampling to the body's
    input, `shrink` px larger, and to the skip connection): `axes[k]` holds that band's rows and
    columns, `win[k-1]` its size. Going down, the bands grow relative to their stage until one
    is the whole stage: stages 0..`full` are computed whole, every one above only on its band.
    """

    def __init__(self, sizes: Sequence[tuple[int, int]], n: int, crop: tuple[int, int],
                 shrink: int):
        self.n, self.crop, self.shrink, self.sizes = n, tuple(crop), shrink, list(sizes)
        height, width = sizes[n]
        self.win: dict[int, tuple[int, int]] = {n: (min(crop[0] + 2, height),
                                                    min(crop[1] + 2, width))}
        self.axes: dict[int, tuple[Axis, Axis]] = {}
        k = n
        while k >= 1:
            (h, w), (hp, wp), (mh, mw) = sizes[k], sizes[k - 1], self.win[k]
            axes = tuple(Axis(n_in, [Use(bicubic_matrix(n_in, n_out + shrink), 0, m + shrink),
                                     Use(bicubic_matrix(n_in, n_out), 0, m)], n_out - m + 1)
                         for n_in, n_out, m in ((hp, h, mh), (wp, w, mw)))
            self.axes[k] = axes
            self.win[k - 1] = (axes[0].length, axes[1].length)
            k -= 1
            if axes[0].full and axes[1].full:
                break
        self.full = k  # the finest stage computed whole
        self.device = torch.device("cpu")

    def to(self, device: torch.device, dtype: torch.dtype) -> WindowPlan:
        self.device = torch.device(device)
        for axes in self.axes.values():
            for axis in axes:
                axis.to(device, dtype)
        return self

    def positions(self, top, left) -> dict:
        """The corner of every stage's window (k: (row, col) of its features, from `full` up)
        and "image": the image window's offset in stage n's padded feature window."""
        n, (height, width), (fh, fw) = self.n, self.sizes[self.n], self.win[self.n]
        top = torch.as_tensor(top, device=self.device)
        left = torch.as_tensor(left, device=self.device)
        at = {n: ((top - 1).clamp(0, height - fh), (left - 1).clamp(0, width - fw))}
        for k in range(n, self.full, -1):
            rows, cols = self.axes[k]
            at[k - 1] = (rows.start[at[k][0]], cols.start[at[k][1]])
        at["image"] = (top - at[n][0], left - at[n][1])
        return at

    def noise_size(self, k: int) -> tuple[int, int]:
        """(h, w) of the noise a stage above `full` needs for a window."""
        mh, mw = self.win[k]
        return mh + self.shrink, mw + self.shrink

    def noise_window(self, k: int, z: torch.Tensor, at: tuple) -> torch.Tensor:
        """Stage k's noise for the window at `at`: cropped from a whole stage's noise, or as
        given when it has the window's size already."""
        h, w = self.sizes[k]
        if tuple(z.shape[-2:]) != (h + self.shrink, w + self.shrink):
            return z
        return crop_window(z, *at, *self.noise_size(k))

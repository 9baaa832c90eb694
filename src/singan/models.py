"""Networks of SinGAN (spec section 3) and the trained multi-scale model.

Convention: scale 0 is the coarsest. Every generator sees its input padded once by `pad` pixels and
returns tanh(body(x)); the residual connection (adding the previous scale's image) lives in
`SinGAN.scale_step`, so the networks stay plain conv stacks. `SinGAN.walk` runs a range of scales
one after the other: every pass up the pyramid (sampling, reconstruction, training, the
applications) goes through it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .bands import crop_window
from .config import SinGANConfig
from .errors import ConfigError
from .resize import resize, upsample_to


NORMS = ("batch", "none")


class ConvBlock(nn.Sequential):
    """Convolution without padding, BatchNorm (or nothing), LeakyReLU (slope 0.2: SinGAN)."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size: int = 3, norm: str = "batch",
                 slope: float = 0.2):
        super().__init__(nn.Conv2d(in_ch, out_ch, kernel_size),
                         nn.BatchNorm2d(out_ch) if norm == "batch" else nn.Identity(),
                         nn.LeakyReLU(slope))


def _conv_stack(channels: int, num_layers: int, kernel_size: int, out_ch: int,
                norm: str, slope: float = 0.2) -> list[nn.Module]:
    layers: list[nn.Module] = [ConvBlock(3, channels, kernel_size, norm, slope)]
    layers += [ConvBlock(channels, channels, kernel_size, norm, slope)
               for _ in range(num_layers - 2)]
    layers.append(nn.Conv2d(channels, out_ch, kernel_size))
    return layers


class Generator(nn.Sequential):
    """Per-scale generator body: conv blocks then a conv to 3 channels and tanh.

    The output is (H - 2 * pad) x (W - 2 * pad) for an input of H x W.
    """

    def __init__(self, channels: int, num_layers: int = 5, kernel_size: int = 3,
                 norm: str = "batch", slope: float = 0.2):
        super().__init__(*_conv_stack(channels, num_layers, kernel_size, 3, norm, slope),
                         nn.Tanh())


class Discriminator(nn.Sequential):
    """Patch critic (WGAN): conv blocks then a conv to one score per patch, no activation.

    Each score sees a patch of 1 + num_layers * (kernel_size - 1) pixels (11 for the paper).
    """

    def __init__(self, channels: int, num_layers: int = 5, kernel_size: int = 3,
                 norm: str = "batch", slope: float = 0.2):
        super().__init__(*_conv_stack(channels, num_layers, kernel_size, 1, norm, slope))


def init_weights(module: nn.Module, generator: torch.Generator | None = None) -> None:
    """Conv weights ~ N(0, 0.02), conv biases as PyTorch's default, BN scale ~ N(1, 0.02), bias 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, 0.0, 0.02, generator=generator)
            if m.bias is not None:
                bound = 1 / math.sqrt(m.weight[0].numel())
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02, generator=generator)
            nn.init.zeros_(m.bias)


def receptive_field(num_layers: int = 5, kernel_size: int = 3) -> int:
    """Side of the patch one critic score sees."""
    return 1 + num_layers * (kernel_size - 1)


class SinGAN(nn.Module):
    """A trained (or partly trained) SinGAN: one generator per scale plus what sampling needs.

    `family` names the model family ("singan"; `consingan.ConSinGAN` is the other).

    Attributes:
        config: the model's configuration.
        sizes: (H, W) of every scale of the training pyramid, coarsest first.
        scale_factor: ratio between neighbouring scales.
        generators: one per trained scale, coarsest first (fewer than `sizes` while training).
        noise_amp: (num_trained,) noise standard deviation per scale (sigma_n).
        z_rec: (1, 3, h0, w0) fixed reconstruction noise of scale 0 (padded size with noise
            padding); finer scales reconstruct with zero noise.
        reals: the training image at every scale, each (1, 3, H, W) in [-1, 1].
    """

    family = "singan"

    def __init__(self, config: SinGANConfig, sizes: list[tuple[int, int]], scale_factor: float):
        super().__init__()
        self.config = config
        self.sizes = [tuple(int(v) for v in s) for s in sizes]
        self.scale_factor = float(scale_factor)
        self.generators = nn.ModuleList()
        self.register_buffer("noise_amp", torch.zeros(0))
        h0, w0 = self.noise_size(0)
        self.register_buffer("z_rec", torch.zeros(1, 3, h0, w0))
        for n, (h, w) in enumerate(self.sizes):
            self.register_buffer(f"real_{n}", torch.zeros(1, 3, h, w))

    # --- structure -------------------------------------------------------------------------

    @property
    def device(self) -> torch.device:
        """Where the model's tensors live."""
        return self.z_rec.device

    @property
    def num_scales(self) -> int:
        """Scales of the full pyramid."""
        return len(self.sizes)

    @property
    def num_trained(self) -> int:
        """Scales with a trained generator."""
        return len(self.generators)

    @property
    def is_complete(self) -> bool:
        return self.num_trained == self.num_scales

    @property
    def reals(self) -> list[torch.Tensor]:
        return [getattr(self, f"real_{n}") for n in range(self.num_scales)]

    def set_reals(self, reals: list[torch.Tensor]) -> None:
        for n, r in enumerate(reals):
            getattr(self, f"real_{n}").copy_(r)

    def noise_size(self, scale: int, size: tuple[int, int] | None = None) -> tuple[int, int]:
        """Noise map size at a scale whose image is `size` (default: the training size)."""
        h, w = size or self.sizes[scale]
        extra = 2 * self.config.pad if self.config.noise_padding else 0
        return h + extra, w + extra

    def new_generator(self, scale: int) -> Generator:
        c = self.config
        return Generator(c.channels(scale), c.num_layers, c.kernel_size, c.norm, c.leaky_slope)

    def new_discriminator(self, scale: int) -> Discriminator:
        c = self.config
        return Discriminator(c.channels(scale), c.num_layers, c.kernel_size, c.norm,
                             c.leaky_slope)

    def add_scale(self, generator: Generator, noise_amp: float | torch.Tensor) -> None:
        """Append a trained generator and its noise amplitude."""
        self.generators.append(generator)
        amp = torch.as_tensor(noise_amp, dtype=self.noise_amp.dtype,
                              device=self.noise_amp.device).reshape(1)
        self.noise_amp = torch.cat([self.noise_amp, amp])

    def drop_last(self) -> None:
        """Remove the last trained scale (one saved without its training state)."""
        del self.generators[-1]
        self.noise_amp = self.noise_amp[:-1].clone()

    def grow_to(self, num_trained: int) -> None:
        """Add freshly built generators until `num_trained` exist (used before loading weights)."""
        while self.num_trained < num_trained:
            self.add_scale(self.new_generator(self.num_trained), 0.0)

    # --- one scale -------------------------------------------------------------------------

    def scale_step(self, scale: int, prev: torch.Tensor, z: torch.Tensor,
                   generator_net: nn.Module | None = None,
                   noise_amp: torch.Tensor | float | None = None,
                   window: tuple[int, int, int, int] | None = None) -> torch.Tensor:
        """Run the generator of `scale` on the up-sampled previous image `prev` and noise `z`.

        prev is (B, 3, H, W); z is (B, 3, H, W), or padded size with noise padding. Returns
        prev + tanh(G(noise_amp * z + prev)), computed on zero-padded inputs. With
        `window=(top, left, h, w)` only that window of the output is computed, exactly as it
        would be in the whole image (the networks have no normalisation across positions when
        `norm="none"`; with BatchNorm in training mode the statistics are the window's).
        """
        p = self.config.pad
        net = generator_net if generator_net is not None else self.generators[scale]
        amp = self.noise_amp[scale] if noise_amp is None else noise_amp
        prev_p = F.pad(prev, (p, p, p, p))
        z_p = z if self.config.noise_padding else F.pad(z, (p, p, p, p))
        if window is None:
            return net(amp * z_p + prev_p) + prev
        top, left, h, w = window
        x = amp * crop_window(z_p, top, left, h + 2 * p, w + 2 * p) + \
            crop_window(prev_p, top, left, h + 2 * p, w + 2 * p)
        return net(x) + crop_window(prev, top, left, h, w)

    def draw_noise(self, scale: int, batch: int, size: tuple[int, int] | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """Fresh N(0, 1) noise for a scale: one channel broadcast to three at scale 0 (and at
        every scale with `noise_channels=1`)."""
        h, w = self.noise_size(scale, size)
        ch = 1 if scale == 0 else self.config.noise_channels
        z = torch.randn(batch, ch, h, w, generator=generator, device=self.device,
                        dtype=self.z_rec.dtype)
        return z.expand(batch, 3, h, w) if ch == 1 else z

    def rec_noise(self, scale: int, batch: int = 1) -> torch.Tensor:
        """Reconstruction noise: z_rec at scale 0, zeros elsewhere."""
        if scale == 0:
            return self.z_rec.expand(batch, -1, -1, -1)
        h, w = self.noise_size(scale)
        return self.z_rec.new_zeros(batch, 3, h, w)

    def upsample(self, x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Bring a scale's output to the next scale's `size`."""
        return upsample_to(x, size, self.scale_factor, quantize=self.config.quantize_8bit)

    # --- the pyramid walk ------------------------------------------------------------------

    def walk(self, x: torch.Tensor, start: int, stop: int, *,
             noise: Mapping[int, torch.Tensor] | str | None = None,
             generator: torch.Generator | None = None,
             sizes: Sequence[tuple[int, int]] | None = None,
             nets: Mapping[int, nn.Module] | None = None,
             amps: Mapping[int, torch.Tensor] | None = None,
             window: tuple[int, int, int, int] | None = None,
             upsample_end: bool = False) -> torch.Tensor:
        """Run scales start..stop-1 on x, the (B, 3, H, W) input of scale `start`.

        The one walk up the pyramid that sampling, reconstruction, training and the applications
        share. Between two scales the output is up-sampled to the next scale's size.

        Args:
            noise: {scale: (B, 3, h, w)} noise maps (scales missing from it are drawn), or "rec"
                for the reconstruction noise (`rec_noise`). Drawn noise comes from `generator`
                (torch's default RNG when None), one scale after the other.
            sizes: image size of every scale (default: the training sizes).
            nets, amps: {scale: generator} and {scale: noise amplitude} replacing the model's own
                (the learning generators during training).
            window: (top, left, h, w) computed at the last scale only (`scale_step`).
            upsample_end: bring the last output up to the size of scale `stop`, the input of
                that scale (there must be one); else return the output of scale stop-1.

        Returns x itself when start == stop.
        """
        sizes = self.sizes if sizes is None else sizes
        nets, amps = nets or {}, amps or {}
        for k in range(start, stop):
            if isinstance(noise, str):
                if noise != "rec":
                    raise ConfigError(f"noise must be a mapping, 'rec' or None, got {noise!r}")
                z = self.rec_noise(k, x.shape[0])
            elif noise is not None and k in noise:
                z = noise[k]
            else:
                z = self.draw_noise(k, x.shape[0], sizes[k], generator)
            x = self.scale_step(k, x, z, nets.get(k), amps.get(k),
                                window if k == stop - 1 else None)
            if k + 1 < stop or upsample_end:
                x = self.upsample(x, sizes[k + 1])
        return x

    def synthesize(self, batch: int, sizes: Sequence[tuple[int, int]], *, start_scale: int = 0,
                   start_image: torch.Tensor | None = None,
                   noise: Mapping[int, torch.Tensor] | None = None,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        """`batch` images of the scales' `sizes` (sampling; see `sample.generate`): the
        reconstruction below `start_scale` (or `start_image` as the input of that scale),
        fresh noise (or `noise[k]`) from it on."""
        if start_image is not None:
            x = start_image.to(device=self.device, dtype=self.z_rec.dtype)
            x = x.expand(batch, -1, -1, -1) if x.shape[0] == 1 else x
        else:
            x = self.reconstruct(start_scale)  # zeros when start_scale == 0
            x = x.expand(batch, -1, -1, -1)
        if tuple(x.shape[-2:]) != sizes[start_scale]:
            x = resize(x, size=sizes[start_scale])
        return self.walk(x, start_scale, len(sizes), noise=noise, generator=generator,
                         sizes=sizes)

    def injection(self, image: torch.Tensor, start_scale: int) -> torch.Tensor:
        """The input injected at `start_scale` for an application (spec 6.2 step 3): the image
        (at the training size) shrunk to scale start_scale - 1 and brought back up the way a
        generated image is, so that it looks like an up-sampled coarser output."""
        down = resize(image, size=self.sizes[start_scale - 1])
        return self.upsample(down, self.sizes[start_scale])

    @torch.no_grad()
    def reconstruct(self, upto: int) -> torch.Tensor:
        """Reconstruction of the training image by scales 0..upto-1, up-sampled to scale `upto`
        (not up-sampled when `upto` is the number of scales).

        Returns zeros of scale 0's size when upto == 0.
        """
        x = self.z_rec.new_zeros(1, 3, *self.sizes[0])
        return self.walk(x, 0, upto, noise="rec", upsample_end=upto < self.num_scales)

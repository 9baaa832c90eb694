"""What the patch engines do: random samples of any size, inpainting and editing with a mask,
structural analogy, and the refinement of a trained model's coarse layout. Every function takes
images as (1, 3, H, W) tensors in [-1, 1] and returns (N, 3, H, W) outputs in [-1, 1]."""

from __future__ import annotations

import math

import torch

from ..bounds import COUNT, check_seed
from ..budget import format_bytes
from ..errors import ConfigError, InputError
from ..resize import resize
from . import gpdm, gpnn
from .levels import Level, check_source, mask_at, pyramid, pyramid_from, sources

ENGINES = ("gpnn", "gpdm")
Settings = gpnn.GPNNSettings | gpdm.GPDMSettings


def settings_for(engine: str, **overrides) -> Settings:
    """The engine's settings: its published defaults with `overrides` (None values ignored)."""
    check_engine(engine)
    cls = gpnn.GPNNSettings if engine == "gpnn" else gpdm.GPDMSettings
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(cls.__dataclass_fields__))
    if unknown:
        raise ConfigError(f"{engine} has no setting {', '.join(unknown)}")
    return cls(**given)


def check_engine(engine: str) -> None:
    if engine not in ENGINES:
        raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")


def _engine(settings: Settings) -> str:
    return "gpnn" if isinstance(settings, gpnn.GPNNSettings) else "gpdm"


def _generator(device: torch.device, seed: int | None,
               generator: torch.Generator | None) -> torch.Generator:
    if generator is not None:
        return generator
    gen = torch.Generator(device=device)
    gen.manual_seed(check_seed(seed if seed is not None else 0))
    return gen


def _check_image(x: torch.Tensor, what: str) -> torch.Tensor:
    if not (isinstance(x, torch.Tensor) and x.dim() == 4 and x.shape[:2] == (1, 3)):
        raise InputError(f"{what} must be a (1, 3, H, W) tensor")
    return x.float()


# Bytes per patch value that one level holds at its peak: the patches of the output, the keys,
# the values, the averaged output and the search's centred copies (GPNN); the output's patches,
# their gradient, projections and the target's (GPDM).
_GPNN_COPIES = 7
_GPDM_COPIES = 6


def memory_needed(settings: Settings, source: tuple[int, int], output: tuple[int, int],
                  batch: int = 1) -> int:
    """Estimated peak bytes of building `batch` outputs of `output` (H, W) from a source of
    `source` (H, W): the finest level dominates."""
    p = settings.patch
    d = 3 * p * p
    q = max(1, output[0] - p + 1) * max(1, output[1] - p + 1)
    k = max(1, source[0] - p + 1) * max(1, source[1] - p + 1)
    if isinstance(settings, gpnn.GPNNSettings):
        return 4 * d * _GPNN_COPIES * max(q, k) + settings.memory
    return 4 * (_GPDM_COPIES * batch * q * (d + settings.projections) + 2 * k * d)


def check_memory(settings: Settings, source: tuple[int, int], output: tuple[int, int],
                 batch: int, limit: int | None) -> None:
    """Refuse an output whose estimate exceeds `limit` bytes, naming a size that fits."""
    if limit is None:
        return
    need = memory_needed(settings, source, output, batch)
    if need <= limit:
        return
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        fits = memory_needed(settings, (round(source[0] * mid), round(source[1] * mid)),
                             (round(output[0] * mid), round(output[1] * mid)), batch) <= limit
        lo, hi = (mid, hi) if fits else (lo, mid)
    w, h = round(output[1] * lo), round(output[0] * lo)
    hint = f"; about {w}x{h} px (the image and output shrunk alike) would fit" if lo > 0 else ""
    raise InputError(f"{_engine(settings)} needs about {format_bytes(need)} for a "
                     f"{output[1]}x{output[0]} output from a {source[1]}x{source[0]} image, "
                     f"{format_bytes(limit)} are available{hint}")


def _noise(shape: tuple[int, ...], sigma: float, generator: torch.Generator,
           device: torch.device) -> torch.Tensor:
    # sigma is in [0, 1] pixel units; tensors are in [-1, 1]
    return 2 * sigma * torch.randn(shape, generator=generator, device=device)


def _build(image: torch.Tensor, levels: list[Level], starts: torch.Tensor, settings: Settings,
           generator: torch.Generator, **kwargs) -> torch.Tensor:
    srcs = sources(image, levels)
    if isinstance(settings, gpnn.GPNNSettings):
        return torch.cat([gpnn.run_levels(srcs, levels, starts[i:i + 1], settings, generator,
                                          **kwargs) for i in range(starts.shape[0])]).clamp(-1, 1)
    return gpdm.run_levels(srcs, levels, starts, settings, generator, **kwargs)


def _output_size(image: torch.Tensor, size: tuple[int, int] | None, scale_h: float,
                 scale_w: float) -> tuple[int, int]:
    h, w = image.shape[-2:]
    if size is not None:
        out = (int(size[0]), int(size[1]))
    else:
        if not (scale_h > 0 and scale_w > 0 and math.isfinite(scale_h * scale_w)):
            raise ConfigError("scale_h and scale_w must be > 0")
        out = (max(1, round(h * scale_h)), max(1, round(w * scale_w)))
    return out


def sample(image: torch.Tensor, num: int = 1, *, engine: str = "gpnn",
           size: tuple[int, int] | None = None, scale_h: float = 1.0, scale_w: float = 1.0,
           seed: int | None = None, generator: torch.Generator | None = None,
           settings: Settings | None = None, max_memory: int | None = None) -> torch.Tensor:
    """`num` random images with the patches of `image`, of `size` (H, W) or the image's size
    scaled by (scale_h, scale_w): retargeting when the aspect ratio changes."""
    image = _check_image(image, "the image")
    COUNT.check(num, "num")
    settings = settings or settings_for(engine)
    out = _output_size(image, size, scale_h, scale_w)
    check_source(out, settings.patch, "the output")
    check_memory(settings, tuple(image.shape[-2:]), out, num, max_memory)
    levels = pyramid(tuple(image.shape[-2:]), out, ratio=settings.ratio,
                     coarsest=settings.coarsest, patch=settings.patch)
    gen = _generator(image.device, seed, generator)
    h, w = levels[0].output
    if isinstance(settings, gpnn.GPNNSettings):
        start = resize(image, size=(h, w))
        starts = start + _noise((num, 1, h, w), settings.noise, gen, image.device)
    else:
        starts = _noise((num, 3, h, w), settings.noise, gen, image.device)
    return _build(image, levels, starts, settings, gen)


def _check_mask(mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    if not (isinstance(mask, torch.Tensor) and mask.dim() == 4 and mask.shape[:2] == (1, 1)):
        raise InputError("the mask must be a (1, 1, H, W) tensor")
    if mask.shape[-2:] != image.shape[-2:]:
        mask = torch.nn.functional.interpolate(mask.float(), size=image.shape[-2:],
                                               mode="bilinear", align_corners=False)
    m = (mask > 0.5).float()
    if not m.any():
        raise InputError("the mask is empty: it selects no pixel to rebuild")
    if m.all():
        raise InputError("the mask covers the whole image: it leaves no patch to rebuild from")
    return m


def _masked(image: torch.Tensor, mask: torch.Tensor, num: int, keep_content: bool, *,
            engine: str, seed: int | None, generator: torch.Generator | None,
            settings: Settings | None, max_memory: int | None) -> torch.Tensor:
    image = _check_image(image, "the image")
    COUNT.check(num, "num")
    m = _check_mask(mask, image)
    if settings is None:
        # GPNN rebuilds a region with plain nearest neighbours (alpha 1) and no start noise
        settings = settings_for(engine, alpha=1.0, noise=0.0) if engine == "gpnn" \
            else settings_for(engine, noise=0.0 if keep_content else None)
    hw = tuple(image.shape[-2:])
    check_memory(settings, hw, hw, num, max_memory)
    levels = pyramid(hw, hw, ratio=settings.ratio, coarsest=settings.coarsest,
                     patch=settings.patch)
    gen = _generator(image.device, seed, generator)
    h, w = levels[0].output
    small = resize(image, size=(h, w))
    if not keep_content:  # the region starts as the mean colour of the rest
        outside = (1 - m)
        mean = (image * outside).sum((2, 3), keepdim=True) / outside.sum()
        small = torch.where(mask_at(m, (h, w)) > 0, mean.expand_as(small), small)
    channels = 1 if isinstance(settings, gpnn.GPNNSettings) else 3
    starts = small + _noise((num, channels, h, w), settings.noise, gen, image.device)
    return _build(image, levels, starts, settings, gen, mask=m, known=image)


def inpaint(image: torch.Tensor, mask: torch.Tensor, num: int = 1, *, engine: str = "gpnn",
            seed: int | None = None, generator: torch.Generator | None = None,
            settings: Settings | None = None, max_memory: int | None = None) -> torch.Tensor:
    """The region of `mask` (1, 1, H, W, white = rebuild) filled from the patches outside it;
    outside the mask the output is `image`."""
    return _masked(image, mask, num, False, engine=engine, seed=seed, generator=generator,
                   settings=settings, max_memory=max_memory)


def edit(image: torch.Tensor, mask: torch.Tensor, num: int = 1, *, engine: str = "gpnn",
         seed: int | None = None, generator: torch.Generator | None = None,
         settings: Settings | None = None, max_memory: int | None = None) -> torch.Tensor:
    """An edited image made coherent: the region of `mask` rebuilt from the patches outside it,
    keeping the edit's coarse layout (its content is the start of the coarsest level)."""
    return _masked(image, mask, num, True, engine=engine, seed=seed, generator=generator,
                   settings=settings, max_memory=max_memory)


def analogy(structure: torch.Tensor, texture: torch.Tensor, num: int = 1, *,
            engine: str = "gpnn", size: tuple[int, int] | None = None, start: float = 0.25,
            seed: int | None = None, generator: torch.Generator | None = None,
            settings: Settings | None = None, max_memory: int | None = None) -> torch.Tensor:
    """Structural analogy: the layout of `structure` drawn with the patches of `texture`, at the
    structure's size (or `size`). The structure, shrunk by `start` (at most to the engine's
    coarsest size), is the start of the first level, so that patches of 7 px are local to its
    layout rather than half of it."""
    structure = _check_image(structure, "the structure image")
    texture = _check_image(texture, "the texture image")
    COUNT.check(num, "num")
    if not 0 < start <= 1:
        raise ConfigError(f"start must be in (0, 1], got {start}")
    settings = settings or settings_for(engine, noise=0.0)
    out = _output_size(structure, size, 1.0, 1.0)
    check_source(out, settings.patch, "the output")
    first = max(start, (settings.coarsest + 1) / min(out))
    small = (max(settings.patch + 1, round(out[0] * first)),
             max(settings.patch + 1, round(out[1] * first)))
    gen = _generator(texture.device, seed, generator)
    channels = 1 if isinstance(settings, gpnn.GPNNSettings) else 3
    layouts = resize(structure, size=small) + _noise((num, channels, *small), settings.noise, gen,
                                                     texture.device)
    return refine(layouts, texture, out, engine=engine, generator=gen, settings=settings,
                  max_memory=max_memory)


def refine(layouts: torch.Tensor, image: torch.Tensor, size: tuple[int, int], *,
           engine: str = "gpnn", seed: int | None = None,
           generator: torch.Generator | None = None, settings: Settings | None = None,
           max_memory: int | None = None) -> torch.Tensor:
    """Coarse layouts (N, 3, h, w), such as a trained model's samples at a coarse scale, built
    up to `size` (H, W) from the patches of `image`, about one pyramid ratio per level."""
    image = _check_image(image, "the image")
    if not (isinstance(layouts, torch.Tensor) and layouts.dim() == 4 and layouts.shape[1] == 3):
        raise InputError("the layouts must be an (N, 3, h, w) tensor")
    settings = settings or settings_for(engine)
    out = (int(size[0]), int(size[1]))
    check_source(out, settings.patch, "the output")
    check_memory(settings, tuple(image.shape[-2:]), out, layouts.shape[0], max_memory)
    levels = pyramid_from(tuple(layouts.shape[-2:]), tuple(image.shape[-2:]), out,
                          ratio=settings.ratio, patch=settings.patch)
    gen = _generator(image.device, seed, generator)
    starts = layouts.float().clamp(-1, 1)
    if tuple(starts.shape[-2:]) != levels[0].output:
        starts = resize(starts, size=levels[0].output)
    kwargs = {"first_iters": settings.iters} if isinstance(settings, gpnn.GPNNSettings) else {}
    return _build(image, levels, starts, settings, gen, **kwargs)

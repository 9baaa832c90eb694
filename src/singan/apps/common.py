"""What the applications share: checks on the model, image inputs, random generators, injection.

Convention: image tensors are (1, 3, H, W) (or (3, H, W)) in [-1, 1], PIL images are converted;
an input of another size than the training image is resized to it with an `InputNotice`
warning (never printed here: the CLI prints it). Scales count from 0 = coarsest.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable

import torch
from PIL import Image

from ..bounds import check_seed
from ..errors import ConfigError, InputError, InputNotice
from ..families import is_consingan
from ..images import image_to_tensor, to_rgb
from ..models import SinGAN
from ..resize import resize
from ..training import Trainer

ASPECT_TOLERANCE = 0.05  # refuse inputs whose aspect ratio differs more from the training image's

ImageLike = torch.Tensor | Image.Image
Progress = Callable[[int, int], None]  # callback(done, total) of a long step (fine-tuning)


def check_ready(model: SinGAN, mode: str | None = None, app: str = "this application") -> None:
    """Refuse a partly trained model, or one trained in another mode than `mode`."""
    if not model.is_complete:
        raise ConfigError(f"the model is not fully trained ({model.num_trained} of "
                          f"{model.num_scales} scales); finish it with `singan train --resume`")
    if mode is not None and model.config.mode != mode:
        hint = {"sr": "`singan sr IMAGE --factor F --out FILE` trains one",
                "animation": "train one with `singan train IMAGE --mode animation`"}[mode]
        raise ConfigError(f"{app} needs a model trained in {mode} mode, but this one was trained "
                          f"in {model.config.mode} mode; {hint}")


def injection_scales(model: SinGAN) -> range:
    """Scales an image can be injected at: 1 (second coarsest) to the finest."""
    return range(1, model.num_scales)


# The default start scale of each application, the one place the CLI, the web app and the README
# take it from: (counted from, offset). Injection (paint, edit, harmonize) starts at 1 at least.
# edit: the finest minus 3 keeps the image's layout and regenerates the edited region's texture
# (at the finest scale a stroke comes back almost unchanged). harmonize: the finest minus 2 keeps
# the pasted object's shape and gives it the image's texture and colours (lower scales wash it
# out). paint: the third coarsest turns flat paint into the image's structures.
DEFAULT_SCALES = {"paint": ("coarsest", 2), "edit": ("finest", 3), "harmonize": ("finest", 2),
                  "animate": ("coarsest", 0)}
DEFAULT_SCALE_HELP = {
    "paint": "2 (the third coarsest; 1 if the model has only 2 scales)",
    "edit": "the finest minus 3 (at least 1)",
    "harmonize": "the finest minus 2 (at least 1)",
    "animate": "0 (everything moves)",
}


def default_start_scale(app: str, num_scales: int) -> int:
    """The default start scale of `app` ("paint", "edit", "harmonize", "animate") for a model
    of `num_scales` scales (0 = coarsest), within the scales the application takes."""
    frm, offset = DEFAULT_SCALES[app]
    last = num_scales - 1
    scale = offset if frm == "coarsest" else last - offset
    return min(max(scale, 0 if app == "animate" else 1), max(last, 0))


def check_injection_scale(model: SinGAN, start_scale: int) -> None:
    scales = injection_scales(model)
    if not isinstance(start_scale, int) or start_scale not in scales:
        raise ConfigError(f"start scale must be between {scales.start} and {scales.stop - 1} "
                          f"for this model (0 = coarsest), got {start_scale!r}")


def random_generator(model: SinGAN, seed: int | None,
                     generator: torch.Generator | None) -> torch.Generator | None:
    """A generator seeded with `seed`, or `generator` as given (None: torch's default RNG)."""
    if seed is not None and generator is not None:
        raise ConfigError("give either seed or generator, not both")
    if seed is None:
        return generator
    return torch.Generator(device=model.device).manual_seed(check_seed(seed))


def own_generator(model: SinGAN, generator: torch.Generator | None) -> torch.Generator:
    """`generator`, or a new one seeded from torch's default RNG (for code that needs one)."""
    if generator is not None:
        return generator
    seed = int(torch.randint(0, 2 ** 62, (1,)))
    return torch.Generator(device=model.device).manual_seed(seed)


def to_tensor(x: ImageLike, what: str) -> torch.Tensor:
    """A PIL image or a (3, H, W) / (1, 3, H, W) tensor as a (1, 3, H, W) float tensor."""
    if isinstance(x, Image.Image):
        return image_to_tensor(to_rgb(x))
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{what} must be a PIL image or a tensor, got {type(x).__name__}")
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4 or x.shape[:2] != (1, 3):
        raise InputError(f"{what} must be a (3, H, W) or (1, 3, H, W) tensor, got "
                         f"{tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise InputError(f"{what} holds NaN or infinite values")
    return x.float()


def fit_to_model(x: torch.Tensor, model: SinGAN, what: str) -> torch.Tensor:
    """Resize a (1, C, h, w) input to the training image's size, with a notice.

    Raises InputError when its aspect ratio differs from the training image's by more than 5%.
    """
    h, w = x.shape[-2:]
    th, tw = model.sizes[-1]
    x = x.to(device=model.device, dtype=torch.float32)
    if (h, w) == (th, tw):
        return x
    if abs((w / h) / (tw / th) - 1) > ASPECT_TOLERANCE:
        raise InputError(f"{what} is {w}x{h} (aspect ratio {w / h:.3f}), but the model was "
                         f"trained on a {tw}x{th} image (aspect ratio {tw / th:.3f}); crop it to "
                         f"that aspect ratio (within {ASPECT_TOLERANCE:.0%})")
    warnings.warn(f"{what} is {w}x{h}; resized to the training image's {tw}x{th}", InputNotice,
                  stacklevel=3)
    return resize(x, size=(th, tw))


def as_image(x: ImageLike, model: SinGAN, what: str = "image") -> torch.Tensor:
    """An image input as (1, 3, H, W) at the training size on the model's device."""
    return fit_to_model(to_tensor(x, what), model, what)


def blurred_injection(model: SinGAN, image: torch.Tensor, start_scale: int) -> torch.Tensor:
    """The input injected at `start_scale` (spec 6.2 step 3): SinGAN's is the image (at the
    training size) shrunk to scale start_scale - 1 and brought back up to start_scale the way a
    generated image is; ConSinGAN's the image shrunk to its coarsest stage (`injection` of each
    model family)."""
    return model.injection(image, start_scale)


@torch.no_grad()
def run_scales(model: SinGAN, x: torch.Tensor, start: int, stop: int, batch: int,
               generator: torch.Generator | None) -> torch.Tensor:
    """`batch` samples: x (at scale `start`) through scales start..stop-1 with fresh noise,
    up-sampled to scale `stop` (x itself, not expanded, when start == stop)."""
    if start == stop:
        return x
    return model.walk(x.expand(batch, -1, -1, -1), start, stop, generator=generator,
                      upsample_end=True)


def tuning_inputs(model, start: torch.Tensor, start_scale: int, first: int, batch: int,
                  generator: torch.Generator | None) -> torch.Tensor:
    """What fine-tuning scales first.. learns from, for an injected `start` (`injection`):
    SinGAN's are `batch` samples of the scales from the injection scale to `first` (the inputs of
    scale `first`); ConSinGAN's the injected stage-0 input itself, which every fake starts from."""
    if is_consingan(model):
        return start
    return run_scales(model, start, start_scale, first, batch, generator)


def tuned_copy(model: SinGAN, first: int, last: int, iters: int, prevs: torch.Tensor, *,
               generator: torch.Generator, critic: torch.nn.Module | None = None,
               transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
               callback: Progress | None = None) -> SinGAN:
    """A copy of `model` with scales first..last fine-tuned (`Trainer.fine_tune`).

    `prevs` are the inputs of scale `first` to learn from; `critic` (scale `last`'s, optional)
    is copied too: neither the model nor the critic changes.
    """
    tuned = copy.deepcopy(model)
    trainer = Trainer(tuned, generator=generator,
                      discriminator=copy.deepcopy(critic) if critic is not None else None)
    trainer.fine_tune(first, last, iters, prevs, transform=transform, callback=callback)
    return tuned.eval()

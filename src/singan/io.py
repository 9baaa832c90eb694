"""Reading and writing images and run folders (config.json + safetensors; never pickle)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors

from . import __version__, validate
from .config import SinGANConfig
from .errors import ConfigError, InputError, RunError
from .models import SinGAN
from .training import TrainState

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
MODEL_NAME = "model.safetensors"
STATE_NAME = "train_state.safetensors"
MAX_PIXELS = validate.MAX_PIXELS  # default limit; see validate.pixel_limit

# --- images ----------------------------------------------------------------------------------


def open_image(path: str | os.PathLike, *, max_pixels: int | None = None,
               min_side: int = validate.MIN_SIDE) -> Image.Image:
    """Open and decode an image file (first frame, EXIF rotation applied, mode unchanged).

    Raises InputError with the file name for a missing path, a folder, a symbolic-link loop, an
    empty file, a non-image, a corrupt or truncated file, a side under `min_side`, or more than
    `max_pixels` pixels (default: $SINGAN_MAX_PIXELS or MAX_PIXELS; checked before decoding).
    An animated image gives its first frame and a `validate.InputNotice` warning.
    """
    return validate.decode_image(path, max_pixels=max_pixels, min_side=min_side)


def read_image(path: str | os.PathLike, *, max_pixels: int | None = None) -> Image.Image:
    """Open an image file as 8-bit RGB (see `open_image` for the checks). Also reads paints."""
    return _converted(path, open_image(path, max_pixels=max_pixels), to_rgb)


def _converted(path, im: Image.Image, convert) -> Any:
    try:
        return convert(im)
    except (ValueError, OSError) as e:  # Pillow cannot convert some modes (LAB, HSV, ...)
        raise InputError(f"{path}: unsupported image mode {im.mode!r} ({e})") from None


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB: grayscale is repeated, alpha is dropped."""
    im = _to_8bit(im)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
    return im.convert("RGB")


def _to_8bit(im: Image.Image) -> Image.Image:
    """16-bit and 32-bit grayscale (I;16, I, F) -> 8-bit L; other modes unchanged."""
    if im.mode not in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return im
    a = np.nan_to_num(np.asarray(im, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    top = 65535.0 if im.mode.startswith("I;16") or a.max(initial=0) > 255 else 255.0
    a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return Image.fromarray(a, mode="L")


def mask_array(im: Image.Image) -> np.ndarray:
    """A mask image -> (H, W) float32 in [0, 1], 1 = selected.

    The alpha channel is the mask when the image has one that marks a region (some pixels at
    least half transparent, some at least half opaque: RGBA, LA, PA, palette with transparency);
    otherwise the luminance (binary, grayscale, 16-bit, RGB).
    """
    im = _to_8bit(im)
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or \
            (im.mode == "P" and "transparency" in im.info):
        alpha = np.asarray(im.convert("RGBA"), dtype=np.uint8)[..., 3]
        if alpha.min() < 128 <= alpha.max():
            return alpha.astype(np.float32) / 255.0
    return np.asarray(to_rgb(im).convert("L"), dtype=np.float32) / 255.0


def read_mask(path: str | os.PathLike, size: tuple[int, int] | None = None, *,
              max_pixels: int | None = None, allow_empty: bool = False) -> torch.Tensor:
    """Read a mask file as a (1, 1, H, W) float32 tensor in [0, 1] (1 = the masked region).

    Accepts binary, grayscale (8/16-bit), RGB (luminance) and images with transparency (alpha).
    With `size` = (H, W) the mask is resized bilinearly to it. Raises InputError for the same
    file problems as `open_image`, and for a mask with no selected pixel unless `allow_empty`.
    """
    a = _converted(path, open_image(path, max_pixels=max_pixels), mask_array)
    if size is not None:
        h, w = int(size[0]), int(size[1])
        if h < 1 or w < 1:
            raise InputError(f"{path}: cannot resize the mask to {h}x{w}")
        im = Image.fromarray(a, mode="F").resize((w, h), Image.BILINEAR)
        a = np.clip(np.asarray(im, dtype=np.float32), 0.0, 1.0)
    if not allow_empty and not (a > 0.5).any():
        raise InputError(f"{path}: the mask is empty (no white or opaque pixel selects a region)")
    return torch.from_numpy(np.ascontiguousarray(a))[None, None]


def image_to_tensor(im: Image.Image) -> torch.Tensor:
    """RGB PIL image -> (1, 3, H, W) float32 tensor in [-1, 1]."""
    a = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0).mul(2).sub(1).contiguous()


def tensor_to_image(x: torch.Tensor) -> Image.Image:
    """(3, H, W) or (1, 3, H, W) tensor in [-1, 1] -> RGB PIL image (clamped, rounded)."""
    if x.dim() == 4:
        if x.shape[0] != 1:
            raise ValueError("tensor_to_image takes one image; index the batch first")
        x = x[0]
    a = ((x.detach().float().clamp(-1, 1) + 1) * 127.5).round().byte()
    return Image.fromarray(a.permute(1, 2, 0).cpu().numpy(), mode="RGB")


def load_image(path: str | os.PathLike, *, max_pixels: int | None = None) -> torch.Tensor:
    """Read an image file as a (1, 3, H, W) tensor in [-1, 1]."""
    return image_to_tensor(read_image(path, max_pixels=max_pixels))


def save_image(x: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write one image tensor in [-1, 1] as PNG (or the format the suffix names), atomically."""
    path = Path(path)
    im = tensor_to_image(x)
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    return atomic_write(path, lambda f: im.save(f, format=fmt))


# --- atomic files ----------------------------------------------------------------------------


def new_file_mode() -> int:
    """Permissions a newly created file would get (mkstemp makes 0600 files)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: Path, write) -> Path:
    """Write a file through a temporary file in the same folder and rename it into place.

    `write` receives a binary file object. A crash (even SIGKILL or a full disk) leaves either
    the old file or the new one, never a mix; the temporary file is removed on errors.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, new_file_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def remove_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of `atomic_write` that a killed process left in a run folder
    (and its previews/); call it only while holding the run's lock. Returns what was deleted."""
    folder = Path(folder)
    found = [p for d in (folder, folder / "previews") for p in d.glob(".*.tmp")
             if p.is_file() and not p.name.startswith(".lock.")]
    for p in found:
        p.unlink(missing_ok=True)
    return found


def _fsync_dir(folder: Path) -> None:
    """Make a rename in `folder` durable (best effort: not every system can open folders)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_safetensors(path: Path, tensors: dict[str, torch.Tensor],
                       metadata: dict[str, str]) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    data = save_safetensors(tensors, metadata=metadata)
    atomic_write(path, lambda f: f.write(data))


def _specs(module: torch.nn.Module) -> dict[str, validate.TensorSpec]:
    """{name: (safetensors dtype, shape)} of a module's state dict."""
    names = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
             torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8"}
    return {k: (names[v.dtype], tuple(v.shape)) for k, v in module.state_dict().items()}


def _read_safetensors(path: Path, expected: dict[str, validate.TensorSpec]
                      ) -> dict[str, torch.Tensor]:
    """Read the tensors of a file whose header `validate` has checked against `expected`."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            tensors = {k: f.get_tensor(k) for k in expected}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise RunError(f"{path}: corrupt or truncated safetensors file ({e})") from None
    for k, v in tensors.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise RunError(f"{path}: tensor {k!r} holds NaN or infinite values")
    return tensors


def _meta_int(meta: dict[str, str], key: str, path: Path) -> int:
    try:
        return int(meta[key])
    except (KeyError, ValueError):
        raise RunError(f"{path}: missing or invalid {key!r} metadata") from None


# --- run folders -----------------------------------------------------------------------------

# Optional top-level fields of config.json and their types. A field not listed here is refused
# on loading (a newer singan wrote it, or the file was edited); add new fields here.
OPTIONAL_RUN_FIELDS: dict[str, type] = {"image": dict, "preset": str, "seed": int}
_REQUIRED_RUN_FIELDS = ("format_version", "singan_version", "config", "sizes", "scale_factor")


def run_info(model: SinGAN, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The content of config.json for a model; `extra` may hold OPTIONAL_RUN_FIELDS."""
    info = {
        "format_version": FORMAT_VERSION,
        "singan_version": __version__,
        "config": model.config.to_dict(),
        "sizes": [list(s) for s in model.sizes],
        "scale_factor": model.scale_factor,
    }
    if extra:
        unknown = sorted(set(extra) - set(OPTIONAL_RUN_FIELDS))
        if unknown:
            raise ValueError(f"run_info: unknown field(s) {unknown}; register them in "
                             f"io.OPTIONAL_RUN_FIELDS")
        info.update(extra)
    return info


def save_run(model: SinGAN, run_dir: str | os.PathLike, state: TrainState | None = None,
             extra: dict[str, Any] | None = None) -> Path:
    """Write config.json, model.safetensors and (optionally) train_state.safetensors atomically.

    The model file goes first and the training state second, so a crash between the two leaves a
    state one scale behind, from which resuming retrains that scale; config.json (the same at
    every save of a run) goes last, so a folder is a run only once both tensors files exist. A
    write that fails (full disk, ...) raises RunError and leaves the file it replaced as it was.
    """
    run_dir = Path(run_dir)
    info = run_info(model, extra)
    text = json.dumps(info, indent=2) + "\n"
    meta = {"format_version": str(FORMAT_VERSION), "num_trained": str(model.num_trained),
            "config": json.dumps(info)}
    files = [(run_dir / MODEL_NAME, lambda: _write_safetensors(run_dir / MODEL_NAME,
                                                               model.state_dict(), meta))]
    if state is not None:
        tensors = {f"discriminator.{k}": v for k, v in state.discriminator.items()}
        if state.rng_state is not None:
            tensors["rng_state"] = state.rng_state
        state_meta = {"format_version": str(FORMAT_VERSION), "scale": str(state.scale)}
        if state.pool_seed is not None:
            state_meta["pool_seed"] = str(state.pool_seed)
        files.append((run_dir / STATE_NAME, lambda: _write_safetensors(
            run_dir / STATE_NAME, tensors, state_meta)))
    files.append((run_dir / CONFIG_NAME, lambda: atomic_write(run_dir / CONFIG_NAME,
                                                              lambda f: f.write(text.encode()))))
    for path, write in files:
        try:
            write()
        except OSError as e:
            raise RunError(f"{path}: cannot save ({e.strerror or e}); the previous version of "
                           f"the file is unchanged") from None
    return run_dir


def read_run_info(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Read and check config.json of a run folder."""
    run_dir = Path(run_dir)
    if not run_dir.exists():
        raise RunError(f"{run_dir}: no such run folder")
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: not a folder (a run is a folder with {CONFIG_NAME} and "
                       f"{MODEL_NAME})")
    path = run_dir / CONFIG_NAME
    if not os.path.lexists(path):
        raise RunError(f"{run_dir}: not a SinGAN run (no {CONFIG_NAME})")
    info = validate.read_json(path, "a run config", RunError)
    return check_run_info(info, path)


def check_run_info(info: Any, path: Path | str) -> dict[str, Any]:
    """Check the content of config.json; returns it with `config` as a SinGANConfig."""
    if not isinstance(info, dict):
        raise RunError(f"{path}: must hold a JSON object")
    version = info.get("format_version")
    if version != FORMAT_VERSION or isinstance(version, bool):
        raise RunError(f"{path}: unsupported format_version {version!r} (this singan reads "
                       f"{FORMAT_VERSION})")
    missing = [k for k in _REQUIRED_RUN_FIELDS if k not in info]
    if missing:
        raise RunError(f"{path}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(info) - set(_REQUIRED_RUN_FIELDS) - set(OPTIONAL_RUN_FIELDS))
    if unknown:
        raise RunError(f"{path}: unknown field(s) {', '.join(unknown)} (written by a newer "
                       f"singan, or edited?)")
    for key, kind in OPTIONAL_RUN_FIELDS.items():
        if key in info and not (isinstance(info[key], kind) and not isinstance(info[key], bool)):
            raise RunError(f"{path}: field {key!r} must be a JSON {kind.__name__}")
    if not isinstance(info["singan_version"], str):
        raise RunError(f"{path}: field 'singan_version' must be a string")
    try:
        config = SinGANConfig.from_dict(info["config"])
    except ConfigError as e:
        raise RunError(f"{path}: {e}") from None
    sizes = info["sizes"]
    ok = (isinstance(sizes, list) and 1 <= len(sizes) <= 64 and all(
        isinstance(s, list) and len(s) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 100_000 for v in s)
        for s in sizes))
    if not ok:
        raise RunError(f"{path}: 'sizes' must be a list of [height, width] pairs of positive ints")
    if any(a[0] > b[0] or a[1] > b[1] for a, b in zip(sizes, sizes[1:])):
        raise RunError(f"{path}: 'sizes' must grow from the coarsest scale to the finest")
    if max(sizes[-1]) > config.max_size + 1 or sum(h * w for h, w in sizes) > validate.MAX_PIXELS:
        raise RunError(f"{path}: 'sizes' are larger than the config's max_size allows")
    sf = info["scale_factor"]
    if not (isinstance(sf, (int, float)) and not isinstance(sf, bool) and math.isfinite(sf)
            and 0 < sf <= 1):
        raise RunError(f"{path}: 'scale_factor' must be a number in (0, 1]")
    info = dict(info)
    info["config"] = config
    info["sizes"] = [tuple(s) for s in sizes]
    return info


def load(run_dir: str | os.PathLike, device: torch.device | str = "cpu", *,
         allow_incomplete: bool = False) -> SinGAN:
    """Load a trained model from a run folder, in eval mode on `device`.

    Everything is checked before a tensor is read: config.json, then the tensor names, dtypes
    and shapes in the model file's header against those the config implies. Raises RunError if
    the folder is not a run, is corrupt, or (unless `allow_incomplete`) its training did not
    finish. With `allow_incomplete`, a run stopped during its first scale loads with no
    generator.
    """
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    path = run_dir / MODEL_NAME
    specs, meta = validate.read_safetensors_header(path)
    num_scales = len(info["sizes"])
    num_trained = _meta_int(meta, "num_trained", path)
    if not (0 if allow_incomplete else 1) <= num_trained <= num_scales:
        raise RunError(f"{path}: invalid 'num_trained' metadata ({num_trained} for "
                       f"{num_scales} scales)")
    if num_trained < num_scales and not allow_incomplete:
        raise RunError(f"{run_dir}: training stopped after {num_trained} of {num_scales} "
                       f"scales; finish it with `singan train --resume --out {run_dir}`")
    with torch.device("meta"):  # the expected tensors, without allocating them
        ref = SinGAN(info["config"], info["sizes"], info["scale_factor"])
        ref.grow_to(num_trained)
    validate.compare_specs(specs, _specs(ref), path)
    tensors = _read_safetensors(path, specs)
    model = SinGAN(info["config"], info["sizes"], info["scale_factor"])
    model.grow_to(num_trained)
    model.load_state_dict(tensors, strict=True)
    return model.to(device).eval()


def load_train_state(run_dir: str | os.PathLike, model: SinGAN) -> TrainState:
    """Read train_state.safetensors of a run for resuming `model` (loaded with
    `allow_incomplete=True`); checked like `load` before any tensor is read.

    The state's scale is the last finished one (-1: none yet, no critic saved); it may be one
    behind the model when a crash came between writing the two files.
    """
    path = Path(run_dir) / STATE_NAME
    specs, meta = validate.read_safetensors_header(path)
    scale = _meta_int(meta, "scale", path)
    if not max(-1, model.num_trained - 2) <= scale < model.num_trained:
        raise RunError(f"{path}: state is for scale {scale}, but the model has "
                       f"{model.num_trained} trained scales")
    rng = specs.get("rng_state")
    if rng is None or rng[0] != "U8" or len(rng[1]) != 1:
        raise RunError(f"{path}: missing or invalid random generator state")
    expected = {"rng_state": rng}
    if scale >= 0:
        with torch.device("meta"):
            ref = model.new_discriminator(scale)
        expected.update({f"discriminator.{k}": v for k, v in _specs(ref).items()})
    validate.compare_specs(specs, expected, path)
    tensors = _read_safetensors(path, specs)
    rng_state = tensors.pop("rng_state")
    disc = {k[len("discriminator."):]: v for k, v in tensors.items()}
    pool_seed = _meta_int(meta, "pool_seed", path) if "pool_seed" in meta else None
    if pool_seed is not None and not 0 <= pool_seed < 2**63:
        raise RunError(f"{path}: invalid 'pool_seed' metadata")
    return TrainState(scale=scale, discriminator=disc, rng_state=rng_state, pool_seed=pool_seed)

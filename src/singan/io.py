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
from PIL import Image, ImageOps, UnidentifiedImageError
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from . import __version__
from .config import SinGANConfig
from .errors import ConfigError, InputError, RunError
from .models import SinGAN
from .training import TrainState

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
MODEL_NAME = "model.safetensors"
STATE_NAME = "train_state.safetensors"
MAX_PIXELS = 64_000_000  # images with more pixels are refused before decoding
MAX_CONFIG_BYTES = 1_000_000

# --- images ----------------------------------------------------------------------------------


def open_image(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open and decode an image file (first frame, EXIF rotation applied, mode unchanged).

    Raises InputError with the file name for a missing path, a folder, a non-image, a corrupt or
    truncated file, or more than `max_pixels` pixels (checked before decoding).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image file")
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > max_pixels:
                raise InputError(f"{path}: image is {w}x{h} = {w * h} pixels, more than the "
                                 f"limit of {max_pixels}")
            im.seek(0)
            im = ImageOps.exif_transpose(im)
            im.load()
            return im
    except InputError:
        raise
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError:
        raise InputError(f"{path}: image has too many pixels (decompression bomb)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise InputError(f"{path}: image is corrupt or truncated ({e})") from None


def read_image(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Open an image file as 8-bit RGB (see `open_image` for the checks)."""
    return to_rgb(open_image(path, max_pixels=max_pixels))


def to_rgb(im: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB: grayscale is repeated, alpha is dropped."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        a = np.clip(a / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        im = Image.fromarray(a, mode="L")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
    return im.convert("RGB")


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


def load_image(path: str | os.PathLike, *, max_pixels: int = MAX_PIXELS) -> torch.Tensor:
    """Read an image file as a (1, 3, H, W) tensor in [-1, 1]."""
    return image_to_tensor(read_image(path, max_pixels=max_pixels))


def save_image(x: torch.Tensor, path: str | os.PathLike) -> Path:
    """Write one image tensor in [-1, 1] as PNG (or the format the suffix names), atomically."""
    path = Path(path)
    im = tensor_to_image(x)
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    return atomic_write(path, lambda f: im.save(f, format=fmt))


# --- atomic files ----------------------------------------------------------------------------


def _umask_mode() -> int:
    """Permissions a newly created file would get (mkstemp makes 0600 files)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: Path, write) -> Path:
    """Write a file through a temporary file in the same folder and rename it into place.

    `write` receives a binary file object. A crash leaves either the old file or the new one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _write_safetensors(path: Path, tensors: dict[str, torch.Tensor],
                       metadata: dict[str, str]) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    parent = Path(path).parent
    parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{Path(path).name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _umask_mode())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    if not path.is_file():
        raise RunError(f"{path}: missing")
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise RunError(f"{path}: corrupt or truncated safetensors file ({e})") from None
    for k, v in tensors.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise RunError(f"{path}: tensor {k!r} holds NaN or infinite values")
    return tensors, meta


# --- run folders -----------------------------------------------------------------------------


def run_info(model: SinGAN, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The content of config.json for a model."""
    info = {
        "format_version": FORMAT_VERSION,
        "singan_version": __version__,
        "config": model.config.to_dict(),
        "sizes": [list(s) for s in model.sizes],
        "scale_factor": model.scale_factor,
    }
    if extra:
        info.update(extra)
    return info


def save_run(model: SinGAN, run_dir: str | os.PathLike, state: TrainState | None = None,
             extra: dict[str, Any] | None = None) -> Path:
    """Write config.json, model.safetensors and (optionally) train_state.safetensors atomically.

    The model file goes first and the training state second, so a crash between the two leaves a
    state one scale behind, from which resuming retrains that scale.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    info = run_info(model, extra)
    text = json.dumps(info, indent=2) + "\n"
    atomic_write(run_dir / CONFIG_NAME, lambda f: f.write(text.encode()))
    meta = {"format_version": str(FORMAT_VERSION), "num_trained": str(model.num_trained),
            "config": json.dumps(info)}
    _write_safetensors(run_dir / MODEL_NAME, model.state_dict(), meta)
    if state is not None:
        tensors = {f"discriminator.{k}": v for k, v in state.discriminator.items()}
        if state.rng_state is not None:
            tensors["rng_state"] = state.rng_state
        _write_safetensors(run_dir / STATE_NAME, tensors,
                           {"format_version": str(FORMAT_VERSION), "scale": str(state.scale)})
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
    if not path.is_file():
        raise RunError(f"{run_dir}: not a SinGAN run (no {CONFIG_NAME})")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise RunError(f"{path}: too large to be a run config")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunError(f"{path}: not valid JSON ({e})") from None
    return check_run_info(info, path)


def check_run_info(info: Any, path: Path | str) -> dict[str, Any]:
    if not isinstance(info, dict):
        raise RunError(f"{path}: must hold a JSON object")
    version = info.get("format_version")
    if version != FORMAT_VERSION:
        raise RunError(f"{path}: unsupported format_version {version!r} (this singan reads "
                       f"{FORMAT_VERSION})")
    try:
        config = SinGANConfig.from_dict(info.get("config"))
    except ConfigError as e:
        raise RunError(f"{path}: {e}") from None
    sizes = info.get("sizes")
    ok = (isinstance(sizes, list) and 1 <= len(sizes) <= 64 and all(
        isinstance(s, list) and len(s) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 100_000 for v in s)
        for s in sizes))
    if not ok:
        raise RunError(f"{path}: 'sizes' must be a list of [height, width] pairs of positive ints")
    sf = info.get("scale_factor")
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

    Raises RunError if the folder is not a run, is corrupt, or (unless `allow_incomplete`) its
    training did not finish.
    """
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    model = SinGAN(info["config"], info["sizes"], info["scale_factor"])
    tensors, meta = _read_safetensors(run_dir / MODEL_NAME)
    try:
        num_trained = int(meta.get("num_trained", "-1"))
    except ValueError:
        num_trained = -1
    if not 1 <= num_trained <= model.num_scales:
        raise RunError(f"{run_dir / MODEL_NAME}: missing or invalid 'num_trained' metadata")
    if num_trained < model.num_scales and not allow_incomplete:
        raise RunError(f"{run_dir}: training stopped after {num_trained} of {model.num_scales} "
                       f"scales; finish it with `singan train --resume --out {run_dir}`")
    model.grow_to(num_trained)
    _load_state(model, tensors, run_dir / MODEL_NAME)
    return model.to(device).eval()


def _load_state(module: torch.nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    expected = module.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
        if extra:
            parts.append(f"unexpected {', '.join(extra[:5])}" + (" ..." if len(extra) > 5 else ""))
        raise RunError(f"{path}: tensors do not match the config ({'; '.join(parts)})")
    for k, v in expected.items():
        if tensors[k].shape != v.shape or tensors[k].dtype != v.dtype:
            raise RunError(f"{path}: tensor {k!r} has shape {tuple(tensors[k].shape)} "
                           f"{tensors[k].dtype}, expected {tuple(v.shape)} {v.dtype}")
    module.load_state_dict(tensors, strict=True)


def load_train_state(run_dir: str | os.PathLike, model: SinGAN) -> TrainState:
    """Read train_state.safetensors of a run for resuming."""
    path = Path(run_dir) / STATE_NAME
    tensors, meta = _read_safetensors(path)
    try:
        scale = int(meta.get("scale", ""))
    except ValueError:
        raise RunError(f"{path}: missing or invalid 'scale' metadata") from None
    if not 0 <= scale < model.num_trained:
        raise RunError(f"{path}: state is for scale {scale}, but the model has "
                       f"{model.num_trained} trained scales")
    rng = tensors.pop("rng_state", None)
    disc = {k[len("discriminator."):]: v for k, v in tensors.items()
            if k.startswith("discriminator.")}
    if len(disc) != len(tensors):
        raise RunError(f"{path}: unexpected tensors in the training state")
    ref = model.new_discriminator(scale)
    _load_state(ref, disc, path)
    if rng is None or rng.dtype != torch.uint8 or rng.dim() != 1:
        raise RunError(f"{path}: missing or invalid random generator state")
    return TrainState(scale=scale, discriminator=disc, rng_state=rng)

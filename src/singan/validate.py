"""The validation layer: every file singan reads is checked here before it is used.

Files come from anywhere (images from the internet, run folders from other people), so each
reader checks what a file claims to be before decoding or allocating anything big:
- paths: missing, a folder, a symbolic-link loop, a device or pipe, unreadable, empty;
- images: header size against a pixel limit (before decoding), minimum side, decoder errors
  (anything the decoder raises on a malformed file becomes an InputError);
- JSON: size limit, encoding, nesting depth;
- safetensors: the header is parsed here (length, JSON, dtypes, shapes, offsets inside the file)
  so that tensor names and shapes are compared with what the config implies before any tensor
  is read;
- resources: pixel limits and memory estimates for training and sampling.

Problems raise `InputError` (inputs) or `RunError` (run folders) with the file name; notices
(an animated image whose first frame is used, ...) are `InputNotice` warnings, which the CLI
prints. Nothing here prints.
"""

from __future__ import annotations

import errno
import json
import math
import os
import stat
import warnings
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ConfigError, InputError, RunError, SinGANError

MAX_PIXELS = 64_000_000  # default limit on pixels of an input image, checked before decoding
MAX_PIXELS_ENV = "SINGAN_MAX_PIXELS"  # environment variable that overrides MAX_PIXELS
MIN_SIDE = 8  # smallest accepted image side
MAX_JSON_BYTES = 1_000_000
MAX_HEADER_BYTES = 16 * 2**20  # safetensors header limit (ours are a few kB)

# safetensors dtype -> bytes per element (the types singan writes, plus the common others).
SAFETENSORS_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
                      "I8": 1, "U8": 1, "BOOL": 1}


from .errors import InputNotice, notice  # noqa: E402,F401 (until the last users move)


# --- paths -----------------------------------------------------------------------------------


def check_file(path: str | os.PathLike, what: str = "file",
               error: type[SinGANError] = InputError) -> os.stat_result:
    """Check that `path` is a readable regular file; returns its stat.

    Raises `error` naming the file for a missing path, a folder, a symbolic-link loop, a device,
    pipe or socket, or a file that cannot be read.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise error(f"{path}: symbolic link loop") from None
        raise error(f"{path}: cannot access ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{path}: is a folder, not {what}")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: not a regular file (a device, pipe or socket), not {what}")
    if not os.access(path, os.R_OK):
        raise error(f"{path}: permission denied")
    return st


# --- images ----------------------------------------------------------------------------------


def pixel_limit(max_pixels: int | None = None) -> int:
    """The pixel limit: `max_pixels`, else $SINGAN_MAX_PIXELS, else MAX_PIXELS."""
    if max_pixels is not None:
        value, origin = max_pixels, "max_pixels"
    elif os.environ.get(MAX_PIXELS_ENV):
        value, origin = os.environ[MAX_PIXELS_ENV], MAX_PIXELS_ENV
    else:
        return MAX_PIXELS
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{origin} must be a whole number of pixels, got {value!r}") from None
    if value < 1:
        raise ConfigError(f"{origin} must be at least 1, got {value}")
    return value


def decode_image(path: str | os.PathLike, *, max_pixels: int | None = None,
                 min_side: int = MIN_SIDE) -> Image.Image:
    """Open and decode an image file: first frame, EXIF rotation applied, mode unchanged.

    The size in the header is checked against the pixel limit before any pixel is decoded.
    An animated file gives its first frame and an `InputNotice`; so does each warning of the
    decoder (e.g. a truncated but readable TIFF).
    """
    st = check_file(path, "an image file")
    if st.st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    limit = pixel_limit(max_pixels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, animated = _decode(path, limit, min_side)
    if animated:
        notice(f"{path}: animated image; using its first frame")
    # Pillow warns above its own pixel limit; ours, checked in _decode, is the one that applies.
    said = {str(w.message) for w in caught if not issubclass(w.category,
                                                             Image.DecompressionBombWarning)}
    for message in sorted(said)[:3]:
        notice(f"{path}: {message}")
    return out


def _decode(path: str | os.PathLike, limit: int, min_side: int) -> tuple[Image.Image, bool]:
    try:
        im = Image.open(path)
    except UnidentifiedImageError:
        raise InputError(f"{path}: not an image file (or a format Pillow cannot read)") from None
    except Image.DecompressionBombError:  # Pillow's own ceiling, 2 * Image.MAX_IMAGE_PIXELS
        ceiling = min(limit, 2 * (Image.MAX_IMAGE_PIXELS or limit))
        raise InputError(f"{path}: image declares more pixels than the limit of {ceiling} "
                         f"(a decompression bomb?); refused before decoding") from None
    except Exception as e:  # a malformed header may raise anything inside the decoder
        raise InputError(f"{path}: cannot read image header ({_describe(e)})") from None
    with im:
        w, h = im.size
        if w * h > limit:
            raise InputError(f"{path}: image is {w}x{h} = {w * h} pixels, more than the limit "
                             f"of {limit}; refused before decoding (raise the limit with "
                             f"--max-pixels or ${MAX_PIXELS_ENV})")
        if min(w, h) < min_side:
            raise InputError(f"{path}: image is {w}x{h} pixels, too small (at least {min_side} "
                             f"px per side needed)")
        try:
            animated = bool(getattr(im, "is_animated", False))
            im.seek(0)
            out = ImageOps.exif_transpose(im)
            out.load()
        except Exception as e:  # truncated or corrupt data: any decoder error
            raise InputError(f"{path}: image is corrupt or truncated ({_describe(e)})") from None
    return out, animated


def _describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


# --- JSON ------------------------------------------------------------------------------------


def read_json(path: str | os.PathLike, what: str = "a JSON file",
              error: type[SinGANError] = RunError, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Read a small JSON file, refusing large, non-UTF-8, malformed or absurdly nested ones."""
    st = check_file(path, what, error)
    if st.st_size > max_bytes:
        raise error(f"{path}: {st.st_size} bytes, too large for {what} (limit {max_bytes})")
    try:
        with open(path, "rb") as f:
            text = f.read(max_bytes + 1).decode("utf-8")
        return json.loads(text)
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise error(f"{path}: not valid JSON ({e})") from None
    except (ValueError, RecursionError) as e:  # over-long integers, deep nesting
        raise error(f"{path}: unreadable JSON ({_describe(e)})") from None
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror})") from None


# --- safetensors -----------------------------------------------------------------------------

TensorSpec = tuple[str, tuple[int, ...]]  # (safetensors dtype, shape)


def read_safetensors_header(path: str | os.PathLike,
                            error: type[SinGANError] = RunError
                            ) -> tuple[dict[str, TensorSpec], dict[str, str]]:
    """Parse and check the header of a safetensors file without reading any tensor.

    Returns ({name: (dtype, shape)}, metadata). Every tensor's byte range must lie inside the
    file and match its dtype and shape.
    """
    st = check_file(path, "a safetensors file", error)
    size = st.st_size
    if size < 8:
        raise error(f"{path}: corrupt or truncated safetensors file ({size} bytes)")
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n > MAX_HEADER_BYTES or n > size - 8:
                raise error(f"{path}: corrupt or truncated safetensors file (header length {n} "
                            f"is larger than the {'file' if n > size - 8 else 'limit'})")
            raw = f.read(n)
    except OSError as e:
        raise error(f"{path}: cannot read ({e.strerror})") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise error(f"{path}: corrupt or truncated safetensors file (header is not JSON)") \
            from None
    if not isinstance(header, dict):
        raise error(f"{path}: corrupt safetensors file (header is not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    if not (isinstance(meta, dict) and all(isinstance(k, str) and isinstance(v, str)
                                           for k, v in meta.items())):
        raise error(f"{path}: corrupt safetensors file (metadata must map strings to strings)")
    data_len = size - 8 - n
    specs = {}
    for name, entry in header.items():
        specs[name] = _check_entry(entry, data_len, lambda msg, name=name: error(
            f"{path}: corrupt or truncated safetensors file (tensor {name!r}: {msg})"))
    return specs, meta


def _check_entry(entry: Any, data_len: int, fail) -> TensorSpec:
    if not isinstance(entry, dict):
        raise fail("entry is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in SAFETENSORS_DTYPES:
        raise fail(f"unsupported dtype {dtype!r}")
    if not (isinstance(shape, list) and len(shape) <= 8 and all(
            type(v) is int and 0 <= v < 2**40 for v in shape)):
        raise fail("bad shape")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(
            type(v) is int for v in offsets) and 0 <= offsets[0] <= offsets[1] <= data_len):
        raise fail("data lies outside the file")
    if offsets[1] - offsets[0] != math.prod(shape) * SAFETENSORS_DTYPES[dtype]:
        raise fail("byte length does not match dtype and shape")
    return dtype, tuple(shape)


def compare_specs(found: dict[str, TensorSpec], expected: dict[str, TensorSpec], path: Path,
                  error: type[SinGANError] = RunError) -> None:
    """Raise `error` unless a file holds exactly the expected tensor names, dtypes and shapes."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:5])}" + (" ..." if len(missing) > 5 else ""))
        if extra:
            parts.append(f"unexpected {', '.join(extra[:5])}" + (" ..." if len(extra) > 5 else ""))
        raise error(f"{path}: tensors do not match the config ({'; '.join(parts)})")
    for k, (dtype, shape) in expected.items():
        if found[k] != (dtype, shape):
            raise error(f"{path}: tensor {k!r} has shape {found[k][1]} {found[k][0]}, expected "
                        f"{shape} {dtype}")


# --- resources -------------------------------------------------------------------------------

GIB = 2**30


def available_memory(device: Any) -> int | None:
    """Bytes free for tensors on `device` (a torch.device), or None when unknown."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(n: float) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB / 10 else f"{n / 2**20:.0f} MiB"


def generation_memory(config: Any, height: int, width: int, batch: int = 1) -> int:
    """Estimated peak bytes for generating `batch` images of height x width one at a time.

    The finest scale dominates: about three activations of the widest layer on the padded image
    live at once, plus the batch of outputs and their concatenated copy. Calibrated on CPU with
    bench/memory.py (1.06-1.09x the measured peak at 512-1024 px).
    """
    c, p = config.max_channels, config.pad
    per_sample = 4 * (height + 2 * p) * (width + 2 * p) * (3 * c + 12)
    outputs = 2 * 4 * 3 * height * width * batch
    return int(1.1 * (per_sample + outputs))


def check_output_size(height: int, width: int, config: Any, *, batch: int = 1,
                      available: int | None = None, max_pixels: int | None = None) -> int:
    """Refuse an output larger than the pixel limit or than the memory available.

    Returns the estimated bytes needed (see `generation_memory`); raises ConfigError with the
    computed need when `available` (bytes, e.g. from `available_memory`) is too small.
    """
    limit = pixel_limit(max_pixels)
    if height * width > limit:
        raise ConfigError(f"output {width}x{height} = {height * width} pixels is over the limit "
                          f"of {limit} (--max-pixels or ${MAX_PIXELS_ENV})")
    need = generation_memory(config, height, width, batch)
    if available is not None and need > available:
        raise ConfigError(f"an output of {width}x{height} needs about {format_bytes(need)} of "
                          f"memory, more than the {format_bytes(available)} available; ask for "
                          f"a smaller size (or a smaller --batch)")
    return need


# Calibration of `training_memory` on CPU (bench/memory.py; within 0.95-1.1x of the measured
# peak for 64-256 px and 32-64 channels): bytes per activation (pixel x channel x layer) for one
# learning generator plus the critic with its gradient-penalty graph, per extra learning
# generator (train_depth > 1: an extrapolation, not measured), and a fixed part.
TRAIN_BYTES_PER_ACT = 36
TRAIN_BYTES_PER_DEPTH = 12
TRAIN_BASE_BYTES = 96 * 2**20
# The pool of random coarse inputs (`prev_pool`) is held at full size. Each scale's pool is made
# from the previous scale's, in chunks of at most POOL_CHUNK_FLOATS activation floats
# (Trainer._advance_pool), so for a moment both pools and about POOL_CHAIN_ACTS such
# activations are alive. Whole `fast` runs (bench/memory.py): 384x512 1416 MiB measured,
# 750x1000 2030 MiB; the estimate is 1.04x both.
POOL_CHUNK_FLOATS = 1 << 26
POOL_CHAIN_ACTS = 4.5


def training_memory(config: Any, sizes: list[tuple[int, int]]) -> int:
    """Estimated peak bytes for training on a pyramid of `sizes` (the finest scale dominates;
    scales larger than `crop_size` train on crops of that side; a `prev_pool` of random inputs
    is held at full size)."""
    c, p = config, config.pad
    crop = c.crop_size or 1 << 30
    peak = 0
    for n, (h, w) in enumerate(sizes):
        acts = (min(h, crop) + 2 * p) * (min(w, crop) + 2 * p) * c.channels(n) * c.num_layers
        depth = min(c.train_depth, n + 1)
        need = acts * (TRAIN_BYTES_PER_ACT + TRAIN_BYTES_PER_DEPTH * depth)
        if c.prev_pool:
            lo = n - depth + 1
            hp, wp = sizes[max(0, lo - 1)]
            pool = 4 * c.prev_pool * 3 * sizes[lo][0] * sizes[lo][1]
            pool_before = 4 * c.prev_pool * 3 * hp * wp  # the pool it is made from
            chain = 4 * min(POOL_CHUNK_FLOATS, c.prev_pool * c.max_channels * (hp + 2 * p) *
                            (wp + 2 * p))
            need = max(need + pool, pool + pool_before + POOL_CHAIN_ACTS * chain)
        peak = max(peak, need)
    return int(peak) + TRAIN_BASE_BYTES

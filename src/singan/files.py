"""Reading and writing files safely: every file singan reads is checked here before it is used.

Files come from anywhere (images from the internet, run folders from other people), so each
reader checks what a file claims to be before decoding or allocating anything big:
- paths: missing, a folder, a symbolic-link loop, a device or pipe, unreadable, empty;
- images: header size against the pixel limit (`budget.pixel_limit`, before decoding), minimum
  side, decoder errors (anything the decoder raises on a malformed file becomes an InputError);
- JSON: size limit, encoding, nesting depth;
- safetensors: the header is parsed here (length, JSON, dtypes, shapes, offsets inside the file)
  so that tensor names and shapes are compared with what the config implies before any tensor
  is read.
Writes are atomic (`atomic_write`): a crash leaves the old file or the new one, never a mix.

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
import tempfile
import warnings
from pathlib import Path
from typing import Any

import torch
from PIL import Image, ImageOps, UnidentifiedImageError
from safetensors import SafetensorError, safe_open
from safetensors.torch import save as save_safetensors

from .budget import MAX_PIXELS_ENV, format_bytes, image_memory, pixel_limit
from .bounds import brief, brief_names
from .errors import InputError, RunError, SinGANError, notice

MIN_SIDE = 8  # smallest accepted image side
MAX_JSON_BYTES = 1_000_000
MAX_HEADER_BYTES = 16 * 2**20  # safetensors header limit (ours are a few kB)

# safetensors dtype -> bytes per element (the types singan writes, plus the common others).
SAFETENSORS_DTYPES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2,
                      "I8": 1, "U8": 1, "BOOL": 1}


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


def decode_image(path: str | os.PathLike, *, max_pixels: int | None = None,
                 min_side: int = MIN_SIDE, available: int | None = None) -> Image.Image:
    """Open and decode an image file: first frame, EXIF rotation applied, mode unchanged.

    The size in the header is checked against the pixel limit before any pixel is decoded, and
    with `available` (bytes free) the memory that decoding it into a tensor takes
    (`budget.image_memory`) against that.
    An animated file gives its first frame and an `InputNotice`; so does each warning of the
    decoder (e.g. a truncated but readable TIFF).
    """
    st = check_file(path, "an image file")
    if st.st_size == 0:
        raise InputError(f"{path}: empty file (0 bytes)")
    limit = pixel_limit(max_pixels)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out, animated = _decode(path, limit, min_side, available)
    if animated:
        notice(f"{path}: animated image; using its first frame")
    # Pillow warns above its own pixel limit; ours, checked in _decode, is the one that applies.
    said = {str(w.message) for w in caught if not issubclass(w.category,
                                                             Image.DecompressionBombWarning)}
    for message in sorted(said)[:3]:
        notice(f"{path}: {message}")
    return out


def _decode(path: str | os.PathLike, limit: int, min_side: int,
            available: int | None) -> tuple[Image.Image, bool]:
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
        need = image_memory(h, w)
        if available is not None and w * h <= limit and need > available:
            raise InputError(f"{path}: reading this {w}x{h} image needs about "
                             f"{format_bytes(need)} of memory, more than the "
                             f"{format_bytes(available)} free; use a smaller image")
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
                raise error(f"{path}: corrupt or truncated safetensors file (its header length "
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
            f"{path}: corrupt or truncated safetensors file (tensor {brief(name)}: {msg})"))
    return specs, meta


def _check_entry(entry: Any, data_len: int, fail) -> TensorSpec:
    if not isinstance(entry, dict):
        raise fail("entry is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in SAFETENSORS_DTYPES:
        raise fail("unsupported dtype")
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
            parts.append(f"missing {brief_names(missing)}")
        if extra:
            parts.append(f"unexpected {brief_names(extra)}")
        raise error(f"{path}: tensors do not match the config ({'; '.join(parts)})")
    for k, (dtype, shape) in expected.items():
        if found[k] != (dtype, shape):
            raise error(f"{path}: tensor {brief(k)} has shape {found[k][1]} {found[k][0]}, "
                        f"expected {shape} {dtype}")


# --- writing ---------------------------------------------------------------------------------


def new_file_mode() -> int:
    """Permissions a newly created file would get (mkstemp makes 0600 files)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write(path: Path, write, *, replace: bool = True) -> Path:
    """Write a file through a temporary file in the same folder and rename it into place.

    `write` receives a binary file object. A crash (even SIGKILL or a full disk) leaves either
    the old file or the new one, never a mix; the temporary file is removed on errors. The rename
    replaces a symbolic link at `path` instead of writing through it. An OSError (a full disk)
    names `path`. With replace=False nothing at `path` (a file, a link) is ever replaced: the
    file is linked into place, FileExistsError when the name is taken.
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
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)  # fails when path exists, even as a dangling link
            os.unlink(tmp)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError) and not e.filename:
            e.filename = str(path)
        raise
    _fsync_dir(path.parent)
    return path


def open_append(path: str | os.PathLike, binary: bool = False):
    """Open a file for appending (created if missing) without following a symbolic link: a link
    at `path` raises OSError (ELOOP) instead of letting the writes land where it points."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, 0o666)
    return os.fdopen(fd, "ab") if binary else os.fdopen(fd, "a", encoding="utf-8")


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


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor],
                      metadata: dict[str, str]) -> None:
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    data = save_safetensors(tensors, metadata=metadata)
    atomic_write(path, lambda f: f.write(data))


def state_specs(module: torch.nn.Module) -> dict[str, TensorSpec]:
    """{name: (safetensors dtype, shape)} of a module's state dict (on the meta device too)."""
    names = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16",
             torch.bfloat16: "BF16", torch.int64: "I64", torch.int32: "I32", torch.uint8: "U8"}
    return {k: (names[v.dtype], tuple(v.shape)) for k, v in module.state_dict().items()}


def read_tensors(path: Path, expected: dict[str, TensorSpec],
                 error: type[SinGANError] = RunError) -> dict[str, torch.Tensor]:
    """Read the tensors of a file whose header `read_safetensors_header` has checked against
    `expected`; NaN and infinite values are refused."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            tensors = {k: f.get_tensor(k) for k in expected}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise error(f"{path}: corrupt or truncated safetensors file ({e})") from None
    for k, v in tensors.items():
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise error(f"{path}: tensor {k!r} holds NaN or infinite values")
    return tensors

"""What the page's tabs share: error handling, numbers, the model cache, and the page context.

Conventions:
- Every handler is wrapped in `guard`: the library's errors become a message in the page, and
  no message shows a path on the server (`public`: paths under the runs folder are shown
  relative to it, uploads and temporary files by their file name).
- Every number the page takes is checked by `number` against its declaration in
  `singan.bounds` (config fields by `make_config`) before anything else, so NaN, a string or a
  seed past 2^63 from an API client is a message, not a traceback. Number boxes hand their
  value over as sent (`number_box`); sliders get Gradio's range check first, which lets NaN
  through to the handler's check and answers other values out of range with a message.
"""

from __future__ import annotations

import functools
import io as pyio
import logging
import os
import re
import tempfile
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from PIL import Image

from ..bounds import Bound
from ..errors import SinGANError, UIError
from ..files import atomic_write
from ..images import tensor_to_image
from ..models import SinGAN
from ..run import load
from ..run.layout import MODEL_NAME
from .runs import RunStatus, Workers, progress_text

log = logging.getLogger(__name__)

MAX_SCALES = 64  # the most scales a run folder may have (run.check_run_info)


# Server folders whose paths page messages shorten: folder -> shown relative to it (True: the
# runs folders) or by file name alone (False: uploads and temporary files).
_HIDDEN: dict[str, bool] = {}
_BEFORE = r"(?<![\w.~/\\-])"  # a folder's path starts a path, ...
_AFTER = r"(?![^/\\\s'\":,;)])"  # ... ends at a separator, space, quote, punctuation, end
_PATH_TAIL = r"((?:[/\\][^/\\\s'\"]+)*)"  # and the components after it


def hide_folder(folder: str | os.PathLike, *, relative: bool) -> None:
    """Shorten paths under `folder` in page messages: to the part below it (relative=True) or
    to their last component."""
    for form in {os.path.abspath(folder), os.path.realpath(folder)}:
        _HIDDEN[form.rstrip("/\\") or form] = relative


def public(message: str) -> str:
    """A message for the page: every path under a hidden folder (see `hide_folder`) shortened."""
    for folder in sorted(_HIDDEN, key=len, reverse=True):
        relative = _HIDDEN[folder]

        def short(m: re.Match) -> str:
            parts = [p for p in re.split(r"[/\\]", m[1]) if p]
            if not parts:
                return "the runs folder" if relative else "a temporary folder"
            return "/".join(parts) if relative else parts[-1]
        message = re.sub(_BEFORE + re.escape(folder) + _AFTER + _PATH_TAIL, short, message)
    return message


# Uploads live in Gradio's upload folder (inside the system's temporary folder unless
# GRADIO_TEMP_DIR says otherwise), named by their original file name.
hide_folder(tempfile.gettempdir(), relative=False)
hide_folder(os.environ.get("GRADIO_TEMP_DIR") or os.path.join(tempfile.gettempdir(), "gradio"),
            relative=False)


def guard(fn):
    """Turn the library's errors into a message in the page (gr.Error), never a traceback; no
    message shows a server path (`public`)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except SinGANError as e:
            raise gr.Error(public(str(e)), print_exception=False) from None
        except MemoryError:
            raise gr.Error("out of memory; try a smaller output or model",
                           print_exception=False) from None
        except Exception as e:  # a bug: keep the page alive and log the traceback
            log.exception("error in %s", fn.__name__)
            raise gr.Error(f"unexpected error ({type(e).__name__}: {public(str(e))}); see the "
                           f"server log", print_exception=False) from None
    return wrapper


def number(value, bound: Bound, name: str):
    """A number from the page or an API client, checked against its declaration in
    `singan.bounds` (ConfigError naming it otherwise). A whole float counts as a whole number:
    JSON and the page's widgets may send 4.0 for 4."""
    if bound.kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    return bound.check(value, name)


def whole(value):
    """A whole float as an int (see `number`), anything else as it is: for config fields, which
    `make_config` checks against `config.FIELD_BOUNDS`."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def number_box(value: float, label: str, **kw) -> gr.Number:
    """A box for a number that its handler checks (`number`). Gradio gets no precision or range:
    with them it rounds and compares the value itself, before the handler, and fails on NaN or
    on a string with a traceback instead of a message."""
    return gr.Number(value, label=label, **kw)


class Models:
    """Loads finished models for the handlers, keeping the last few in memory."""

    def __init__(self, workers: Workers, device: torch.device | str, keep: int = 2):
        self.workers, self.device, self.keep = workers, torch.device(device), keep
        self._cache: dict[tuple, SinGAN] = {}
        self._lock = threading.Lock()

    def key(self, name: str, status: RunStatus | None = None) -> tuple | None:
        """Identifies the model file of a finished run, or None while it has no model."""
        st = status or self.workers.status(name)
        if not st.has_model:
            return None
        f = (self.workers.path(name) / MODEL_NAME).stat()
        return name, f.st_mtime_ns, f.st_size

    def get(self, name: str | None) -> SinGAN:
        key = self.key(name)
        if key is None:
            raise UIError(f"run {name!r} has no finished model yet: "
                          f"{progress_text(self.workers.status(name)).replace('**', '')}")
        with self._lock:
            if key not in self._cache:
                model = load(self.workers.path(name), device=self.device)
                self._cache = {k: v for k, v in self._cache.items() if k[0] != name}
                while len(self._cache) >= self.keep:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = model
            return self._cache[key]


Refresh = Callable[[str | None, SinGAN | None], tuple]


@dataclass
class Context:
    """What every tab builder gets: the runs, the models, the run selector, and a place to
    register the components to refresh when the selected model changes."""

    workers: Workers
    models: Models
    run: gr.Dropdown
    tabs: gr.Tabs | None = None
    refreshers: list[tuple[list, Refresh]] = field(default_factory=list)
    # "Reuse these settings": app -> (its tab's id, {settings key: component}).
    reusable: dict[str, tuple[str, dict]] = field(default_factory=dict)
    # "Enlarge this result": (button, state holding the result's PNG path) of every tab.
    enlargers: list[tuple[gr.Button, gr.State]] = field(default_factory=list)
    sr_image: gr.File | None = None  # the Super-resolution tab's "image to enlarge"

    def on_model(self, outputs: list, refresh: Refresh) -> None:
        """Call refresh(run name, model or None) when another run or model is selected; it
        returns the new values (or component updates) of `outputs`."""
        self.refreshers.append((outputs, refresh))


def scale_slider(label: str, model: SinGAN | None, *, value: int | None = None,
                 minimum: int = 0, **kw) -> gr.Slider:
    """A slider over the model's scales (value None: the finest). Before a model is chosen it
    spans every possible scale and the library checks the value, so API calls work without
    selecting a run in the page first."""
    top = max(minimum + 1, model.num_scales - 1) if model is not None else MAX_SCALES - 1
    value = top if value is None and model is not None else (value or minimum)
    return gr.Slider(minimum, top, value=min(max(value, minimum), top), step=1, label=label,
                     **kw)


def to_image(x: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) in [-1, 1] -> RGB PIL image."""
    return tensor_to_image(x)


def mask_image(m: torch.Tensor) -> Image.Image:
    """(1, 1, H, W) or (H, W) in [0, 1] -> "L" PIL image."""
    a = (m.detach().float().clamp(0, 1).squeeze() * 255).round().byte().cpu().numpy()
    return Image.fromarray(np.ascontiguousarray(a), mode="L")


def save_png(image: Image.Image, target: Path) -> Path:
    """Write a PIL image as a PNG, atomically (never through a link at `target`)."""
    return atomic_write(target, lambda f: image.save(f, format="PNG"))


def write_zip(images: dict[str, Image.Image], f) -> None:
    """Write PIL images as PNGs into a zip (member name -> image) on a binary file object."""
    with zipfile.ZipFile(f, "w") as z:
        for member, im in images.items():
            buf = pyio.BytesIO()
            im.save(buf, format="PNG")
            z.writestr(member, buf.getvalue())


def zip_pngs(images: dict[str, Image.Image], target: Path) -> Path:
    """Write PIL images into a zip (member name -> image), atomically."""
    return atomic_write(target, lambda f: write_zip(images, f))


def model_summary(model: SinGAN, info: dict, file_name: str | None = None) -> str:
    """One line of Markdown describing a loaded model; `file_name`: the training image's
    original name (the web app keeps uploads under a name of its own)."""
    c = model.config
    sizes = ", ".join(f"{w}x{h}" for h, w in model.sizes)
    img = info.get("image") or {}
    src = f" on `{file_name or Path(str(img.get('source', '?'))).name}`" if img else ""
    first, last = c.iters_at(0, model.num_scales), c.iters_at(model.num_scales - 1,
                                                              model.num_scales)
    iters = first if first == last else f"{first}-{last}"
    return (f"{model.num_scales} scales, 0 to {model.num_scales - 1} (widths x heights {sizes}; "
            f"scale 0 = coarsest), mode `{c.mode}`, preset "
            f"`{info.get('preset', '?')}`{src}, widths {c.channels(0)}-"
            f"{c.channels(model.num_scales - 1)}, {iters} iterations per scale")

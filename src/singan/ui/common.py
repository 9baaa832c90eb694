"""What the page's tabs share: error handling, the model cache, and the page context."""

from __future__ import annotations

import functools
import io as pyio
import logging
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr
import numpy as np
import torch
from PIL import Image

from ..errors import SinGANError, UIError
from ..files import atomic_write
from ..images import tensor_to_image
from ..models import SinGAN
from ..run import load
from ..run.layout import MODEL_NAME
from .runs import RunStatus, Workers, progress_text

log = logging.getLogger(__name__)

MAX_SCALES = 64  # the most scales a run folder may have (run.check_run_info)


def guard(fn):
    """Turn the library's errors into a message in the page (gr.Error), never a traceback."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except SinGANError as e:
            raise gr.Error(str(e), print_exception=False) from None
        except MemoryError:
            raise gr.Error("out of memory; try a smaller output or model",
                           print_exception=False) from None
        except Exception as e:  # a bug: keep the page alive and log the traceback
            log.exception("error in %s", fn.__name__)
            raise gr.Error(f"unexpected error ({type(e).__name__}: {e}); see the server log",
                           print_exception=False) from None
    return wrapper


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
    refreshers: list[tuple[list, Refresh]] = field(default_factory=list)

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


def zip_pngs(images: dict[str, Image.Image], target: Path) -> Path:
    """Write PIL images into a zip (member name -> image), atomically."""
    def write(f) -> None:
        with zipfile.ZipFile(f, "w") as z:
            for member, im in images.items():
                buf = pyio.BytesIO()
                im.save(buf, format="PNG")
                z.writestr(member, buf.getvalue())
    return atomic_write(target, write)


def model_summary(model: SinGAN, info: dict) -> str:
    """One line of Markdown describing a loaded model."""
    c = model.config
    sizes = ", ".join(f"{h}x{w}" for h, w in model.sizes)
    img = info.get("image") or {}
    src = f" on `{Path(str(img.get('source', '?'))).name}`" if img else ""
    first, last = c.iters_at(0, model.num_scales), c.iters_at(model.num_scales - 1,
                                                              model.num_scales)
    iters = first if first == last else f"{first}-{last}"
    return (f"{model.num_scales} scales ({sizes}; scale 0 = coarsest), mode `{c.mode}`, preset "
            f"`{info.get('preset', '?')}`{src}, widths {c.channels(0)}-"
            f"{c.channels(model.num_scales - 1)}, {iters} iterations per scale")

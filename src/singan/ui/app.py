"""The Gradio page: one Blocks app with a run selector and a tab per task.

Every event has a fixed `api_name`, so the app can be driven with `gradio_client` too. Handlers
raise `gr.Error` with the library's message for anything a user can fix; nothing a user uploads
is trusted: images go through `io.read_image`, model zips through `Workers.import_model`.
"""

from __future__ import annotations

import functools
import io as pyio
import logging
import os
import threading
import zipfile
from pathlib import Path

import gradio as gr
import torch

from .. import io
from ..config import DEFAULT_PRESET, MODES, PRESETS, make_config
from ..data import default_image
from ..errors import SinGANError
from ..models import SinGAN
from ..sample import generate
from .runs import RunStatus, UIError, Workers, latest_preview, progress_text, safe_name

log = logging.getLogger(__name__)

# Settings of the Train tab: config fields with a box of their own (others keep the preset's).
TRAIN_FIELDS = ("max_size", "min_size", "iters", "base_channels", "max_channels")
MAX_UPLOAD_BYTES = 1 << 30
POLL_SECONDS = 1.0
MAX_SCALES = 64  # the most scales a run folder may have (io.check_run_info)


def _guard(fn):
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

    def key(self, name: str) -> tuple | None:
        """Identifies the model file of a finished run, or None while it has no model."""
        st = self.workers.status(name)
        if not st.has_model:
            return None
        f = (self.workers.path(name) / io.MODEL_NAME).stat()
        return name, f.st_mtime_ns, f.st_size

    def get(self, name: str | None) -> SinGAN:
        if not name:
            raise UIError("no run selected: train a model or upload one first")
        key = self.key(name)
        if key is None:
            raise UIError(f"run {name!r} has no finished model yet: "
                          f"{progress_text(self.workers.status(name)).replace('**', '')}")
        with self._lock:
            if key not in self._cache:
                model = io.load(self.workers.path(name), device=self.device)
                self._cache = {k: v for k, v in self._cache.items() if k[0] != name}
                while len(self._cache) >= self.keep:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = model
            return self._cache[key]


def _image(x: torch.Tensor):
    return io.tensor_to_image(x)


def _zip_pngs(images: dict[str, object], target: Path) -> Path:
    """Write PIL images into a zip (member name -> image), atomically."""
    def write(f) -> None:
        with zipfile.ZipFile(f, "w") as z:
            for member, im in images.items():
                buf = pyio.BytesIO()
                im.save(buf, format="PNG")
                z.writestr(member, buf.getvalue())
    return io.atomic_write(target, write)


def _model_summary(model: SinGAN, info: dict) -> str:
    c = model.config
    sizes = ", ".join(f"{h}x{w}" for h, w in model.sizes)
    img = info.get("image", {})
    src = f" on `{Path(str(img.get('source', '?'))).name}`" if img else ""
    return (f"{model.num_scales} scales ({sizes}; scale 0 = coarsest), mode `{c.mode}`, preset "
            f"`{info.get('preset', '?')}`{src}, widths {c.channels(0)}-"
            f"{c.channels(model.num_scales - 1)}, {c.iters} iterations per scale")


def _scale_slider(label: str, model: SinGAN | None, value: int = 0, minimum: int = 0,
                  **kw) -> gr.Slider:
    """A slider over the model's scales; before a model is chosen it spans every possible scale
    (the library checks the value), so API calls need not select a run first."""
    top = max(minimum + 1, model.num_scales - 1) if model is not None else MAX_SCALES - 1
    return gr.Slider(minimum, top, value=min(max(value, minimum), top), step=1, label=label,
                     **kw)


def build_app(runs_dir: str | os.PathLike, device: torch.device | str = "cpu", *,
              workers: Workers | None = None, title: str = "SinGAN") -> gr.Blocks:
    """Build the web app over the run folders in `runs_dir`.

    Args:
        runs_dir: folder holding the run folders (created if missing); the app only reads and
            writes there.
        device: where the page's sampling and applications run; training workers get the same
            `--device` (a string like "cpu", "cuda", "auto").
        workers: the `Workers` that own the training subprocesses (default: a new one).
    """
    workers = workers or Workers(runs_dir, str(device))
    models = Models(workers, device)
    preset_names = sorted(PRESETS)

    # --- handlers ----------------------------------------------------------------------------

    def run_choices(selected: str | None = None):
        names = workers.names()
        value = selected if selected in names else (names[0] if names else None)
        return gr.Dropdown(choices=names, value=value)

    @_guard
    def list_runs(current: str | None = None):
        return run_choices(current)

    @_guard
    def poll(name: str | None, shown: str | None):
        """Progress text, newest preview (skipped when unchanged), button states, model key."""
        if not name:
            return ("No run selected. Train one in the **Train** tab or upload a model.",
                    None, "", gr.Button(interactive=False), gr.Button(visible=False), "")
        st: RunStatus = workers.status(name)
        prev = latest_preview(workers.path(name))
        prev_key = f"{prev}:{prev.stat().st_mtime_ns}" if prev else ""
        preview = gr.skip() if prev_key == shown else (str(prev) if prev else None)
        key = models.key(name)
        return (progress_text(st), preview, prev_key,
                gr.Button(interactive=st.state in ("starting", "running")),
                gr.Button(visible=st.state in ("interrupted", "lost")),
                ":".join(map(str, key)) if key else "")

    @_guard
    def model_settings(name: str | None, key: str):
        """Refresh what depends on the selected model once it is usable."""
        model = models.get(name) if key else None
        info = io.read_run_info(workers.path(name)) if key else {}
        summary = _model_summary(model, info) if model is not None else \
            "The selected run has no finished model yet."
        return (summary, _scale_slider("Start scale", model))

    @_guard
    def preset_settings(preset: str, mode: str):
        config = make_config(preset, mode)
        return tuple(getattr(config, f) for f in TRAIN_FIELDS)

    @_guard
    def check_image(path: str | None):
        """Validate an uploaded training image; show it and suggest a run name."""
        if path is None:
            return default_image(), ""
        im = io.read_image(path)
        return im, safe_name(Path(path).stem)

    @_guard
    def train(path: str | None, name: str, mode: str, preset: str, max_size: float,
              min_size: float, iters: float, base_channels: float, max_channels: float,
              seed: float):
        values = dict(zip(TRAIN_FIELDS, (max_size, min_size, iters, base_channels,
                                         max_channels)))
        if any(v is None for v in values.values()) or seed is None:
            raise UIError("fill in every setting (they start at the preset's values)")
        settings = {k: int(v) for k, v in values.items()}
        make_config(preset, mode, **settings)  # check before starting anything
        default = Path(path).stem if path else "default"
        run = workers.start(path, name.strip() or default, preset=preset, mode=mode,
                            settings=settings, seed=int(seed))
        return run_choices(run)

    @_guard
    def stop(name: str | None):
        if not workers.stop(workers.path(name).name):
            raise UIError(f"run {name!r} is not training")
        gr.Info(f"stopping {name}: the finished scales are being saved")

    @_guard
    def resume(name: str | None):
        workers.resume(workers.path(name).name)

    @_guard
    def sample(name: str | None, seed: float, count: float, start_scale: float,
               scale_h: float, scale_w: float):
        model = models.get(name)
        seed, count = int(seed), int(count)
        if not 1 <= count <= 64:
            raise UIError("count must be between 1 and 64")
        seeds = list(range(seed, seed + count))
        x = generate(model, count, seeds=seeds, start_scale=int(start_scale),
                     scale_h=float(scale_h), scale_w=float(scale_w))
        images = {f"seed{s:04d}.png": _image(x[i]) for i, s in enumerate(seeds)}
        target = workers.outputs(name) / (
            f"samples_seed{seeds[0]}-{seeds[-1]}_start{int(start_scale)}_"
            f"h{float(scale_h):g}_w{float(scale_w):g}.zip")
        _zip_pngs(images, target)
        gallery = [(im, member.removesuffix(".png")) for member, im in images.items()]
        return gallery, str(target)

    @_guard
    def download_model(name: str | None):
        return str(workers.export_model(workers.path(name).name))

    @_guard
    def upload_model(path: str | None, current: str | None):
        if path is None:
            return run_choices(current), ""
        run = workers.import_model(path)
        return run_choices(run), f"Loaded the model into run **{run}**."

    # --- layout ------------------------------------------------------------------------------

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(f"# {title}\nLearn a generative model from one image, then sample from it "
                    "and use it. Scale 0 is the coarsest.")
        with gr.Row(equal_height=True):
            # Custom values let API clients name any run; Workers.path checks the name.
            run = gr.Dropdown(label="Run", choices=[], value=None, scale=3,
                              allow_custom_value=True, elem_id="run-select")
            refresh = gr.Button("Refresh", scale=0, min_width=100)
        status = gr.Markdown(elem_id="run-status")
        preview_key = gr.State("")
        model_key = gr.State("")
        timer = gr.Timer(POLL_SECONDS)

        with gr.Tab("Train", id="train"):
            with gr.Row():
                with gr.Column():
                    train_file = gr.File(label="Training image (none: the embedded landscape)",
                                         file_types=["image"], type="filepath",
                                         elem_id="train-file")
                    train_preview = gr.Image(value=default_image(), label="Image to train on",
                                             format="png", interactive=False, height=200)
                    run_name = gr.Textbox(label="Run name", placeholder="from the image's name",
                                          elem_id="run-name")
                    with gr.Row():
                        mode = gr.Radio(list(MODES), value="generation", label="Mode")
                        preset = gr.Dropdown(preset_names, value=DEFAULT_PRESET, label="Preset")
                    defaults = make_config(DEFAULT_PRESET)
                    boxes = {}
                    for row in (TRAIN_FIELDS[:3], TRAIN_FIELDS[3:]):
                        with gr.Row():
                            for f in row:
                                boxes[f] = gr.Number(getattr(defaults, f), precision=0,
                                                     label=f.replace("_", " "),
                                                     elem_id=f"train-{f.replace('_', '-')}")
                            if len(row) < 3:
                                seed = gr.Number(0, precision=0, label="seed")
                    train_btn = gr.Button("Train", variant="primary", elem_id="train-button")
                with gr.Column():
                    preview = gr.Image(label="Latest scale (a random sample)", format="png",
                                       interactive=False, height=300, elem_id="train-preview")
                    with gr.Row():
                        stop_btn = gr.Button("Stop", variant="stop", interactive=False)
                        resume_btn = gr.Button("Resume", visible=False)

        with gr.Tab("Sample", id="sample"):
            with gr.Row():
                s_seed = gr.Number(0, precision=0, label="First seed")
                s_count = gr.Slider(1, 32, value=8, step=1, label="Count")
                s_start = _scale_slider("Start scale", None)
                s_h = gr.Slider(0.25, 4, value=1, step=0.25, label="Height x")
                s_w = gr.Slider(0.25, 4, value=1, step=0.25, label="Width x")
            s_btn = gr.Button("Sample", variant="primary", elem_id="sample-button")
            gallery = gr.Gallery(label="Samples", format="png", columns=4, height="auto",
                                 buttons=["download", "fullscreen"], elem_id="samples")
            s_zip = gr.File(label="All samples (zip)", interactive=False)

        with gr.Tab("Model files", id="model"):
            summary = gr.Markdown()
            with gr.Row():
                with gr.Column():
                    dl_btn = gr.Button("Download the model (zip)")
                    dl_file = gr.File(label="Model zip", interactive=False)
                with gr.Column():
                    up_file = gr.File(label="Upload a model zip (config.json + model.safetensors)",
                                      file_types=[".zip"], type="filepath")
                    up_msg = gr.Markdown()

        # --- events ---------------------------------------------------------------------------
        poll_out = [status, preview, preview_key, stop_btn, resume_btn, model_key]
        app.load(list_runs, [run], [run], api_name="list_runs")
        refresh.click(list_runs, [run], [run], api_name="refresh_runs")
        run.change(poll, [run, preview_key], poll_out, api_name="run_status")
        timer.tick(poll, [run, preview_key], poll_out, api_name="progress",
                   show_progress="hidden", concurrency_limit=None)
        model_key.change(model_settings, [run, model_key], [summary, s_start],
                         api_name="model_settings")
        gr.on([preset.change, mode.change], preset_settings, [preset, mode],
              list(boxes.values()), api_name="preset_settings")
        train_file.change(check_image, train_file, [train_preview, run_name],
                          api_name="check_image")
        train_btn.click(train, [train_file, run_name, mode, preset, *boxes.values(), seed],
                        [run], api_name="train")
        stop_btn.click(stop, [run], None, api_name="stop")
        resume_btn.click(resume, [run], None, api_name="resume")
        s_btn.click(sample, [run, s_seed, s_count, s_start, s_h, s_w], [gallery, s_zip],
                    api_name="sample")
        dl_btn.click(download_model, [run], [dl_file], api_name="download_model")
        up_file.upload(upload_model, [up_file, run], [run, up_msg], api_name="upload_model")
    return app


def launch(app: gr.Blocks, runs_dir: str | os.PathLike, *, host: str = "127.0.0.1",
           port: int = 7860, prevent_thread_lock: bool = False, quiet: bool = False):
    """Serve the app locally: no share tunnel, files served only from `runs_dir`."""
    return app.launch(server_name=host, server_port=port, share=False,
                      allowed_paths=[str(Path(runs_dir).resolve())],
                      max_file_size=MAX_UPLOAD_BYTES, show_error=True, ssr_mode=False,
                      prevent_thread_lock=prevent_thread_lock, quiet=quiet,
                      enable_monitoring=False, mcp_server=False, pwa=False)

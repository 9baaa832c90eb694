"""The Gradio page: a run selector with live progress, and a tab per task.

Every event has a fixed `api_name`, so the app can be driven with `gradio_client` too. Handlers
raise `gr.Error` with the library's message for anything a user can fix. Nothing a user uploads
is trusted: images go through `images.read_image`, model zips through `Workers.import_model`.
The page never trains itself: a worker subprocess does (see `runs.Workers`), and a timer reads
its run folder, so closing or reloading the page loses nothing. The server answers only requests
that name it in Host and Origin (`hosts`), so other sites' pages cannot drive it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import gradio as gr
import torch
from starlette.middleware import Middleware

from .. import images
from ..bounds import SEED
from ..config import DEFAULT_PRESET, MODES, PRESET_PURPOSES, PRESETS, make_config
from ..data import default_image
from ..errors import UIError, notice
from ..run import read_run_info
from ..run.layout import MODEL_FILES, latest_preview
from ..training.estimate import DESCRIBED_SIZE, describe_presets
from . import tabs
from .common import (Context, Models, guard, hide_folder, model_summary, number, number_box,
                     public, whole)
from .hosts import HostGuard, HostRule
from .runs import Workers, progress_text, safe_name

log = logging.getLogger(__name__)

# Settings of the Train tab: config fields with a box of their own (others keep the preset's).
TRAIN_FIELDS = ("max_size", "min_size", "base_channels", "max_channels", "iters", "iters_finest")
FIELD_LABELS = {"iters": "iterations per scale",
                "iters_finest": "iterations at the finest scale (0: same)"}
MAX_UPLOAD_BYTES = 1 << 30
POLL_SECONDS = 1.0
# Training images are small (tens to hundreds of pixels): show previews enlarged, not blurred.
CSS = "#train-preview img, #animation img {width: 100%; height: 100%; object-fit: contain; " \
      "image-rendering: pixelated;}"


def preset_info(device: torch.device | str) -> str:
    """The preset list's help: what each preset is for and its expected time here (estimated
    from the pyramid and a warm-up measured on `device`, as in `singan train --help`)."""
    h, w = DESCRIBED_SIZE
    try:
        infos = describe_presets(device)
    except Exception:  # noqa: BLE001 - the page must open whatever the estimate does
        return "; ".join(f"{name}: {PRESET_PURPOSES[name]}" for name in PRESETS)
    return (f"Time for a {w}x{h} image on this machine: " +
            "; ".join(f"{name}: {info.describe()}" for name, info in infos.items()))


def _train_tab(ctx: Context) -> tuple[gr.Image, gr.Button, gr.Button]:
    """The Train tab; returns the components the progress poll updates."""
    workers = ctx.workers

    def check_image(path):
        """Validate an uploaded training image; show it and suggest a run name."""
        if path is None:
            return default_image(), ""
        return images.read_image(path), safe_name(Path(path).stem)

    def preset_settings(preset, mode):
        config = make_config(preset, mode)
        return tuple(getattr(config, f) for f in TRAIN_FIELDS)

    def train(path, name, mode, preset, *values):
        *fields, seed = values
        if any(v is None for v in values):
            raise UIError("fill in every setting (they start at the preset's values)")
        settings = {k: whole(v) for k, v in zip(TRAIN_FIELDS, fields)}
        make_config(preset, mode, **settings)  # checks every field before anything starts
        seed = number(seed, SEED, "seed")
        default = Path(path).stem if path else "default"
        run = workers.start(path, str(name or "").strip() or default, preset=preset, mode=mode,
                            settings=settings, seed=seed)
        return _run_choices(workers, run)

    def stop(name):
        if not workers.stop(workers.path(name).name):
            raise UIError(f"run {name!r} is not training")
        gr.Info(f"stopping {name}: the finished scales are being saved")

    def resume(name):
        workers.resume(workers.path(name).name)

    with gr.Tab("Train", id="train"):
        with gr.Row():
            with gr.Column():
                image = gr.File(label="Training image (none: the embedded landscape)",
                                file_types=["image"], type="filepath", elem_id="train-file")
                shown = gr.Image(value=default_image(), label="Image to train on", format="png",
                                 interactive=False, height=200)
                name = gr.Textbox(label="Run name", placeholder="from the image's name",
                                  elem_id="run-name")
                with gr.Row():
                    mode = gr.Radio(list(MODES), value="generation", label="Mode")
                    preset = gr.Dropdown(sorted(PRESETS), value=DEFAULT_PRESET, label="Preset",
                                         elem_id="train-preset",
                                         info=preset_info(ctx.models.device))
                defaults = make_config(DEFAULT_PRESET)
                boxes = []
                for row in (TRAIN_FIELDS[:3], TRAIN_FIELDS[3:]):
                    with gr.Row():
                        for f in row:
                            boxes.append(number_box(
                                getattr(defaults, f), FIELD_LABELS.get(f, f.replace("_", " ")),
                                elem_id="train-" + f.replace("_", "-")))
                seed = number_box(0, "seed")
                button = gr.Button("Train", variant="primary", elem_id="train-button")
            with gr.Column():
                preview = gr.Image(label="Latest scale (a random sample)", format="png",
                                   interactive=False, height=300, elem_id="train-preview")
                with gr.Row():
                    stop_btn = gr.Button("Stop", variant="stop", interactive=False,
                                         elem_id="stop-button")
                    resume_btn = gr.Button("Resume", visible=False, elem_id="resume-button")
    image.change(guard(check_image), image, [shown, name], api_name="check_image")
    gr.on([preset.change, mode.change], guard(preset_settings), [preset, mode], boxes,
          api_name="preset_settings")
    button.click(guard(train), [image, name, mode, preset, *boxes, seed], [ctx.run],
                 api_name="train")
    stop_btn.click(guard(stop), [ctx.run], None, api_name="stop")
    resume_btn.click(guard(resume), [ctx.run], None, api_name="resume")
    return preview, stop_btn, resume_btn


def _model_tab(ctx: Context) -> None:
    workers = ctx.workers

    def upload(path, current):
        if path is None:
            return _run_choices(workers, current), ""
        run = workers.import_model(path)
        return _run_choices(workers, run), f"Loaded the model into run **{run}**."

    with gr.Tab("Model files", id="model"):
        summary = gr.Markdown()
        with gr.Row():
            with gr.Column():
                button = gr.Button("Download the model (zip)", elem_id="download-button")
                zipped = gr.File(label=f"Model zip ({' + '.join(MODEL_FILES)})",
                                 interactive=False)
            with gr.Column():
                uploaded = gr.File(label="Upload a model zip", file_types=[".zip"],
                                   type="filepath", elem_id="upload-model")
                message = gr.Markdown()
    button.click(guard(lambda name: str(workers.export_model(workers.path(name).name))),
                 [ctx.run], [zipped], api_name="download_model")
    uploaded.upload(guard(upload), [uploaded, ctx.run], [ctx.run, message],
                    api_name="upload_model")

    def refresh(name, model):
        if model is None:
            return ("The selected run has no finished model yet.",)
        return (model_summary(model, read_run_info(workers.path(name))),)
    ctx.on_model([summary], refresh)


def _run_choices(workers: Workers, selected: str | None = None) -> gr.Dropdown:
    names = workers.names()
    value = selected if selected in names else (names[0] if names else None)
    return gr.Dropdown(choices=names, value=value)


def build_app(runs_dir: str | os.PathLike, device: torch.device | str = "cpu", *,
              workers: Workers | None = None, title: str = "SinGAN") -> gr.Blocks:
    """Build the web app over the run folders in `runs_dir`.

    Args:
        runs_dir: folder holding the run folders (created if missing); the app reads and writes
            only there.
        device: where the page's sampling and applications run; training workers get the same
            `--device` unless `workers` is given.
        workers: the `Workers` that own the training subprocesses (default: a new one).
    """
    workers = workers or Workers(runs_dir, str(device))
    hide_folder(workers.runs_dir, relative=True)
    models = Models(workers, device)

    def poll(name, shown):
        """Progress text, newest preview (skipped when unchanged), button states, model key.

        Never raises: it runs every second, and a run deleted, damaged or replaced meanwhile is
        just reported.
        """
        try:
            st = workers.status(name)
            prev = latest_preview(workers.path(name))
            prev_key = f"{prev}:{prev.stat().st_mtime_ns}" if prev else ""
            key = models.key(name, st)
        except Exception as e:  # a poll that raised would leave the page's status stale
            if not isinstance(e, (UIError, OSError)):
                log.exception("progress poll of run %r", name)
            text = public(str(e)) if isinstance(e, UIError) else \
                f"the status of run {name!r} cannot be read now ({type(e).__name__})"
            return (text, None, "", gr.Button(interactive=False), gr.Button(visible=False), "")
        preview = gr.skip() if prev_key == shown else (str(prev) if prev else None)
        return (progress_text(st), preview, prev_key,
                gr.Button(interactive=st.state in ("starting", "running")),
                gr.Button(visible=st.state in ("interrupted", "lost")),
                ":".join(map(str, key)) if key else "")

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(f"# {title}\nLearn a generative model from one image, then sample from it "
                    "and use it. Scale 0 is the coarsest.")
        with gr.Row(equal_height=True):
            # Custom values let API clients name any run; Workers.path checks the name.
            run = gr.Dropdown(label="Run", choices=[], value=None, scale=3,
                              allow_custom_value=True, elem_id="run-select")
            refresh = gr.Button("Refresh", scale=0, min_width=100)
        status = gr.Markdown(elem_id="run-status")
        preview_key, model_key = gr.State(""), gr.State("")
        timer = gr.Timer(POLL_SECONDS)
        ctx = Context(workers, models, run)

        preview, stop_btn, resume_btn = _train_tab(ctx)
        tabs.sample_tab(ctx)
        tabs.inject_tab(ctx, "edit")
        tabs.inject_tab(ctx, "harmonize")
        tabs.paint_tab(ctx)
        tabs.sr_tab(ctx)
        tabs.animate_tab(ctx)
        _model_tab(ctx)

        def model_settings(name, key):
            model = models.get(name) if key else None
            return [v for _, refresh in ctx.refreshers for v in refresh(name, model)]

        list_runs = guard(lambda current=None: _run_choices(workers, current))
        poll_out = [status, preview, preview_key, stop_btn, resume_btn, model_key]
        app.load(list_runs, [run], [run], api_name="list_runs")
        refresh.click(list_runs, [run], [run], api_name="refresh_runs")
        run.change(poll, [run, preview_key], poll_out, api_name="run_status",
                   show_progress="hidden")
        timer.tick(poll, [run, preview_key], poll_out, api_name="progress",
                   show_progress="hidden", concurrency_limit=None)
        model_key.change(guard(model_settings), [run, model_key],
                         [c for outputs, _ in ctx.refreshers for c in outputs],
                         api_name="model_settings")
    return app


def launch(app: gr.Blocks, runs_dir: str | os.PathLike, *, host: str = "127.0.0.1",
           port: int = 7860, prevent_thread_lock: bool = False, quiet: bool = False):
    """Serve the app on `host`:`port`: no share tunnel, files served only from `runs_dir`, and
    only requests that name this app in Host and Origin answered (`hosts.HostRule`).

    The guard (`hosts.HostGuard`) is FastAPI middleware given through `app_kwargs`, so it stands
    in front of every route Gradio adds; only Gradio's CORS and compression middleware wrap it
    (Gradio's CORS layer answers a CORS preflight itself, running nothing; the request it
    announces then meets the guard). Gradio's static-file worker processes
    (`GRADIO_NUM_WORKERS`), which would serve files and uploads on ports of their own, without
    the guard, are turned off. On an address that listens everywhere (0.0.0.0, ::) an
    `InputNotice` says who can reach the app and which names it answers to.
    """
    rule = HostRule.for_server(host, port)
    if rule.any_ip:
        notice(f"listening on every address: anyone who can reach this machine on port {port} "
               f"can use the app; it answers requests naming {rule.describe()} (other names "
               f"are refused, against DNS rebinding)")
    return app.launch(server_name=host, server_port=port, share=False,
                      allowed_paths=[str(Path(runs_dir).resolve())],
                      max_file_size=MAX_UPLOAD_BYTES, show_error=True, ssr_mode=False,
                      prevent_thread_lock=prevent_thread_lock, quiet=quiet,
                      footer_links=["api", "settings"], run_history=False, css=CSS,
                      enable_monitoring=False, mcp_server=False, pwa=False, num_workers=0,
                      app_kwargs={"middleware": [Middleware(HostGuard, rule=rule)]})

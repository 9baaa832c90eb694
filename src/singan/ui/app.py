"""The Gradio page: a run selector with live progress, and a tab per task.

Every event has a fixed `api_name`, so the app can be driven with `gradio_client` too. Handlers
raise `gr.Error` with the library's message for anything a user can fix. Nothing a user uploads
is trusted: images go through `images.read_image`, model zips through `Workers.import_model`.
The page never trains itself: a worker subprocess does (see `runs.Workers`), and a timer reads
its run folder, so closing or reloading the page loses nothing. The server answers only requests
that name it in Host and Origin (`hosts`), so other sites' pages cannot drive it.
"""

from __future__ import annotations

import html
import logging
import os
from pathlib import Path

import gradio as gr
import torch
from starlette.middleware import Middleware

from .. import images
from ..bounds import SEED
from ..config import MODES, PRESET_PURPOSES, PRESETS, default_preset, make_config
from ..data import default_image
from ..errors import SinGANError, UIError, notice
from ..run import read_run_info
from ..run.layout import MODEL_FILES, previews
from ..training.estimate import DESCRIBED_SIZE, describe_presets
from . import tabs
from .common import (Context, Models, guard, hide_folder, model_summary, number, number_box,
                     public, whole)
from .hosts import HostGuard, HostRule
from .patch import patch_tab
from .runs import RunStatus, Workers, _duration, progress_text, safe_name, scale_label

log = logging.getLogger(__name__)

# Settings of the Train tab: config fields with a box of their own (others keep the preset's).
TRAIN_FIELDS = ("max_size", "min_size", "base_channels", "max_channels", "iters", "iters_finest")
FIELD_LABELS = {"iters": "iterations per scale",
                "iters_finest": "iterations at the finest scale (0: same)"}
MAX_UPLOAD_BYTES = 1 << 30
POLL_SECONDS = 1.0
# Training images are small (tens to hundreds of pixels): show previews enlarged, not blurred.
CSS = """#train-preview img, #animation img {width: 100%; height: 100%; object-fit: contain;
 image-rendering: pixelated;}
#train-progress .bar {height: 14px; border-radius: 7px; background: var(--neutral-200);
 overflow: hidden;}
#train-progress .bar > div {height: 100%; background: var(--color-accent);}
#train-progress .words {margin-top: 4px;}
#runs-table table {width: 100%; border-collapse: collapse;}
#runs-table td, #runs-table th {padding: 2px 8px; text-align: left;}
#runs-table img {max-height: 40px; max-width: 80px; image-rendering: pixelated;}
#runs-table tr.selected {font-weight: bold;}
"""
# Old toasts go when another tab or run is chosen.
CLEAR_TOASTS = "() => {document.querySelectorAll('[data-testid=\"toast-close\"]')" \
               ".forEach(b => b.click());}"


def _rename_notice(asked: str, run: str) -> str:
    """Why the run got another name than the one asked for ("" when it did not)."""
    if run == asked:
        return ""
    clean = safe_name(asked)
    if clean != asked:
        why = (f"a run name holds only letters, digits, '.', '_' and '-' (at most 60), so "
               f"{asked!r} became {clean!r}")
        if run != clean:
            why += f", and a run named {clean!r} exists already"
    else:
        why = f"a run named {asked!r} exists already"
    return f"The run is named **{run}**: {why}."


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


def _train_tab(ctx: Context):
    """The Train tab; returns the components the progress poll and the run selector update."""
    workers = ctx.workers

    def check_image(path):
        """Validate an uploaded training image; show it and suggest a run name. A bad file is
        a message beside the form (the form stays usable), never an error over it."""
        if path is None:
            return default_image(), gr.skip(), ""
        try:
            rgb = images.read_image(path)
        except SinGANError as e:
            message = public(str(e))
            gr.Warning(message)
            return default_image(), gr.skip(), f"**Not used:** {message}"
        name = Path(path).name
        return rgb, safe_name(Path(path).stem), \
            f"Training image: `{name}`, {rgb.width}x{rgb.height} px."

    def preset_settings(preset, mode):
        """The form's settings of `preset` in `mode`; super-resolution with a ConSinGAN preset
        (which it cannot train) switches to that mode's default preset here."""
        if mode == "sr" and preset in PRESETS and PRESETS[preset].arch != "singan":
            preset = default_preset(ctx.models.device.type, "sr")
        config = make_config(preset, mode)
        return (preset, *(getattr(config, f) for f in TRAIN_FIELDS))

    def train(path, name, mode, preset, *values):
        *fields, seed = values
        if any(v is None for v in values):
            raise UIError("fill in every setting (they start at the preset's values)")
        settings = {k: whole(v) for k, v in zip(TRAIN_FIELDS, fields)}
        make_config(preset, mode, **settings)  # checks every field before anything starts
        seed = number(seed, SEED, "seed")
        default = Path(path).stem if path else "default"
        asked = str(name or "").strip() or safe_name(default)
        run = workers.start(path, asked, preset=preset, mode=mode, settings=settings, seed=seed,
                            file_name=Path(path).name if path else None)
        notice_text = _rename_notice(asked, run)
        if notice_text:
            gr.Info(notice_text.replace("**", ""))
        return _run_choices(workers, run), notice_text or f"Started **{run}**."

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
                                 interactive=False, height=200, elem_id="train-image")
                name = gr.Textbox(label="Run name", placeholder="from the image's name",
                                  elem_id="run-name")
                message = gr.Markdown(elem_id="train-message")
                with gr.Row():
                    mode = gr.Radio(list(MODES), value="generation", label="Mode",
                                    elem_id="train-mode")
                    start = default_preset(ctx.models.device.type)  # as `singan train` here
                    preset = gr.Dropdown(sorted(PRESETS), value=start, label="Preset",
                                         elem_id="train-preset",
                                         info=preset_info(ctx.models.device))
                defaults = make_config(start)
                boxes = []
                for row in (TRAIN_FIELDS[:3], TRAIN_FIELDS[3:]):
                    with gr.Row():
                        for f in row:
                            boxes.append(number_box(
                                getattr(defaults, f), FIELD_LABELS.get(f, f.replace("_", " ")),
                                elem_id="train-" + f.replace("_", "-")))
                seed = number_box(0, "seed", elem_id="train-seed")
                form_note = gr.Markdown(elem_id="train-form-note")
                gr.Markdown("One training at a time: Train is refused while a run trains "
                            "(two would each run at half speed).")
                button = gr.Button("Train", variant="primary", elem_id="train-button")
            with gr.Column():
                preview = gr.Image(label="Latest finished scale (a random sample)", format="png",
                                   interactive=False, height=300, elem_id="train-preview")
                strip = gr.Gallery(label="One random sample per finished scale", format="png",
                                   columns=6, height=150, object_fit="contain", interactive=False,
                                   allow_preview=True, elem_id="scale-previews")
                with gr.Row():
                    stop_btn = gr.Button("Stop", variant="stop", interactive=False,
                                         elem_id="stop-button")
                    resume_btn = gr.Button("Resume", visible=False, elem_id="resume-button")
    image.change(guard(check_image), image, [shown, name, message], api_name="check_image")
    gr.on([preset.input, mode.input], guard(preset_settings), [preset, mode], [preset, *boxes],
          api_name="preset_settings")
    button.click(guard(train), [image, name, mode, preset, *boxes, seed], [ctx.run, message],
                 api_name="train")
    stop_btn.click(guard(stop), [ctx.run], None, api_name="stop")
    resume_btn.click(guard(resume), [ctx.run], None, api_name="resume")

    def run_form(name):
        """The Train form of the selected run: its mode, preset, settings and seed (not its
        image: Train trains on the upload box's, which a page cannot fill)."""
        if not name:
            return (gr.skip(),) * (4 + len(boxes))
        try:
            form = workers.form(name)
        except UIError:
            return (gr.skip(),) * (4 + len(boxes))
        config, settings = form.get("config"), form.get("settings") or {}
        values = []
        for f in TRAIN_FIELDS:
            v = getattr(config, f) if config is not None else settings.get(f)
            values.append(v if v is not None else gr.skip())
        mode_v = form.get("mode") if form.get("mode") in MODES else gr.skip()
        preset_v = form.get("preset") if form.get("preset") in PRESETS else gr.skip()
        seed_v = form.get("seed") if isinstance(form.get("seed"), int) else gr.skip()
        on = f" (trained on `{form['file_name']}`)" if form.get("file_name") else ""
        note = (f"The settings of run **{name}**{on}. Train trains on the image above: upload "
                f"one to train on it.")
        return (mode_v, preset_v, *values, seed_v, note)
    ctx.run.change(guard(run_form), [ctx.run], [mode, preset, *boxes, seed, form_note],
                   api_name="run_form", show_progress="hidden")
    return preview, strip, stop_btn, resume_btn


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
        return (model_summary(model, read_run_info(workers.path(name)),
                              workers.form(name).get("file_name")),)
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

    def poll(name, shown, strip_shown, table_shown):
        """Progress text and bar, newest preview and the strip of every scale's preview
        (skipped when unchanged), button states, model key, the runs table.

        Never raises: it runs every second, and a run deleted, damaged or replaced meanwhile is
        just reported.
        """
        try:
            table, table_key = runs_table(workers, name)
        except Exception:  # the runs folder unreadable now: the table waits for the next poll
            log.exception("runs table")
            table, table_key = gr.skip(), table_shown
        table_out = gr.skip() if table_key == table_shown else table
        try:
            st = workers.status(name)
            found = previews(workers.path(name))
            prev = found[-1] if found else None
            prev_key = f"{prev}:{prev.stat().st_mtime_ns}" if prev else ""
            strip_key = name + "|" + "|".join(f"{p.name}:{p.stat().st_mtime_ns}" for p in found)
            key = models.key(name, st)
        except Exception as e:  # a poll that raised would leave the page's status stale
            if not isinstance(e, (UIError, OSError)):
                log.exception("progress poll of run %r", name)
            text = public(str(e)) if isinstance(e, UIError) else \
                f"the status of run {name!r} cannot be read now ({type(e).__name__})"
            return (text, "", None, "", [], "", gr.Button(interactive=False),
                    gr.Button(visible=False), "", table_out, table_key)
        n = st.progress.num_scales
        preview = gr.skip() if prev_key == shown else gr.Image(
            value=str(prev) if prev else None,
            label=f"Latest finished scale: {scale_label(_scale_of(prev), n)} (a random sample)"
            if prev else "Latest finished scale (a random sample)")
        strip = gr.skip() if strip_key == strip_shown else \
            [(str(p), scale_label(_scale_of(p), n)) for p in found]
        return (public(progress_text(st)), progress_bar(st), preview, prev_key, strip, strip_key,
                gr.Button(interactive=st.training),
                gr.Button(visible=st.state in ("interrupted", "lost")),
                ":".join(map(str, key)) if key else "", table_out, table_key)

    with gr.Blocks(title=title, analytics_enabled=False) as app:
        gr.Markdown(f"# {title}\nLearn a generative model from one image, then sample from it "
                    "and use it. Scales are numbered from 0 = the coarsest: `scale k/F`, where "
                    "F is the finest.")
        with gr.Row(equal_height=True):
            # Custom values let API clients name any run; Workers.path checks the name.
            run = gr.Dropdown(label="Run", choices=[], value=None, scale=3,
                              allow_custom_value=True, elem_id="run-select")
            refresh = gr.Button("Refresh", scale=0, min_width=100)
        status = gr.Markdown(elem_id="run-status")
        bar = gr.HTML(elem_id="train-progress")
        with gr.Accordion("Runs", open=True):
            table = gr.HTML(elem_id="runs-table")
        preview_key, model_key = gr.State(""), gr.State("")
        strip_key, table_key = gr.State(""), gr.State("")
        timer = gr.Timer(POLL_SECONDS)
        with gr.Tabs() as page_tabs:
            ctx = Context(workers, models, run, page_tabs)
            preview, strip, stop_btn, resume_btn = _train_tab(ctx)
            tabs.sample_tab(ctx)
            tabs.inject_tab(ctx, "edit")
            tabs.inject_tab(ctx, "harmonize")
            tabs.paint_tab(ctx)
            tabs.sr_tab(ctx)
            tabs.animate_tab(ctx)
            patch_tab(ctx)
            tabs.history_tab(ctx)
            _model_tab(ctx)
        tabs.wire_enlarge(ctx)

        def model_settings(name, key):
            model = models.get(name) if key else None
            return [v for _, refresh in ctx.refreshers for v in refresh(name, model)]

        list_runs = guard(lambda current=None: _run_choices(workers, current))
        poll_in = [run, preview_key, strip_key, table_key]
        poll_out = [status, bar, preview, preview_key, strip, strip_key, stop_btn, resume_btn,
                    model_key, table, table_key]
        app.load(list_runs, [run], [run], api_name="list_runs")
        refresh.click(list_runs, [run], [run], api_name="refresh_runs")
        run.change(poll, poll_in, poll_out, api_name="run_status", show_progress="hidden")
        run.change(None, js=CLEAR_TOASTS)
        page_tabs.change(None, js=CLEAR_TOASTS)
        timer.tick(poll, poll_in, poll_out, api_name="progress", show_progress="hidden",
                   concurrency_limit=None)
        table_api = gr.Button(visible=False)
        table_api.click(lambda name: runs_table(workers, name)[0], [run], [table],
                        api_name="runs_table")
        model_key.change(guard(model_settings), [run, model_key],
                         [c for outputs, _ in ctx.refreshers for c in outputs],
                         api_name="model_settings")
    return app


def _scale_of(preview: Path) -> int:
    """The scale of a preview file (previews/scale_KK.png)."""
    return int(preview.stem.split("_")[1])


def progress_bar(st: RunStatus) -> str:
    """The progress bar of a run (HTML): a bar of its share done, the scale being trained and,
    once the library knows it, the time left."""
    p = st.progress
    percent = 100.0 if st.has_model else (p.percent or 0.0)
    words = []
    if st.training:
        if p.scale is not None:
            words.append(f"training {scale_label(p.scale, p.num_scales)}")
        if p.iteration is not None and p.iters:
            words.append(f"iteration {p.iteration} of {p.iters}")
    else:
        words.append({"done": "trained", "ready": "model ready", "interrupted": "stopped",
                      "lost": "the worker ended", "failed": "failed"}.get(st.state, st.state))
    words.append(f"{percent:.0f}%")
    if st.training and p.eta is not None:
        words.append(f"about {_duration(p.eta)} left")
    return (f'<div class="bar" role="progressbar" aria-valuemin="0" aria-valuemax="100" '
            f'aria-valuenow="{percent:.0f}"><div style="width: {percent:.1f}%"></div></div>'
            f'<div class="words">{html.escape(" · ".join(words))}</div>')


def runs_table(workers: Workers, selected: str | None) -> tuple[str, str]:
    """The runs table (HTML) and a key that changes when it does."""
    rows = []
    for name in workers.names():
        try:
            rows.append(workers.row(name))
        except (SinGANError, OSError):
            continue
    key = repr(rows) + str(selected)
    if not rows:
        return "<p>No runs yet: train one or upload a model.</p>", key
    head = "".join(f"<th>{h}</th>" for h in ("", "run", "status", "progress", "size",
                                             "preset", "image", "date"))
    body = []
    for r in rows:
        thumb = f'<img src="/gradio_api/file={html.escape(r["preview"])}" alt="">' \
            if r["preview"] else ""
        cls = ' class="selected"' if r["name"] == selected else ""
        cells = [thumb, html.escape(r["name"]), html.escape(r["status"]),
                 (f'<progress max="100" value="{r["percent"]:.0f}"></progress> '
                  f'{r["percent"]:.0f}%'), r["size"], html.escape(r["preset"]),
                 html.escape(r["file_name"]), r["date"]]
        body.append(f"<tr{cls} data-run=\"{html.escape(r['name'])}\">" +
                    "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>", key


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

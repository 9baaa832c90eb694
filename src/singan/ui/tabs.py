"""The tabs that use a trained model: Sample, Edit, Harmonize, Paint, Super-resolution, Animate,
and the History of a run's outputs.

Each builder lays out its tab inside the page's Blocks, wires its events (fixed api_names) and
registers what must change when another model is selected (`Context.on_model`), the inputs that
"reuse these settings" fills (`Context.reusable`) and its "Enlarge this result" button
(`Context.enlargers`). Every number a handler takes is checked first, against its declaration
in `singan.bounds` (`common.number`). Every output is kept in the run's outputs/ with its
settings (`outputs.save_output`).
"""

from __future__ import annotations

import importlib.util
import tempfile
from pathlib import Path

import gradio as gr
from PIL import Image

from .. import apps, images
from ..apps.common import DEFAULT_SCALE_HELP, default_start_scale, injection_scales
from ..apps.palette import kmeans, quantize
from ..bounds import (ANIMATION_WEIGHT, FINE_TUNE, FPS, FRAMES, PAGE_COUNT, RELATIVE_SIZE,
                      SCALE, SEED, SIDE, SR_FACTOR)
from ..errors import UIError
from ..families import is_consingan
from ..models import SinGAN
from ..resize import resize
from ..sample import generate
from .common import (Context, guard, mask_image, number, number_box, scale_slider, to_image,
                     write_zip)
from .images import editor_image, editor_mask, hex_colour, upload_mask
from .outputs import describe, file_bytes, png, read_records, save_output, shown_file

HAS_MP4 = importlib.util.find_spec("imageio_ffmpeg") is not None
FULL_SIZE = ("Results come at the model's size (the finest scale, shown in the Model files "
             "tab). To work at full size, train with **max size** set to your image's long side "
             "(slower), or press **Enlarge this result** (super-resolution, with a model "
             "trained in `sr` mode on this image).")


def _seed(value) -> int:
    return number(value, SEED, "seed")


def _fine_tune(value) -> int:
    return 0 if value is None else number(value, FINE_TUNE, "fine-tuning iterations")


def _ready(model: SinGAN, mode: str | None = None, what: str = "this") -> None:
    """The library's checks of a model, phrased for the page (no commands to type)."""
    if not model.is_complete:
        raise UIError(f"the selected run is not fully trained ({model.num_trained} of "
                      f"{model.num_scales} scales): press Resume in the Train tab and wait for "
                      f"it to finish")
    if mode == "sr" and is_consingan(model):
        raise UIError("super-resolution needs SinGAN's per-scale generators (arch singan), and "
                      "the selected run is a consingan model: train one in the Train tab with "
                      "mode `sr` and a SinGAN preset")
    if mode is not None and model.config.mode != mode:
        raise UIError(f"{what} needs a model trained in {mode} mode, and the selected run was "
                      f"trained in {model.config.mode} mode: in the Train tab choose mode "
                      f"`{mode}`, train on the same image, then select that run")


def _save(ctx: Context, name: str, app: str, record: str, files: dict, settings: dict) -> dict:
    return save_output(ctx.workers.outputs(name), app, record, files, settings)


def _enlarge_button(ctx: Context, state: gr.State, kind: str,
                    label: str = "Enlarge this result") -> None:
    btn = gr.Button(label, size="sm", elem_id=f"{kind}-enlarge")
    ctx.enlargers.append((btn, state))


def wire_enlarge(ctx: Context) -> None:
    """Every "Enlarge this result" button puts its tab's result into the Super-resolution tab's
    "image to enlarge" and opens that tab."""
    def enlarge(path):
        if not path:
            raise UIError("make a result first, then enlarge it")
        return path, gr.Tabs(selected="sr")
    for btn, state in ctx.enlargers:
        btn.click(guard(enlarge), [state], [ctx.sr_image, ctx.tabs])


def _output_size(model: SinGAN, width, height) -> tuple[int, int] | None:
    """Exact (H, W) from the width and height boxes (0 or empty: not given), keeping the
    training image's aspect ratio when only one is given (as `singan sample`)."""
    w = None if width in (None, 0) else number(width, SIDE, "width")
    h = None if height in (None, 0) else number(height, SIDE, "height")
    if w is None and h is None:
        return None
    fh, fw = model.sizes[-1]
    return (h if h is not None else round(w * fh / fw),
            w if w is not None else round(h * fw / fh))


def sample_tab(ctx: Context) -> None:
    def sample(name, seed, count, start_scale, scale_h, scale_w, width=0, height=0):
        seed, count = _seed(seed), number(count, PAGE_COUNT, "count")
        number(seed + count - 1, SEED, "the last seed (first seed + count - 1)")
        start_scale = number(start_scale, SCALE, "start scale")
        scale_h = number(scale_h, RELATIVE_SIZE, "height factor")
        scale_w = number(scale_w, RELATIVE_SIZE, "width factor")
        model = ctx.models.get(name)
        size = _output_size(model, width, height)
        seeds = list(range(seed, seed + count))
        x = generate(model, count, seeds=seeds, start_scale=start_scale, scale_h=scale_h,
                     scale_w=scale_w, size=size)
        h, w = x.shape[-2:]
        tag = f"start{start_scale}_{w}x{h}"
        pictures = {f"sample_seed{s}_{tag}{{n}}.png": to_image(x[i])
                    for i, s in enumerate(seeds)}
        files = {k: png(im) for k, im in pictures.items()}
        record = f"samples_seed{seeds[0]}-{seeds[-1]}_{tag}"

        files[record + "{n}.zip"] = lambda f: write_zip(
            {k.format(n=""): im for k, im in pictures.items()}, f)
        settings = {"seed": seed, "count": count, "start_scale": start_scale,
                    "scale_h": scale_h, "scale_w": scale_w, "width": int(width or 0),
                    "height": int(height or 0)}
        written = _save(ctx, name, "sample", record, files, settings)
        shots = [str(written[k]) for k in pictures]
        gallery = [(p, f"seed {s} · {w}x{h} px") for p, s in zip(shots, seeds)]
        return gallery, str(written[record + "{n}.zip"]), shots[0]

    with gr.Tab("Sample", id="sample"):
        gr.Markdown("Random images like the training image. Start scale 0 draws everything "
                    "anew; a higher start scale keeps the training image's layout. The size is "
                    "the training image's times the factors, or exact pixels (width and/or "
                    "height; one alone keeps the aspect ratio).")
        with gr.Row():
            seed = number_box(0, "First seed")
            count = gr.Slider(1, 32, value=8, step=1, label="Count")
            start = scale_slider("Start scale", None, value=0)
        with gr.Row():
            scale_h = gr.Slider(0.25, 4, value=1, step=0.25, label="Height x")
            scale_w = gr.Slider(0.25, 4, value=1, step=0.25, label="Width x")
            width = number_box(0, "Width in px (0: from the factor)", elem_id="sample-width")
            height = number_box(0, "Height in px (0: from the factor)",
                                elem_id="sample-height")
        btn = gr.Button("Sample", variant="primary", elem_id="sample-button")
        gallery = gr.Gallery(label="Samples (select one to download or enlarge it)",
                             format="png", columns=4, height="auto", object_fit="contain",
                             interactive=False,
                             buttons=["download", "fullscreen"], elem_id="samples")
        chosen = gr.State("")
        _enlarge_button(ctx, chosen, "sample",
                        "Enlarge this result (the selected sample; none selected: the first)")
        zipped = gr.File(label="All samples (zip)", interactive=False)
    btn.click(guard(sample), [ctx.run, seed, count, start, scale_h, scale_w, width, height],
              [gallery, zipped, chosen], api_name="sample")

    def select(evt, shown):
        return evt.value["image"]["path"] if isinstance(evt.value, dict) else gr.skip()
    select.__annotations__["evt"] = gr.SelectData
    gallery.select(select, [gallery], [chosen])
    ctx.reusable["sample"] = ("sample", {"seed": seed, "count": count, "start_scale": start,
                                         "scale_h": scale_h, "scale_w": scale_w,
                                         "width": width, "height": height})
    ctx.on_model([start], lambda name, model: (scale_slider("Start scale", model, value=0),))


def _training_image(model: SinGAN) -> Image.Image:
    return to_image(model.reals[-1])


def _brush(model: SinGAN, colours: list[str] | None = None, *, fixed: bool = True) -> gr.Brush:
    """A brush a tenth of the training image's short side wide (Gradio's automatic size is
    far too big on small images), free colours or a palette: fixed (Paint) or offered first,
    with the colour picker and its eyedropper beside it (Edit, Harmonize)."""
    size = max(1, round(min(model.sizes[-1]) / 10))
    if colours is None:
        return gr.Brush(default_size=size)
    return gr.Brush(default_size=size, colors=colours, default_color=colours[1 % len(colours)],
                    color_mode="fixed" if fixed else "defaults")


def _uploaded(path: str, size: tuple[int, int], what: str, notes: list[str]) -> Image.Image:
    """Read an uploaded picture, telling the user (in `notes`) when it will be resized."""
    image = images.read_image(path)
    if image.size != (size[1], size[0]):
        notes.append(f"{what} is {image.width}x{image.height}; it is resized to the training "
                     f"image's {size[1]}x{size[0]}.")
    return image


def _preview(path):
    """An uploaded picture or mask, shown beside its upload box (None: nothing shown)."""
    return None if path is None else images.read_image(path)


def _fine_tune_callback(progress: gr.Progress):
    return lambda done, total: progress((done, total), desc="fine-tuning")


INJECT_TEXT = {
    "edit": ("Edit", ("Paint your change onto the image (the brush offers the image's own "
             "colours; the colour picker's eyedropper takes any colour from the screen), or "
             "upload an edited image into the editor and paint over the changed region with the "
             "strokes unticked. SinGAN regenerates the painted region so that it fits the image."),
             "Edited image", "Mask of the edited region"),
    "harmonize": ("Harmonize", ("Paint an object onto the image, or upload a collage (an object "
                  "pasted onto the training image) and paint over the object with the strokes "
                  "unticked. SinGAN makes the object match the image's look.\n\n"
                  "**Which scale:** the finest keeps the object as it is (only its edges "
                  "blend in); the lowest scales repaint it from the image's own patches and "
                  "erase it; in between, the default (the finest minus 2) keeps its shape and "
                  "gives it the image's colours and texture. Compare with *All injection "
                  "scales*. Fine-tuning teaches the model the collage and can erase a small "
                  "object: use it with a scale near the finest."),
                  "Naive collage", "Mask of the pasted object"),
}
UPLOAD_NOTE = ("An uploaded picture replaces the editor's picture; an uploaded mask replaces "
               "the painted region. Upload only a mask to use it with the editor's picture, or "
               "only a picture to use it with your strokes as the region.")


def inject_tab(ctx: Context, kind: str) -> None:
    """The Edit or Harmonize tab (kind "edit" or "harmonize")."""
    title, help_text, image_label, mask_label = INJECT_TEXT[kind]
    fn = {"edit": apps.edit, "harmonize": apps.harmonize}[kind]

    def run(name, value, strokes, image_file, mask_file, start, all_scales, fine, seed,
            progress=gr.Progress()):
        start, fine, seed = number(start, SCALE, "injection scale"), _fine_tune(fine), _seed(seed)
        model = ctx.models.get(name)
        _ready(model)
        size = model.sizes[-1]
        notes: list[str] = []
        # Uploads keep their size: the application resizes them (or refuses another aspect).
        if image_file:
            image = _uploaded(image_file, size, image_label, notes)
            notes.append(f"Picture: the uploaded `{Path(image_file).name}`.")
        else:
            image = editor_image(value, size, strokes=bool(strokes))
            notes.append("Picture: the editor's" + (" (with the strokes)." if strokes else
                                                    " (without the strokes)."))
        if mask_file:
            mask = upload_mask(mask_file, size)
            notes.append(f"Region: the uploaded mask `{Path(mask_file).name}`.")
        else:
            mask = editor_mask(value, size)
            notes.append("Region: where you painted.")
        scales = list(injection_scales(model)) if all_scales else [start]
        results = {k: fn(model, image, mask, start_scale=k, fine_tune=fine, seed=seed,
                         callback=_fine_tune_callback(progress) if fine else None)
                   for k in scales}
        shown_k = start if start in results else scales[-1]
        shown = results[shown_k]
        before = image.resize((size[1], size[0]), Image.BICUBIC)
        tail = f"_seed{seed}_ft{fine}"
        files = {f"{kind}{tail}_input{{n}}.png": png(before),
                 f"{kind}{tail}_mask{{n}}.png": png(mask.resize((size[1], size[0])))}
        picked = {k: f"{kind}_scale{k}{tail}{{n}}.png" for k in results}
        files.update({picked[k]: png(to_image(r.blended)) for k, r in results.items()})
        if not all_scales:
            files[f"{kind}_scale{start}{tail}_raw{{n}}.png"] = png(to_image(shown.raw))
        record = f"{kind}_{'all' if all_scales else f'scale{start}'}{tail}"
        settings = {"start_scale": start, "all_scales": bool(all_scales), "fine_tune": fine,
                    "seed": seed, "strokes": bool(strokes)}
        written = _save(ctx, name, kind, record, files, settings)
        n = model.num_scales
        if all_scales:
            extra = [(str(written[picked[k]]), f"scale {k}/{n - 1}") for k in results]
        else:
            extra = [(to_image(shown.raw), "model output"), (mask_image(shown.mask), "mask")]
        h, w = size
        notes.append(f"Result: {w}x{h} px ({'scale' if not all_scales else 'shown: scale'} "
                     f"{shown_k}/{n - 1}), saved in the run's outputs as "
                     f"`{written[picked[shown_k]].name}`." +
                     (" Select a scale in the grid to show it above." if all_scales else ""))
        per_scale = [(k, str(written[picked[k]])) for k in results] if all_scales else []
        message = " ".join(notes)
        # Files, not pictures: a download is then named by its settings, not "image.png".
        before_path = str(written[f"{kind}{tail}_input{{n}}.png"])
        result = str(written[picked[shown_k]])
        return (before_path, result), extra, message, result, per_scale, before_path

    with gr.Tab(title, id=kind):
        gr.Markdown(help_text)
        with gr.Row():
            with gr.Column(scale=3):
                editor = gr.ImageEditor(label=f"{title}: paint on the training image",
                                        type="numpy", image_mode="RGBA", format="png",
                                        layers=False, transforms=(),
                                        sources=("upload", "clipboard"), height=420,
                                        elem_id=f"{kind}-editor")
                strokes = gr.Checkbox(True, label="The strokes are part of the picture "
                                      "(untick: they only mark the region)")
                with gr.Accordion("Or upload the picture and its mask", open=False):
                    gr.Markdown(UPLOAD_NOTE)
                    with gr.Row():
                        image_file = gr.File(label=image_label, file_types=["image"],
                                             type="filepath", elem_id=f"{kind}-image-file")
                        mask_file = gr.File(label=mask_label + " (white or opaque = region)",
                                            file_types=["image"], type="filepath",
                                            elem_id=f"{kind}-mask-file")
                    with gr.Row():
                        image_shown = gr.Image(label=f"{image_label} (preview)", format="png",
                                               interactive=False, height=160,
                                               elem_id=f"{kind}-image-preview")
                        mask_shown = gr.Image(label=f"{mask_label} (preview)", format="png",
                                              interactive=False, height=160,
                                              elem_id=f"{kind}-mask-preview")
            with gr.Column(scale=2):
                start = scale_slider("Injection scale", None, minimum=1)
                gr.Markdown(f"Default: {DEFAULT_SCALE_HELP[kind]}.")
                all_scales = gr.Checkbox(False, label="All injection scales side by side")
                fine = number_box(0, "Fine-tuning iterations first (0 = none)")
                seed = number_box(0, "seed")
                btn = gr.Button(title, variant="primary", elem_id=f"{kind}-button")
                gr.Markdown(FULL_SIZE)
        message = gr.Markdown(elem_id=f"{kind}-message")
        with gr.Row():
            with gr.Column():
                result = gr.ImageSlider(label="Before / after", format="png", type="filepath",
                                        elem_id=f"{kind}-result")
                last = gr.State("")
                _enlarge_button(ctx, last, kind)
            extra = gr.Gallery(label="Details (all scales: select one to show it)",
                               format="png", columns=3, height="auto", object_fit="contain",
                               interactive=False,
                               elem_id=f"{kind}-details")
        per_scale, before_path = gr.State([]), gr.State("")
    btn.click(guard(run), [ctx.run, editor, strokes, image_file, mask_file, start, all_scales,
                           fine, seed], [result, extra, message, last, per_scale, before_path],
              api_name=kind)
    image_file.change(guard(_preview), [image_file], [image_shown],
                      api_name=f"{kind}_image_preview")
    mask_file.change(guard(_preview), [mask_file], [mask_shown], api_name=f"{kind}_mask_preview")

    def pick(evt, choices, before):
        """A result picked in the all-scales grid: shown in the slider, ready to enlarge."""
        if not choices or not isinstance(evt.index, int) or evt.index >= len(choices):
            return gr.skip(), gr.skip(), gr.skip()
        k, path = choices[evt.index]
        return (before, path), path, f"Shown: scale {k}, `{Path(path).name}`."
    pick.__annotations__["evt"] = gr.SelectData
    extra.select(pick, [per_scale, before_path], [result, last, message])
    ctx.reusable[kind] = (kind, {"start_scale": start, "all_scales": all_scales,
                                 "fine_tune": fine, "seed": seed, "strokes": strokes})

    def refresh(name, model):
        if model is None:
            return gr.ImageEditor(value=None), scale_slider("Injection scale", None, minimum=1)
        colours = _palette(model)[0]
        return (gr.ImageEditor(value=_training_image(model),
                               brush=_brush(model, colours, fixed=False)),
                scale_slider("Injection scale", model, minimum=1,
                             value=default_start_scale(kind, model.num_scales)))
    ctx.on_model([editor, start], refresh)


def _palette(model: SinGAN) -> tuple[list[str], Image.Image, Image.Image]:
    """The training image's 5 main colours (hex, most frequent first), the image quantised to
    them, and a blank canvas of the most frequent colour."""
    real = model.reals[-1]
    centres = kmeans(real)
    q = quantize(real, centres)
    counts = [int((q == c.view(1, 3, 1, 1)).all(dim=1).sum()) for c in centres]
    order = sorted(range(len(centres)), key=lambda i: -counts[i])
    rgb = ((centres.clamp(-1, 1) + 1) * 127.5).tolist()
    colours = [hex_colour(rgb[i]) for i in order]
    h, w = model.sizes[-1]
    blank = Image.new("RGB", (w, h), tuple(int(round(v)) for v in rgb[order[0]]))
    return colours, to_image(q), blank


def _paint_editor(model: SinGAN | None, blank: bool = False) -> gr.ImageEditor:
    if model is None:
        return gr.ImageEditor(value=None)
    colours, quantised, canvas = _palette(model)
    return gr.ImageEditor(value=canvas if blank else quantised, brush=_brush(model, colours))


def paint_tab(ctx: Context) -> None:
    def run(name, value, paint_file, start, quantized, fine, seed, progress=gr.Progress()):
        start, fine, seed = number(start, SCALE, "injection scale"), _fine_tune(fine), _seed(seed)
        model = ctx.models.get(name)
        _ready(model)
        h, w = model.sizes[-1]
        notes: list[str] = []
        paint = _uploaded(paint_file, (h, w), "Paint", notes) if paint_file else \
            editor_image(value, (h, w))
        out = apps.paint_to_image(model, paint, start_scale=start, quantize=bool(quantized),
                                  fine_tune_iters=fine if quantized else None, seed=seed,
                                  callback=_fine_tune_callback(progress) if fine else None)
        shown = paint.resize((w, h), Image.BICUBIC)
        tail = f"_scale{start}_seed{seed}" + (f"_q{fine}" if quantized else "")
        files = {f"paint{tail}_input{{n}}.png": png(shown),
                 f"paint{tail}{{n}}.png": png(to_image(out))}
        settings = {"start_scale": start, "quantize": bool(quantized), "fine_tune": fine,
                    "seed": seed}
        written = _save(ctx, name, "paint", f"paint{tail}", files, settings)
        result = written[f"paint{tail}{{n}}.png"]
        notes.append(f"Result: {w}x{h} px, saved in the run's outputs as `{result.name}`.")
        return (str(written[f"paint{tail}_input{{n}}.png"]), str(result)), " ".join(notes), \
            str(result)

    with gr.Tab("Paint", id="paint"):
        gr.Markdown("Paint a rough picture with the training image's colours (the brush palette)"
                    "; SinGAN turns it into an image like the training image. " + FULL_SIZE)
        with gr.Row():
            with gr.Column(scale=3):
                editor = gr.ImageEditor(label="Paint", type="numpy", image_mode="RGBA",
                                        format="png", layers=False, transforms=(),
                                        sources=("upload",), height=420, elem_id="paint-editor")
                with gr.Row():
                    from_image = gr.Button("Start from the quantised image", size="sm")
                    blank = gr.Button("Blank canvas", size="sm")
                paint_file = gr.File(label="Or upload a paint (it replaces the editor's)",
                                     file_types=["image"], type="filepath")
            with gr.Column(scale=2):
                start = scale_slider("Injection scale", None, minimum=1,
                                     value=default_start_scale("paint", 3))
                gr.Markdown(f"Default: {DEFAULT_SCALE_HELP['paint']}.")
                quantized = gr.Checkbox(False, label="Quantise the paint to the palette and "
                                        "fine-tune that scale first")
                fine = number_box(0, "Fine-tuning iterations (with quantisation)")
                seed = number_box(0, "seed")
                btn = gr.Button("Paint to image", variant="primary", elem_id="paint-button")
        message = gr.Markdown(elem_id="paint-message")
        result = gr.ImageSlider(label="Paint / result", format="png", type="filepath",
                                elem_id="paint-result")
        last = gr.State("")
        _enlarge_button(ctx, last, "paint")
    btn.click(guard(run), [ctx.run, editor, paint_file, start, quantized, fine, seed],
              [result, message, last], api_name="paint")
    from_image.click(guard(lambda name: _paint_editor(ctx.models.get(name))), [ctx.run],
                     [editor], api_name="paint_canvas_image")
    blank.click(guard(lambda name: _paint_editor(ctx.models.get(name), blank=True)), [ctx.run],
                [editor], api_name="paint_canvas_blank")
    ctx.reusable["paint"] = ("paint", {"start_scale": start, "quantize": quantized,
                                       "fine_tune": fine, "seed": seed})
    ctx.on_model([editor, start], lambda name, model: (
        _paint_editor(model), scale_slider(
            "Injection scale", model, minimum=1,
            value=default_start_scale("paint", model.num_scales) if model else None)))


def sr_tab(ctx: Context) -> None:
    def run(name, factor, seed, image_file=None):
        factor, seed = number(factor, SR_FACTOR, "factor"), _seed(seed)
        model = ctx.models.get(name)
        _ready(model, "sr", "super-resolution")
        if image_file:
            picture = images.read_image(image_file)
            source = images.image_to_tensor(picture).to(model.device)
        else:
            source = model.reals[-1]
        out = apps.super_resolve(model, factor, image=source, seed=seed)
        before = resize(source, size=tuple(out.shape[-2:]))
        image = to_image(out)
        tail = f"_x{factor:g}_seed{seed}"
        stem = f"sr_{Path(image_file).stem if image_file else 'training'}{tail}"
        settings = {"factor": factor, "seed": seed,
                    "image": Path(image_file).name if image_file else None}
        written = _save(ctx, name, "sr", stem, {stem + "{n}.png": png(image)}, settings)
        path = written[stem + "{n}.png"]
        h, w = out.shape[-2:]
        return (to_image(before), str(path)), str(path), \
            f"Enlarged to {w}x{h} px, saved in the run's outputs as `{path.name}`."

    with gr.Tab("Super-resolution", id="sr"):
        gr.Markdown("Enlarge an image: the training image, or any image (a result of another "
                    "tab: **Enlarge this result** puts it here). Needs a model trained in "
                    "**sr** mode on that image (Train tab, mode `sr`). The left side of the "
                    "slider is plain bicubic enlargement.")
        with gr.Row():
            with gr.Column():
                picture = gr.File(label="Image to enlarge (none: the training image)",
                                  file_types=["image"], type="filepath", elem_id="sr-file")
                shown = gr.Image(label="Image to enlarge (preview)", format="png",
                                 interactive=False, height=160, elem_id="sr-preview")
            with gr.Column():
                factor = gr.Slider(1.5, 8, value=4, step=0.5, label="Factor")
                seed = number_box(0, "seed")
                btn = gr.Button("Enlarge", variant="primary", elem_id="sr-button")
        message = gr.Markdown(elem_id="sr-message")
        result = gr.ImageSlider(label="Bicubic / SinGAN", format="png", type="pil",
                                elem_id="sr-result")
        out = gr.File(label="Result (PNG)", interactive=False)
    ctx.sr_image = picture
    picture.change(guard(_preview), [picture], [shown], api_name="sr_preview")
    btn.click(guard(run), [ctx.run, factor, seed, picture], [result, out, message],
              api_name="super_resolve")
    ctx.reusable["sr"] = ("sr", {"factor": factor, "seed": seed})


def animate_tab(ctx: Context) -> None:
    def run(name, frames, alpha, beta, start, fps, seed):
        frames, fps = number(frames, FRAMES, "frames"), number(fps, FPS, "frames per second")
        alpha = number(alpha, ANIMATION_WEIGHT, "alpha")
        beta = number(beta, ANIMATION_WEIGHT, "beta")
        start, seed = number(start, SCALE, "start scale"), _seed(seed)
        model = ctx.models.get(name)
        _ready(model, "animation", "animation")
        x = apps.animate(model, frames=frames, alpha=alpha, beta=beta, start_scale=start,
                         seed=seed)
        stem = f"animation_seed{seed}_f{frames}_a{alpha:g}_b{beta:g}_start{start}_fps{fps:g}"
        out = ctx.workers.outputs(name)
        tmp = Path(tempfile.mkdtemp(prefix=".animation-", dir=out))
        try:
            files = {stem + "{n}.gif": file_bytes(apps.write_animation(x, tmp / "a.gif",
                                                                       fps=fps))}
            if HAS_MP4:
                files[stem + "{n}.mp4"] = file_bytes(apps.write_animation(x, tmp / "a.mp4",
                                                                          fps=fps))
        finally:
            for p in tmp.iterdir():
                p.unlink()
            tmp.rmdir()
        settings = {"frames": frames, "alpha": alpha, "beta": beta, "start_scale": start,
                    "fps": fps, "seed": seed}
        written = _save(ctx, name, "animate", stem, files, settings)
        mp4 = written.get(stem + "{n}.mp4")
        return str(written[stem + "{n}.gif"]), (str(mp4) if mp4 else None)

    with gr.Tab("Animate", id="animate"):
        note = "" if HAS_MP4 else " (MP4 needs `pip install imageio-ffmpeg`; GIF works without.)"
        gr.Markdown("A short video of the training image moving. Needs a model trained in "
                    "**animation** mode (Train tab, mode `animation`)." + note)
        with gr.Row():
            frames = gr.Slider(4, 200, value=40, step=1, label="Frames")
            alpha = gr.Slider(0, 1, value=0.1, step=0.05, label="alpha (pull to the image)")
            beta = gr.Slider(0, 1, value=0.9, step=0.05, label="beta (smoothness)")
            start = scale_slider("Start scale", None, value=0)
            fps = gr.Slider(1, 30, value=10, step=1, label="Frames per second")
            seed = number_box(0, "seed")
        btn = gr.Button("Animate", variant="primary", elem_id="animate-button")
        with gr.Row():
            gif = gr.Image(label="Animation (GIF, enlarged)", format="png", interactive=False,
                           height=360, elem_id="animation")
            mp4 = gr.Video(label="MP4", interactive=False, visible=HAS_MP4, height=360,
                           autoplay=True, loop=True, elem_id="animation-video")
    btn.click(guard(run), [ctx.run, frames, alpha, beta, start, fps, seed], [gif, mp4],
              api_name="animate")
    ctx.reusable["animate"] = ("animate", {"frames": frames, "alpha": alpha, "beta": beta,
                                           "start_scale": start, "fps": fps, "seed": seed})
    ctx.on_model([start], lambda name, model: (scale_slider("Start scale", model, value=0),))


def history_tab(ctx: Context) -> None:
    """The outputs of the selected run, newest first, with "reuse these settings"."""
    def show(name):
        if not name:
            return [], gr.Dropdown(choices=[], value=None), "No run selected.", []
        records = read_records(ctx.workers.outputs_folder(name))
        shown = [(r, shown_file(r)) for r in records]
        gallery = [(str(p), f"{r['name']} ({r['created']})") for r, p in shown if p]
        names = [r["name"] for r, p in shown if p]
        lines = [f"- `{r['name']}` — {describe(r)} — {r['created']}" for r in records]
        text = "\n".join(lines) if lines else "No outputs yet: sample, edit, paint ... first."
        return gallery, gr.Dropdown(choices=[r["name"] for r in records],
                                    value=records[0]["name"] if records else None), text, names

    def find(name, record):
        for r in read_records(ctx.workers.outputs_folder(name)):
            if r["name"] == record:
                return r
        raise UIError(f"no output named {record!r} in run {name!r}")

    def details(name, record):
        if not record:
            return {}
        r = find(name, record)
        return {"app": r["app"], "settings": r["settings"], "files": r["files"],
                "created": r["created"]}

    slots = [(app, key, comp) for app, (_, comps) in ctx.reusable.items()
             for key, comp in comps.items()]

    def reuse(name, record):
        if not record:
            raise UIError("pick an output first")
        r = find(name, record)
        settings = r["settings"]
        values = [settings[key] if app == r["app"] and key in settings and
                  settings[key] is not None else gr.skip() for app, key, comp in slots]
        return (*values, gr.Tabs(selected=ctx.reusable[r["app"]][0]))

    with gr.Tab("History", id="history") as tab:
        gr.Markdown("Everything made from the selected run, kept in its `outputs` folder with "
                    "the settings that made it (a JSON file beside each).")
        refresh = gr.Button("Refresh", size="sm")
        gallery = gr.Gallery(label="Outputs, newest first (select one)", format="png",
                             columns=6, height="auto", object_fit="contain", interactive=False,
                             elem_id="history-gallery")
        with gr.Row():
            pick = gr.Dropdown(label="Output", choices=[], value=None, allow_custom_value=True,
                               elem_id="history-pick")
            again = gr.Button("Reuse these settings", elem_id="history-reuse")
        settings = gr.JSON(label="Its settings", elem_id="history-settings")
        listing = gr.Markdown(elem_id="history-list")
        names = gr.State([])
    outs = [gallery, pick, listing, names]
    refresh.click(guard(show), [ctx.run], outs, api_name="history")
    tab.select(guard(show), [ctx.run], outs)
    ctx.run.change(guard(show), [ctx.run], outs, show_progress="hidden")
    pick.change(guard(details), [ctx.run, pick], [settings], api_name="history_settings")

    def select(evt, shown):
        if not isinstance(evt.index, int) or evt.index >= len(shown):
            return gr.skip()
        return shown[evt.index]
    select.__annotations__["evt"] = gr.SelectData
    gallery.select(select, [names], [pick])
    again.click(guard(reuse), [ctx.run, pick], [c for _, _, c in slots] + [ctx.tabs],
                api_name="reuse")

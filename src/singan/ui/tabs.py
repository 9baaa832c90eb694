"""The tabs that use a trained model: Sample, Edit, Harmonize, Paint, Super-resolution, Animate.

Each builder lays out its tab inside the page's Blocks, wires its events (fixed api_names) and
registers what must change when another model is selected (`Context.on_model`). Every number a
handler takes is checked first, against its declaration in `singan.bounds` (`common.number`).
"""

from __future__ import annotations

import importlib.util

import gradio as gr
from PIL import Image

from .. import apps, images
from ..apps.common import injection_scales
from ..apps.palette import kmeans, quantize
from ..bounds import (ANIMATION_WEIGHT, FINE_TUNE, FPS, FRAMES, PAGE_COUNT, RELATIVE_SIZE,
                      SCALE, SEED, SR_FACTOR)
from ..models import SinGAN
from ..resize import resize
from ..sample import generate
from .common import (Context, guard, mask_image, number, number_box, save_png, scale_slider,
                     to_image, zip_pngs)
from .images import editor_image, editor_mask, hex_colour, upload_mask

HAS_MP4 = importlib.util.find_spec("imageio_ffmpeg") is not None
# Samples of one click: a gallery of more is no use, and the page holds them all in memory.


def _seed(value) -> int:
    return number(value, SEED, "seed")


def _fine_tune(value) -> int:
    return 0 if value is None else number(value, FINE_TUNE, "fine-tuning iterations")


def sample_tab(ctx: Context) -> None:
    def sample(name, seed, count, start_scale, scale_h, scale_w):
        seed, count = _seed(seed), number(count, PAGE_COUNT, "count")
        number(seed + count - 1, SEED, "the last seed (first seed + count - 1)")
        start_scale = number(start_scale, SCALE, "start scale")
        scale_h = number(scale_h, RELATIVE_SIZE, "height factor")
        scale_w = number(scale_w, RELATIVE_SIZE, "width factor")
        model = ctx.models.get(name)
        seeds = list(range(seed, seed + count))
        x = generate(model, count, seeds=seeds, start_scale=start_scale, scale_h=scale_h,
                     scale_w=scale_w)
        images = {f"seed{s:04d}.png": to_image(x[i]) for i, s in enumerate(seeds)}
        target = ctx.workers.outputs(name) / (
            f"samples_seed{seeds[0]}-{seeds[-1]}_start{start_scale}_h{scale_h:g}_w{scale_w:g}.zip")
        zip_pngs(images, target)
        return [(im, member.removesuffix(".png")) for member, im in images.items()], str(target)

    with gr.Tab("Sample", id="sample"):
        gr.Markdown("Random images like the training image. Start scale 0 draws everything "
                    "anew; a higher start scale keeps the training image's layout.")
        with gr.Row():
            seed = number_box(0, "First seed")
            count = gr.Slider(1, 32, value=8, step=1, label="Count")
            start = scale_slider("Start scale", None, value=0)
            scale_h = gr.Slider(0.25, 4, value=1, step=0.25, label="Height x")
            scale_w = gr.Slider(0.25, 4, value=1, step=0.25, label="Width x")
        btn = gr.Button("Sample", variant="primary", elem_id="sample-button")
        gallery = gr.Gallery(label="Samples (select one to download it)", format="png",
                             columns=4, height="auto", buttons=["download", "fullscreen"],
                             elem_id="samples")
        zipped = gr.File(label="All samples (zip)", interactive=False)
    btn.click(guard(sample), [ctx.run, seed, count, start, scale_h, scale_w], [gallery, zipped],
              api_name="sample")
    ctx.on_model([start], lambda name, model: (scale_slider("Start scale", model, value=0),))


def _training_image(model: SinGAN) -> Image.Image:
    return to_image(model.reals[-1])


def _brush(model: SinGAN, colours: list[str] | None = None) -> gr.Brush:
    """A brush a tenth of the training image's short side wide (Gradio's automatic size is
    far too big on small images), free colours or a fixed palette."""
    size = max(1, round(min(model.sizes[-1]) / 10))
    if colours is None:
        return gr.Brush(default_size=size)
    return gr.Brush(default_size=size, colors=colours, default_color=colours[1 % len(colours)],
                    color_mode="fixed")


def _uploaded(path: str, size: tuple[int, int], what: str) -> Image.Image:
    """Read an uploaded picture, telling the user when it will be resized."""
    image = images.read_image(path)
    if image.size != (size[1], size[0]):
        gr.Info(f"{what} is {image.width}x{image.height}; it is resized to the training "
                f"image's {size[1]}x{size[0]}")
    return image


def _fine_tune_callback(progress: gr.Progress):
    return lambda done, total: progress((done, total), desc="fine-tuning")


INJECT_TEXT = {
    "edit": ("Edit", "Paint your change onto the image (or upload an edited image into the "
             "editor and paint over the changed region with the strokes unticked). SinGAN "
             "regenerates the painted region so that it fits the image.",
             "Edited image", "Mask of the edited region"),
    "harmonize": ("Harmonize", "Paint an object onto the image, or upload a collage (an object "
                  "pasted onto the training image) and paint over the object with the strokes "
                  "unticked. SinGAN makes the object match the image's look.",
                  "Naive collage", "Mask of the pasted object"),
}


def inject_tab(ctx: Context, kind: str) -> None:
    """The Edit or Harmonize tab (kind "edit" or "harmonize")."""
    title, help_text, image_label, mask_label = INJECT_TEXT[kind]
    fn = {"edit": apps.edit, "harmonize": apps.harmonize}[kind]

    def run(name, value, strokes, image_file, mask_file, start, all_scales, fine, seed,
            progress=gr.Progress()):
        start, fine, seed = number(start, SCALE, "injection scale"), _fine_tune(fine), _seed(seed)
        model = ctx.models.get(name)
        size = model.sizes[-1]
        # Uploads keep their size: the application resizes them (or refuses another aspect).
        image = _uploaded(image_file, size, image_label) if image_file else \
            editor_image(value, size, strokes=bool(strokes))
        mask = upload_mask(mask_file, size) if mask_file else editor_mask(value, size)
        scales = list(injection_scales(model)) if all_scales else [start]
        results = {k: fn(model, image, mask, start_scale=k, fine_tune=fine, seed=seed,
                         callback=_fine_tune_callback(progress) if fine else None)
                   for k in scales}
        shown = results.get(start) or results[scales[-1]]
        if all_scales:
            extra = [(to_image(r.blended), f"scale {k}") for k, r in results.items()]
        else:
            extra = [(to_image(shown.raw), "model output"), (mask_image(shown.mask), "mask")]
        before = image.resize((size[1], size[0]), Image.BICUBIC)
        return (before, to_image(shown.blended)), extra

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
                    with gr.Row():
                        image_file = gr.File(label=image_label, file_types=["image"],
                                             type="filepath")
                        mask_file = gr.File(label=mask_label + " (white or opaque = region)",
                                            file_types=["image"], type="filepath")
            with gr.Column(scale=2):
                start = scale_slider("Injection scale", None, minimum=1)
                all_scales = gr.Checkbox(False, label="All injection scales side by side")
                fine = number_box(0, "Fine-tuning iterations first (0 = none)")
                seed = number_box(0, "seed")
                btn = gr.Button(title, variant="primary", elem_id=f"{kind}-button")
        with gr.Row():
            result = gr.ImageSlider(label="Before / after", format="png", type="pil",
                                    elem_id=f"{kind}-result")
            extra = gr.Gallery(label="Details", format="png", columns=3, height="auto",
                               elem_id=f"{kind}-details")
    btn.click(guard(run), [ctx.run, editor, strokes, image_file, mask_file, start, all_scales,
                           fine, seed], [result, extra], api_name=kind)

    def refresh(name, model):
        if model is None:
            return gr.ImageEditor(value=None), scale_slider("Injection scale", None, minimum=1)
        return (gr.ImageEditor(value=_training_image(model), brush=_brush(model)),
                scale_slider("Injection scale", model, minimum=1))
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
        h, w = model.sizes[-1]
        paint = _uploaded(paint_file, (h, w), "Paint") if paint_file else \
            editor_image(value, (h, w))
        out = apps.paint_to_image(model, paint, start_scale=start, quantize=bool(quantized),
                                  fine_tune_iters=fine if quantized else None, seed=seed,
                                  callback=_fine_tune_callback(progress) if fine else None)
        return paint.resize((w, h), Image.BICUBIC), to_image(out)

    with gr.Tab("Paint", id="paint"):
        gr.Markdown("Paint a rough picture with the training image's colours (the brush palette)"
                    "; SinGAN turns it into an image like the training image.")
        with gr.Row():
            with gr.Column(scale=3):
                editor = gr.ImageEditor(label="Paint", type="numpy", image_mode="RGBA",
                                        format="png", layers=False, transforms=(),
                                        sources=("upload",), height=420, elem_id="paint-editor")
                with gr.Row():
                    from_image = gr.Button("Start from the quantised image", size="sm")
                    blank = gr.Button("Blank canvas", size="sm")
                paint_file = gr.File(label="Or upload a paint", file_types=["image"],
                                     type="filepath")
            with gr.Column(scale=2):
                start = scale_slider("Injection scale", None, minimum=1, value=1)
                quantized = gr.Checkbox(False, label="Quantise the paint to the palette and "
                                        "fine-tune that scale first")
                fine = number_box(0, "Fine-tuning iterations (with quantisation)")
                seed = number_box(0, "seed")
                btn = gr.Button("Paint to image", variant="primary", elem_id="paint-button")
        result = gr.ImageSlider(label="Paint / result", format="png", type="pil",
                                elem_id="paint-result")
    btn.click(guard(run), [ctx.run, editor, paint_file, start, quantized, fine, seed], [result],
              api_name="paint")
    from_image.click(guard(lambda name: _paint_editor(ctx.models.get(name))), [ctx.run],
                     [editor], api_name="paint_canvas_image")
    blank.click(guard(lambda name: _paint_editor(ctx.models.get(name), blank=True)), [ctx.run],
                [editor], api_name="paint_canvas_blank")
    ctx.on_model([editor, start], lambda name, model: (
        _paint_editor(model), scale_slider("Injection scale", model, minimum=1, value=1)))


def sr_tab(ctx: Context) -> None:
    def run(name, factor, seed):
        factor, seed = number(factor, SR_FACTOR, "factor"), _seed(seed)
        model = ctx.models.get(name)
        out = apps.super_resolve(model, factor, seed=seed)
        before = resize(model.reals[-1], size=tuple(out.shape[-2:]))
        image = to_image(out)
        path = save_png(image, ctx.workers.outputs(name) / f"sr_x{factor:g}_seed{seed}.png")
        return (to_image(before), image), str(path)

    with gr.Tab("Super-resolution", id="sr"):
        gr.Markdown("Enlarge the training image. Needs a model trained in **sr** mode (Train "
                    "tab, mode `sr`). The left side of the slider is plain bicubic enlargement.")
        with gr.Row():
            factor = gr.Slider(1.5, 8, value=4, step=0.5, label="Factor")
            seed = number_box(0, "seed")
        btn = gr.Button("Enlarge", variant="primary", elem_id="sr-button")
        result = gr.ImageSlider(label="Bicubic / SinGAN", format="png", type="pil",
                                elem_id="sr-result")
        png = gr.File(label="Result (PNG)", interactive=False)
    btn.click(guard(run), [ctx.run, factor, seed], [result, png], api_name="super_resolve")


def animate_tab(ctx: Context) -> None:
    def run(name, frames, alpha, beta, start, fps, seed):
        frames, fps = number(frames, FRAMES, "frames"), number(fps, FPS, "frames per second")
        alpha = number(alpha, ANIMATION_WEIGHT, "alpha")
        beta = number(beta, ANIMATION_WEIGHT, "beta")
        start, seed = number(start, SCALE, "start scale"), _seed(seed)
        model = ctx.models.get(name)
        x = apps.animate(model, frames=frames, alpha=alpha, beta=beta, start_scale=start,
                         seed=seed)
        stem = f"animation_seed{seed}_f{frames}_a{alpha:g}_b{beta:g}_start{start}_fps{fps:g}"
        out = ctx.workers.outputs(name)
        gif = apps.write_animation(x, out / f"{stem}.gif", fps=fps)
        mp4 = apps.write_animation(x, out / f"{stem}.mp4", fps=fps) if HAS_MP4 else None
        return str(gif), (str(mp4) if mp4 else None)

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
            gif = gr.Image(label="Animation (GIF)", format="png", interactive=False,
                           elem_id="animation")
            mp4 = gr.File(label="MP4", interactive=False, visible=HAS_MP4)
    btn.click(guard(run), [ctx.run, frames, alpha, beta, start, fps, seed], [gif, mp4],
              api_name="animate")
    ctx.on_model([start], lambda name, model: (scale_slider("Start scale", model, value=0),))


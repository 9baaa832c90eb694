"""The Patch tab: the training-free engines (GPNN, GPDM) on an uploaded image or the selected
run's training image, every task of `singan patch` (random samples of any size, inpainting and
editing with a mask, structural analogy, and refinement of the selected run's layout)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import gradio as gr

from .. import budget, images, patch
from ..apps.refine import refine_samples
from ..bounds import PAGE_COUNT, RELATIVE_SIZE, SEED, Bound
from ..errors import UIError
from ..resize import resize
from .common import Context, guard, number, number_box, to_image, zip_pngs
from .outputs import png, save_output

TASKS = {"Random samples": "sample", "Inpaint (rebuild the white of the mask)": "inpaint",
         "Edit (make the masked edit coherent)": "edit",
         "Analogy (layout of the structure image)": "analogy",
         "Refine the selected run's layout": "refine"}
MAX_SIZE = Bound(int, 32, 1024)
NOISE = Bound(float, 0, 10)
STEPS = Bound(int, 1, 2000)


def _read(path, max_size: int):
    if not path:
        return None
    x = images.load_image(path)
    long = max(x.shape[-2:])
    return resize(x, max_size / long) if long > max_size else x


def _default_noise(engine: str, task_label: str) -> float:
    """The noise box's value for an engine and task: the engine's default start noise, none
    where the output starts from a given image (inpaint, edit, analogy)."""
    if TASKS.get(task_label) in ("inpaint", "edit", "analogy"):
        return 0.0
    return patch.settings_for(engine if engine in patch.ENGINES else "gpnn").noise


def patch_tab(ctx: Context) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="singan-patch-"))

    def run_patch(name, upload, engine, task_label, count, seed, scale_h, scale_w, max_size,
                  noise, steps, mask_path, structure_path):
        task = TASKS.get(task_label)
        if task is None:
            raise UIError(f"unknown task {task_label!r}")
        patch.check_engine(engine)
        count, seed = number(count, PAGE_COUNT, "count"), number(seed, SEED, "seed")
        number(seed + count - 1, SEED, "the last seed (first seed + count - 1)")
        scale_h = number(scale_h, RELATIVE_SIZE, "height factor")
        scale_w = number(scale_w, RELATIVE_SIZE, "width factor")
        max_size = number(max_size, MAX_SIZE, "max size")
        noise = None if noise in (None, "") else number(noise, NOISE, "noise")
        steps = None if engine == "gpnn" else number(steps, STEPS, "GPDM steps")
        model = ctx.models.get(name) if (task == "refine" or not upload) and name else None
        source = _read(upload, max_size)
        if source is None:
            if model is None:
                raise UIError("upload an image, or select a trained run to use its image")
            source = model.reals[-1].cpu()
        if noise is None and task in ("inpaint", "edit", "analogy"):
            noise = 0.0
        given = {"noise": noise}
        if engine == "gpnn":
            given["alpha"] = 1.0 if task in ("inpaint", "edit") else None
        else:
            given["steps"] = steps
        settings = patch.settings_for(engine, **given)
        device = ctx.models.device
        limit = budget.available_memory(device)
        limit = None if limit is None else int(limit * 0.8)
        source = source.to(device)
        seeds = list(range(seed, seed + count))
        common = {"engine": engine, "settings": settings, "max_memory": limit}
        if task == "sample":
            outs = [patch.sample(source, 1, seed=s, scale_h=scale_h, scale_w=scale_w, **common)
                    for s in seeds]
        elif task in ("inpaint", "edit"):
            if not mask_path:
                raise UIError("upload a mask: white where the image is rebuilt")
            mask = images.read_mask(mask_path, size=tuple(source.shape[-2:])).to(device)
            fn = patch.inpaint if task == "inpaint" else patch.edit
            outs = [fn(source, mask, 1, seed=s, **common) for s in seeds]
        elif task == "analogy":
            structure = _read(structure_path, max_size)
            if structure is None:
                raise UIError("upload a structure image: its layout is drawn with the patches "
                              "of the image")
            outs = [patch.analogy(structure.to(device), source, 1, seed=s, **common)
                    for s in seeds]
        else:
            if model is None:
                raise UIError("select a trained run: its samples give the layout")
            image = None if not upload else source
            outs = [refine_samples(model, [s], image=image, engine=engine, scale_h=scale_h,
                                   scale_w=scale_w, settings=settings, max_memory=limit)
                    for s in seeds]
        pictures = {f"{engine}-{task}-seed{s:04d}.png": to_image(x[0])
                    for s, x in zip(seeds, outs)}
        target = scratch / f"{engine}-{task}_seed{seeds[0]}-{seeds[-1]}.zip"
        zip_pngs(pictures, target)
        if name:  # kept with the selected run, with the settings that made them
            settings_used = {"engine": engine, "task": task_label, "count": count, "seed": seed,
                             "scale_h": scale_h, "scale_w": scale_w, "max_size": max_size,
                             "noise": noise, "steps": steps}
            save_output(ctx.workers.outputs(name), "patch", f"{engine}-{task}_seed{seed}",
                        {member.replace(".png", "{n}.png"): png(im)
                         for member, im in pictures.items()}, settings_used)
        return ([(im, f"{member.removesuffix('.png')} ({im.width}x{im.height})")
                 for member, im in pictures.items()], str(target))

    with gr.Tab("Patch", id="patch"):
        gr.Markdown("Training-free images from one picture's patches: **GPNN** (patch nearest "
                    "neighbours, seconds) or **GPDM** (patch distribution matching, about a minute "
                    "on 2 CPU cores). Upload an image, or leave it empty to use the selected run's "
                    "training image. *Refine* draws the selected run's coarse layout and "
                    "builds the detail from the image's patches.")
        with gr.Row():
            upload = gr.Image(label="Image (its patches are used)", type="filepath",
                              sources=["upload"], elem_id="patch-image")
            mask = gr.Image(label="Mask (inpaint, edit)", type="filepath",
                            sources=["upload"], elem_id="patch-mask")
            structure = gr.Image(label="Structure image (analogy)", type="filepath",
                                 sources=["upload"], elem_id="patch-structure")
        with gr.Row():
            engine = gr.Radio(list(patch.ENGINES), value="gpnn", label="Engine")
            task = gr.Dropdown(list(TASKS), value="Random samples", label="Task")
            count = gr.Slider(1, 16, value=4, step=1, label="Count")
            seed = number_box(0, "First seed")
        with gr.Row():
            scale_h = gr.Slider(0.25, 4, value=1, step=0.25, label="Height x")
            scale_w = gr.Slider(0.25, 4, value=1, step=0.25, label="Width x")
            max_size = gr.Slider(32, 1024, value=250, step=1, label="Max size (px)")
            noise = gr.Number(value=_default_noise("gpnn", "Random samples"),
                              label="Start noise (more: more variety, less fidelity)",
                              elem_id="patch-noise")
            steps = gr.Slider(10, 2000, value=300, step=10, label="GPDM steps per level")
        btn = gr.Button("Generate", variant="primary", elem_id="patch-button")
        gallery = gr.Gallery(label="Outputs", format="png", columns=4, height="auto",
                             object_fit="contain", elem_id="patch-outputs")
        zipped = gr.File(label="All outputs (zip)", interactive=False)
    for control in (engine, task):
        control.change(_default_noise, [engine, task], [noise], api_name=False)
    ctx.reusable["patch"] = ("patch", {"engine": engine, "task": task, "count": count,
                                       "seed": seed, "scale_h": scale_h, "scale_w": scale_w,
                                       "max_size": max_size, "noise": noise, "steps": steps})
    btn.click(guard(run_patch), [ctx.run, upload, engine, task, count, seed, scale_h, scale_w,
                                 max_size, noise, steps, mask, structure], [gallery, zipped],
              api_name="patch")

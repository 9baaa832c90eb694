"""Training into a run folder: the one way `singan train`, `singan sr`, the web app's workers and
train-many's children train a model.

`train_run` starts a new run, `resume_run` continues an interrupted one. Both hold the folder's
lock, save the model and the training state after every finished scale (so an interruption keeps
every finished scale), write a preview and the records (log.txt, stats.jsonl, progress.json),
and return the trained model. A callback that raises KeyboardInterrupt stops the training cleanly
(the CLI's Ctrl-C does): the finished scales stay saved and progress.json says "interrupted".
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..bounds import brief_names, check_seed
from ..budget import check_training_memory, training_memory
from ..config import SinGANConfig
from ..errors import RunError
from ..images import save_image
from ..models import SinGAN
from ..pyramid import PyramidGeometry, geometry_for
from ..sample import generate
from ..training import Callback, Trainer, supports_bf16
from .format import (is_singan_config, is_singan_tensors, load, load_train_state, read_run_info,
                     save_run)
from .layout import (CONFIG_NAME, LAUNCHER_FILES, LOCK_NAME, MODEL_NAME, PREVIEW, PREVIEWS_DIR,
                     STATE_NAME, check_entries, clear_run, has_config, is_own_temp, lock_temp_pid,
                     preview_path)
from .lock import RunLock, remove_leftovers
from .records import RunRecords, mark_done

EMBEDDED_SOURCE = "<embedded default image>"


@dataclass
class RunStart:
    """What a training into a run folder starts with (given to `on_start`)."""

    run_dir: Path
    model: SinGAN  # the model being trained; its finished scales grow as training goes on
    first_scale: int  # the first scale to train (num_scales: nothing is left to train)
    resumed: bool


StartCallback = Callable[[RunStart], None]


def train_run(run_dir: str | os.PathLike, image: torch.Tensor, config: SinGANConfig, *,
              source: str = EMBEDDED_SOURCE, preset: str | None = None, seed: int = 0,
              device: torch.device | str = "cpu", force: bool = False,
              geometry: PyramidGeometry | None = None, log_every: int = 25,
              cuda_graphs: bool = False, bf16: bool = False, callback: Callback | None = None,
              on_start: StartCallback | None = None) -> SinGAN:
    """Train a new model on a (1, 3, H, W) image in [-1, 1] into the folder `run_dir`.

    `source` and `preset` are recorded in config.json; `geometry` is the image's pyramid when
    the caller has computed it already. Refuses (RunError, ConfigError) a training that needs
    more memory than `device` has free, a path that is not a folder, and a folder that already
    holds a run unless `force` (which replaces the run's files, nothing else). `callback` gets
    every `Progress`, `on_start` the `RunStart` once the folder holds the untrained run.
    """
    run_dir = _run_path(run_dir)
    check_seed(seed)
    geo = geometry or geometry_for(config, *image.shape[-2:])
    check_training_memory(training_memory(config, list(geo.sizes), held_pixels(image, device)),
                          device, config.max_size)
    check_trainable(run_dir, force)
    created, saved = not run_dir.exists(), False
    try:
        with RunLock(run_dir):
            remove_leftovers(run_dir)
            check_trainable(run_dir, force)  # again: the folder may have changed before the lock
            if has_config(run_dir):
                clear_run(run_dir)
            trainer = Trainer.from_image(image, config, device=device, seed=seed,
                                         log_every=log_every, cuda_graphs=cuda_graphs,
                                         geometry=geo, bf16=bf16)
            extra = {"image": {"source": str(source), "height": int(image.shape[-2]),
                               "width": int(image.shape[-1])},
                     **({"preset": preset} if preset is not None else {}), "seed": seed,
                     "arithmetic": arithmetic_name(trainer)}
            save_run(trainer.model, run_dir, trainer.state(), extra)  # scale -1: resumable
            saved = True
            return _train(trainer, run_dir, extra, RunStart(run_dir, trainer.model, 0, False),
                          callback, on_start)
    except BaseException:
        if created and not saved and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()  # nothing of a run was saved: leave no empty folder behind
        raise


def arithmetic_name(trainer: Trainer) -> str:
    """The arithmetic a training runs in, as config.json records it ("bfloat16" or "float32");
    a resumed run continues in it where the device has it."""
    return "bfloat16" if trainer.bf16 else "float32"


def held_pixels(image: torch.Tensor, device: torch.device | str) -> int:
    """Pixels of the full-size image that stay in the training's memory (the caller's copy of it,
    on the CPU; a GPU training holds its pyramid only)."""
    same = image.device.type == torch.device(device).type == "cpu"
    return image.shape[-2] * image.shape[-1] if same else 0


def check_trainable(run_dir: Path, force: bool = False) -> None:
    """Refuse to train anew into a folder unless it is missing, empty, or recognisably singan's:
    a run (replaced only with `force`) or singan's own leftovers of a killed start (its temporary
    files, a lock, model files whose headers say singan wrote them, the launchers' files). Never
    replaces, appends to or deletes a file that is not singan's, with or without `force`."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{run_dir} exists and is not a folder")
    if not run_dir.exists():
        return
    check_entries(run_dir)
    if has_config(run_dir):
        if not is_singan_config(run_dir / CONFIG_NAME):
            raise RunError(f"{run_dir} holds files that are not a SinGAN run ({CONFIG_NAME} is "
                           f"not singan's); choose another folder")
        if not force:
            raise RunError(f"{run_dir} already holds a run; use --resume to continue it or "
                           f"--force to overwrite it")
        return
    foreign = foreign_entries(run_dir)
    if foreign:
        raise RunError(f"{run_dir} holds files that are not a SinGAN run "
                       f"({brief_names(foreign)}); choose another folder or move them away")


def foreign_entries(run_dir: Path) -> list[str]:
    """The names of what a folder without config.json holds that is not singan's."""
    found = []
    for p in sorted(run_dir.iterdir()):
        name = p.name
        ours = (name == LOCK_NAME or is_own_temp(p) or lock_temp_pid(p) is not None
                or (name in LAUNCHER_FILES and p.is_file())
                or (name in (MODEL_NAME, STATE_NAME) and is_singan_tensors(p))
                or (name == PREVIEWS_DIR and p.is_dir() and all(
                    PREVIEW.fullmatch(c.name) or is_own_temp(c) for c in p.iterdir())))
        if not ours:
            found.append(name)
    return found


def _run_path(run_dir: str | os.PathLike) -> Path:
    if not str(run_dir).strip():
        raise RunError("the run folder's path is empty; name a folder")
    return Path(run_dir)


def resume_run(run_dir: str | os.PathLike, *, device: torch.device | str = "cpu",
               log_every: int = 25, cuda_graphs: bool = False, bf16: bool = False,
               callback: Callback | None = None,
               on_start: StartCallback | None = None) -> SinGAN:
    """Continue the interrupted run in `run_dir` from its last finished scale.

    The result is the model an uninterrupted training would have given. A complete run is
    returned as it is (`on_start` sees first_scale == num_scales). The run folder is checked
    before anything in it changes (RunError for a missing, corrupt or foreign one).
    """
    run_dir = _run_path(run_dir)
    info = read_run_info(run_dir)
    check_entries(run_dir)
    with RunLock(run_dir):
        model = load(run_dir, device=device, allow_incomplete=True)
        if model.is_complete:
            # A training killed after its last checkpoint left progress.json "running".
            mark_done(run_dir, model)
            if on_start is not None:
                on_start(RunStart(run_dir, model, model.num_scales, True))
            return model
        check_training_memory(training_memory(model.config, model.sizes), device,
                              model.config.max_size)
        state = load_train_state(run_dir, model)
        remove_leftovers(run_dir)  # after the checks: a damaged run stays exactly as it was
        # the arithmetic the run started in, where the device has it (an older run: the rule)
        bf16 = bf16 or (info.get("arithmetic") == "bfloat16" and supports_bf16(device))
        try:
            trainer = Trainer.resume(model, state, log_every=log_every, cuda_graphs=cuda_graphs,
                                     bf16=bf16)
        except RuntimeError:
            raise RunError(_rng_problem(run_dir, model, state)) from None
        extra = {k: v for k, v in info.items()
                 if k not in ("format_version", "singan_version", "config", "sizes",
                              "scale_factor")}
        extra["arithmetic"] = arithmetic_name(trainer)
        start = RunStart(run_dir, trainer.model, trainer.model.num_trained, True)
        return _train(trainer, run_dir, extra, start, callback, on_start)


# Sizes of a random generator's state (bytes): the CPU's mt19937, a CUDA device's Philox.
RNG_STATE_BYTES = {"cpu": 5056, "cuda": 16}


def _rng_problem(run_dir: Path, model: SinGAN, state) -> str:
    """What is wrong with a training state whose random generator state does not restore."""
    n = state.rng_state.numel() if state.rng_state is not None else 0
    here = model.device.type
    other = next((d for d, size in RNG_STATE_BYTES.items() if size == n and d != here), None)
    if other is not None:
        return (f"{run_dir}: the training state was saved on a {other.upper()} device; resume it "
                f"with --device {other}")
    return (f"{run_dir}: the random generator state in its training state is corrupt; the run "
            f"cannot be resumed exactly (train it anew with --force)")


def save_preview(run_dir: Path, model: SinGAN, seed: int) -> Path:
    """One random sample of the scales trained so far, for watching a training."""
    gen = torch.Generator(device=model.device).manual_seed(seed)
    x = generate(model, 1, generator=gen)
    check_entries(run_dir)  # previews/ must still be a real folder of the run
    return save_image(x[0], preview_path(run_dir, model.num_trained - 1))


def _train(trainer: Trainer, run_dir: Path, extra: dict, start: RunStart,
           callback: Callback | None, on_start: StartCallback | None) -> SinGAN:
    """Train the remaining scales with the records written, saving after every scale."""
    records = RunRecords(run_dir, trainer.model, start.first_scale)
    records.line(f"start at scale {start.first_scale}: {json.dumps(trainer.config.to_dict())}")
    preview_seed = int(extra.get("seed", 0))

    def on_scale_end(tr: Trainer) -> None:
        try:
            save_run(tr.model, run_dir, tr.state(), extra)
        except RunError as e:
            raise RunError(f"{e}; the run keeps its last good checkpoint: free some space and "
                           f"continue with `singan train --resume --out {run_dir}`") from None
        save_preview(run_dir, tr.model, preview_seed)

    def progress(p) -> None:
        if callback is not None:
            callback(p)
        records.progress(p)

    try:
        if on_start is not None:
            on_start(start)
        model = trainer.run(progress, on_scale_end)
    except KeyboardInterrupt:
        records.line(f"interrupted; {trainer.model.num_trained} scale(s) saved")
        records.close("interrupted")
        raise
    except BaseException:
        records.line("stopped by an error")
        records.close("failed")
        raise
    records.line(f"done in {records.elapsed():.1f} s")
    records.close("done")
    return model

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

from ..budget import check_training_memory, training_memory
from ..config import SinGANConfig
from ..errors import RunError
from ..images import save_image
from ..models import SinGAN
from ..pyramid import PyramidGeometry, geometry_for
from ..sample import generate
from ..training import Callback, Trainer
from .format import load, load_train_state, read_run_info, save_run
from .layout import clear_run, has_config, preview_path, remove_temp_files
from .lock import RunLock
from .records import RunRecords

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
              cuda_graphs: bool = False, callback: Callback | None = None,
              on_start: StartCallback | None = None) -> SinGAN:
    """Train a new model on a (1, 3, H, W) image in [-1, 1] into the folder `run_dir`.

    `source` and `preset` are recorded in config.json; `geometry` is the image's pyramid when
    the caller has computed it already. Refuses (RunError, ConfigError) a training that needs
    more memory than `device` has free, a path that is not a folder, and a folder that already
    holds a run unless `force` (which replaces the run's files, nothing else). `callback` gets
    every `Progress`, `on_start` the `RunStart` once the folder holds the untrained run.
    """
    run_dir = Path(run_dir)
    geo = geometry or geometry_for(config, *image.shape[-2:])
    check_training_memory(training_memory(config, list(geo.sizes)), device, config.max_size)
    if run_dir.exists() and not run_dir.is_dir():
        raise RunError(f"{run_dir} exists and is not a folder")
    with RunLock(run_dir):
        remove_temp_files(run_dir)
        if has_config(run_dir):  # without it, the leftovers of a killed start
            if not force:
                raise RunError(f"{run_dir} already holds a run; use --resume to continue it or "
                               f"--force to overwrite it")
            clear_run(run_dir)
        trainer = Trainer.from_image(image, config, device=device, seed=seed,
                                     log_every=log_every, cuda_graphs=cuda_graphs, geometry=geo)
        extra = {"image": {"source": str(source), "height": int(image.shape[-2]),
                           "width": int(image.shape[-1])},
                 **({"preset": preset} if preset is not None else {}), "seed": int(seed)}
        save_run(trainer.model, run_dir, trainer.state(), extra)  # scale -1: resumable
        return _train(trainer, run_dir, extra, RunStart(run_dir, trainer.model, 0, False),
                      callback, on_start)


def resume_run(run_dir: str | os.PathLike, *, device: torch.device | str = "cpu",
               log_every: int = 25, cuda_graphs: bool = False, callback: Callback | None = None,
               on_start: StartCallback | None = None) -> SinGAN:
    """Continue the interrupted run in `run_dir` from its last finished scale.

    The result is the model an uninterrupted training would have given. A complete run is
    returned as it is (`on_start` sees first_scale == num_scales). The run folder is checked
    before anything in it changes (RunError for a missing, corrupt or foreign one).
    """
    run_dir = Path(run_dir)
    info = read_run_info(run_dir)
    with RunLock(run_dir):
        model = load(run_dir, device=device, allow_incomplete=True)
        if model.is_complete:
            if on_start is not None:
                on_start(RunStart(run_dir, model, model.num_scales, True))
            return model
        check_training_memory(training_memory(model.config, model.sizes), device,
                              model.config.max_size)
        state = load_train_state(run_dir, model)
        remove_temp_files(run_dir)  # after the checks: a damaged run stays exactly as it was
        try:
            trainer = Trainer.resume(model, state, log_every=log_every, cuda_graphs=cuda_graphs)
        except RuntimeError as e:
            raise RunError(f"{run_dir}: cannot restore the training state on {model.device} "
                           f"({e}); resume on the device type it was trained on") from None
        extra = {k: v for k, v in info.items()
                 if k not in ("format_version", "singan_version", "config", "sizes",
                              "scale_factor")}
        start = RunStart(run_dir, trainer.model, trainer.model.num_trained, True)
        return _train(trainer, run_dir, extra, start, callback, on_start)


def save_preview(run_dir: Path, model: SinGAN, seed: int) -> Path:
    """One random sample of the scales trained so far, for watching a training."""
    gen = torch.Generator(device=model.device).manual_seed(seed)
    x = generate(model, 1, generator=gen)
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

"""What a run folder holds: the names of its files, and the few operations on them by name.

A run folder RUN/ holds the model (config.json, model.safetensors), what resuming needs
(train_state.safetensors), the training records (log.txt, stats.jsonl, progress.json,
previews/scale_KK.png), while training a lock (.lock), and, where a launcher started the
training, that launcher's files (worker.log and the uploaded input.png of the web app,
train-many.log of train-many, outputs/ for what the web app makes from the model). Nothing
outside `singan.run` spells these names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

CONFIG_NAME = "config.json"
MODEL_NAME = "model.safetensors"
STATE_NAME = "train_state.safetensors"
LOG_NAME = "log.txt"
STATS_NAME = "stats.jsonl"
PROGRESS_NAME = "progress.json"
PREVIEWS_DIR = "previews"
LOCK_NAME = ".lock"
WORKER_LOG_NAME = "worker.log"  # output of a web-app worker
INPUT_NAME = "input.png"  # the training image the web app uploaded
TRAIN_MANY_LOG_NAME = "train-many.log"  # every attempt of train-many: marks the folder as its own
OUTPUTS_DIR = "outputs"  # files the web app writes for download

# What a training writes, and so what `--force` removes (nothing else a user put there).
RUN_FILES = (CONFIG_NAME, MODEL_NAME, STATE_NAME, STATS_NAME, LOG_NAME, PROGRESS_NAME)
MODEL_FILES = (CONFIG_NAME, MODEL_NAME)  # what sampling needs
PREVIEW = re.compile(r"scale_\d+\.png")


def preview_path(run_dir: str | os.PathLike, scale: int) -> Path:
    """The preview written after `scale` (0 = coarsest) was trained."""
    return Path(run_dir) / PREVIEWS_DIR / f"scale_{scale:02d}.png"


def previews(run_dir: str | os.PathLike) -> list[Path]:
    """The previews of a run folder, coarsest first."""
    folder = Path(run_dir) / PREVIEWS_DIR
    return sorted(p for p in folder.glob("scale_*.png") if PREVIEW.fullmatch(p.name))


def latest_preview(run_dir: str | os.PathLike) -> Path | None:
    """The preview of the finest scale trained so far, or None."""
    found = previews(run_dir)
    return found[-1] if found else None


def has_config(run_dir: str | os.PathLike) -> bool:
    """Whether the folder holds a config.json (of any kind; `format.read_run_info` checks it)."""
    return os.path.lexists(Path(run_dir) / CONFIG_NAME)


def is_run_like(run_dir: str | os.PathLike) -> bool:
    """Whether a folder looks like a run or a training's start (for listing run folders)."""
    run_dir = Path(run_dir)
    return any(os.path.lexists(run_dir / m) for m in (CONFIG_NAME, PROGRESS_NAME,
                                                      WORKER_LOG_NAME))


def remove_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of `files.atomic_write` that a killed process left in a run
    folder (and its previews/); call it only while holding the run's lock. Returns what was
    deleted."""
    folder = Path(folder)
    found = [p for d in (folder, folder / PREVIEWS_DIR) for p in d.glob(".*.tmp")
             if p.is_file() and not p.name.startswith(LOCK_NAME + ".")]
    for p in found:
        p.unlink(missing_ok=True)
    return found


def clear_run(run_dir: str | os.PathLike) -> None:
    """Remove what a training wrote (RUN_FILES and the previews), before training anew."""
    run_dir = Path(run_dir)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for p in previews(run_dir):
        p.unlink()

"""What a run folder holds: the names of its files, and the few operations on them by name.

A run folder RUN/ holds the model (config.json, model.safetensors), what resuming needs
(train_state.safetensors), the training records (log.txt, stats.jsonl, progress.json,
previews/scale_KK.png), while training a lock (.lock), and, where a launcher started the
training, that launcher's files (worker.log and the uploaded input.png of the web app,
train-many.log of train-many, form.json with the web app's Train form, outputs/ for what the web app makes from the model). Nothing
outside `singan.run` spells these names.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from ..errors import RunError

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
FORM_NAME = "form.json"  # the web app's Train form of the run (upload's file name, settings)
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


# The temporary names of `files.atomic_write` (mkstemp: "." + name + "." + 8 characters of
# [a-z0-9_] + ".tmp"), and those of the lock (`lock.RunLock`: ".lock.PID.HEX.tmp" while taking
# it, ".lock.stale.PID" while taking over a stale one). Only these are singan's to delete.
_TEMP = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")
_LOCK_TEMP = re.compile(r"\.lock\.(?P<pid>\d{1,10})\.[0-9a-f]{8}\.tmp|"
                        r"\.lock\.stale\.(?P<stale>\d{1,10})")
WRITTEN_FILES = (*RUN_FILES, TRAIN_MANY_LOG_NAME)  # written atomically into a run folder
LAUNCHER_FILES = (INPUT_NAME, FORM_NAME, WORKER_LOG_NAME, TRAIN_MANY_LOG_NAME)


def is_own_temp(path: Path) -> bool:
    """Whether `path` is a temporary file of singan's own atomic writes in a run folder."""
    m = _TEMP.fullmatch(path.name)
    if m is None:
        return False
    if path.parent.name == PREVIEWS_DIR:
        return bool(PREVIEW.fullmatch(m.group("name")))
    return m.group("name") in WRITTEN_FILES


def lock_temp_pid(path: Path) -> int | None:
    """The process id in the name of a temporary file of the lock, or None if it is not one."""
    m = _LOCK_TEMP.fullmatch(path.name)
    return None if m is None else int(m.group("pid") or m.group("stale"))


def own_temp_files(folder: str | os.PathLike) -> list[Path]:
    """singan's temporary files in a run folder and its previews/ (not the lock's): what a
    process killed in the middle of a write leaves."""
    folder = Path(folder)
    return [p for d in (folder, folder / PREVIEWS_DIR) if d.is_dir() and not d.is_symlink()
            for p in d.iterdir() if is_own_temp(p) and p.is_file() and not p.is_symlink()]


def _kind(path: Path) -> str:
    mode = os.lstat(path).st_mode
    for test, name in ((stat.S_ISREG, "regular file"), (stat.S_ISDIR, "folder"),
                       (stat.S_ISFIFO, "pipe"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "device"


def check_entries(run_dir: str | os.PathLike) -> None:
    """Refuse a run folder whose files (or previews/, outputs/) are symbolic links, or of the
    wrong kind (a folder, pipe or device where a file belongs): singan never writes through a
    link, so that a run folder cannot make it write elsewhere, and never opens a pipe, which
    would hang."""
    run_dir = Path(run_dir)
    folders = (PREVIEWS_DIR, OUTPUTS_DIR)
    for name in (*RUN_FILES, *LAUNCHER_FILES, *folders, LOCK_NAME):
        path = run_dir / name
        if path.is_symlink():
            raise RunError(f"{path}: is a symbolic link; singan does not write through links in "
                           f"a run folder (replace it by a real file or folder, or remove it)")
        if not os.path.lexists(path) or name == LOCK_NAME:
            continue
        wanted = "folder" if name in folders else "regular file"
        found = _kind(path)
        if found != wanted:
            raise RunError(f"{path}: is a {found} where singan keeps a {wanted} (move it away)")
    previews_dir = run_dir / PREVIEWS_DIR
    if previews_dir.is_dir():
        for p in previews_dir.iterdir():
            if p.is_symlink():
                raise RunError(f"{p}: is a symbolic link; singan does not write through links "
                               f"in a run folder (remove it)")


def clear_run(run_dir: str | os.PathLike) -> None:
    """Remove what a training wrote (RUN_FILES and the previews), before training anew."""
    run_dir = Path(run_dir)
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    for p in previews(run_dir):
        p.unlink()

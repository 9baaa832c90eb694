"""Planning a train-many batch: which images, which run folder each, what state that folder is in,
and the command line of the child that trains it.

Conventions: every path a job carries is absolute, so a child or a Dask worker started in another
folder finds it. An image's run folder is RUNS/<name>, <name> being the image's file stem, made
unique when two images share a stem. A run folder that train-many has worked on holds
a train-many log (`layout.TRAIN_MANY_LOG_NAME`: each attempt's command, output and exit
status): that file marks it as ours.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, InputError, SinGANError
from ..files import check_file
from ..run import load, load_train_state
from ..run.launch import worker_command
from ..run.layout import CONFIG_NAME, MODEL_NAME, TRAIN_MANY_LOG_NAME

# Suffixes taken as images when a folder is listed (a corrupt file with one of them still counts,
# and fails alone when it is trained).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif",
                            ".ppm", ".pgm", ".pnm", ".tga"})
LOG_NAME = TRAIN_MANY_LOG_NAME
MAX_LIST_BYTES = 10_000_000

# What a run folder is, as far as train-many is concerned (see `run_status`).
NEW = "new"  # absent, empty, or only train-many's log: train it
INTERRUPTED = "interrupted"  # some scales trained and a training state: `singan train --resume`
FINISHED = "finished"  # a complete, loadable model: skip it
BROKEN = "broken"  # train-many's own run that cannot be loaded or resumed: train with --force
FOREIGN = "foreign"  # someone else's files or an unusable run not made by train-many: leave it
UNUSABLE = "unusable"  # an entry that cannot be trained at all (see `Job.problem`): fail it


@dataclass(frozen=True)
class Job:
    """One image to train: its file, the name of its run folder and that folder (absolute).

    A job with a `problem` names no usable image: `image` and `name` are then printable forms of
    what was given, `run_dir` is empty, and the job fails with `problem` as its error.
    """

    image: str
    name: str
    run_dir: str
    problem: str = ""

    @property
    def log(self) -> Path | None:
        return Path(self.run_dir) / LOG_NAME if self.run_dir else None


# --- which images -----------------------------------------------------------------------------


def find_images(sources: Iterable[str | os.PathLike]) -> list[Path]:
    """The images that `sources` name, in order, each once, as absolute paths.

    A folder gives its files with an image suffix (sorted by name, not recursive, hidden files
    skipped); a file with an image suffix is taken as it is; any other file is a list of images:
    one path per line, blank lines and lines starting with `#` ignored, relative paths relative to
    the list's folder. Listed files are not opened here: a missing, corrupt or unusable one
    (`path_problem`) fails alone when it is trained. Raises InputError for a source that is
    missing or not a regular file (a pipe is never opened) or an unreadable list, and when no
    image is found at all.
    """
    found: list[Path] = []
    for src in sources:
        src = Path(src)
        if src.is_dir():
            found += sorted(p for p in src.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                            and not p.name.startswith(".") and not p.is_dir())
        elif src.suffix.lower() in IMAGE_SUFFIXES:
            found.append(src)
        elif src.exists() or src.is_symlink():
            found += read_list(src)
        else:
            raise InputError(f"{src}: no such file or folder")
    unique = list(dict.fromkeys(Path(os.path.abspath(p)) for p in found))
    if not unique:
        raise InputError(f"no images found in {', '.join(str(s) for s in sources)} (image "
                         f"suffixes: {' '.join(sorted(IMAGE_SUFFIXES))})")
    return unique


def read_list(path: Path) -> list[Path]:
    """The image paths of a list file (see `find_images` for the format).

    Lines are split at newlines only and decoded one by one: bytes that are not UTF-8 are kept
    (as Python keeps them in file names), so such a line, like one with a NUL byte, is an entry
    that fails alone (`path_problem`) instead of spoiling the whole list.
    """
    st = check_file(path, "a list of images")
    if st.st_size > MAX_LIST_BYTES:
        raise InputError(f"{path}: too large for a list of images")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    entries = [os.fsdecode(line.strip()) for line in data.split(b"\n")]
    return [path.parent / e for e in entries if e and not e.startswith("#")]


def path_problem(path: Path) -> str:
    """Why `path` cannot be an image to train ("" when it can): a NUL byte (no system call takes
    it), bytes that are not UTF-8 (the run's records are UTF-8), or no file name at all."""
    text = str(path)
    if "\0" in text:
        return "the path holds a NUL byte"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "the path is not UTF-8 text; rename the file"
    if not path.stem:
        return "the path names no file"
    return ""


def printable(text: str | os.PathLike) -> str:
    """`text` on one printable line: undecodable bytes and control characters escaped."""
    text = os.fsencode(text).decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)


def plan_jobs(images: Sequence[Path], runs_dir: str | os.PathLike) -> list[Job]:
    """One job per image, each with its own run folder under `runs_dir`.

    The folder is named after the image's stem. Images whose stems collide (ignoring case, for
    case-insensitive file systems) are all named `<stem>-<6 hex digits of a hash of the image's
    absolute path>` instead, so names stay the same from one call to the next as long as the set
    of images does. An image whose path is unusable (`path_problem`), or that would share its
    run folder with an earlier one, becomes a job with a `problem`.
    """
    runs_dir = Path(os.path.abspath(runs_dir))
    problems = [path_problem(p) for p in images]
    counts: dict[str, int] = {}
    for p, problem in zip(images, problems):
        if not problem:
            counts[p.stem.casefold()] = counts.get(p.stem.casefold(), 0) + 1
    jobs, taken = [], {}
    for p, problem in zip(images, problems):
        if problem:
            jobs.append(Job(image=printable(p), name=printable(p.stem), run_dir="",
                            problem=problem))
            continue
        name = p.stem
        if counts[name.casefold()] > 1:
            name += "-" + hashlib.sha1(str(p).encode()).hexdigest()[:6]
        if name.casefold() in taken:  # a hashed name met another image's stem
            jobs.append(Job(image=str(p), name=name, run_dir="", problem=(
                f"would share the run folder {runs_dir / name} with {taken[name.casefold()]}; "
                f"rename one")))
            continue
        taken[name.casefold()] = p
        jobs.append(Job(image=str(p), name=name, run_dir=str(runs_dir / name)))
    return jobs


# --- what a run folder holds ------------------------------------------------------------------


def run_status(run_dir: str | os.PathLike) -> tuple[str, str]:
    """(status, detail) of a run folder: one of NEW, INTERRUPTED, FINISHED, BROKEN, FOREIGN.

    FINISHED means `singan.load` succeeds; INTERRUPTED that the model loads incomplete together
    with its training state. A folder holding an unusable run is BROKEN (retrain it with --force)
    only when train-many's log shows that train-many made it; never touch it otherwise (FOREIGN).
    """
    run_dir = Path(run_dir)
    if not run_dir.exists():
        return NEW, ""
    if not run_dir.is_dir():
        return FOREIGN, f"{run_dir} exists and is not a folder"
    ours = (run_dir / LOG_NAME).is_file()
    if (run_dir / CONFIG_NAME).exists() or (run_dir / MODEL_NAME).exists():
        try:
            model = load(run_dir, allow_incomplete=True)
            if model.is_complete:
                return FINISHED, ""
            load_train_state(run_dir, model)
            return INTERRUPTED, f"{model.num_trained} of {model.num_scales} scales trained"
        except (SinGANError, OSError, RuntimeError, ValueError) as e:
            if ours:
                return BROKEN, str(e)
            return FOREIGN, (f"{e} (the run was not made by train-many, so it is left alone: "
                             f"repair or remove it)")
    if ours or not any(run_dir.iterdir()):
        return NEW, ""
    return FOREIGN, (f"{run_dir} holds files that are not a SinGAN run; move them away or use "
                     f"another --out")


def job_status(job: Job) -> tuple[str, str]:
    """`run_status` of the job's run folder, or (UNUSABLE, why) for a job with a problem or a
    folder that cannot be examined (permissions, a name too long): the per-entry failures that
    must not stop the rest of a batch."""
    if job.problem:
        return UNUSABLE, job.problem
    try:
        return run_status(job.run_dir)
    except (SinGANError, OSError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        return UNUSABLE, f"{job.run_dir}: cannot examine the run folder ({reason})"


# --- the child --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainOptions:
    """What every child `singan train` gets for a new run.

    `config_args` are training flags (`--preset`, `--mode`, config overrides, `--seed`); a resumed
    run keeps the settings it was started with. `launcher` is the command that stands for
    `singan` (default: this Python running `singan.cli.worker`, which is `singan` stopped with
    its parent); tests put a stand-in there.
    """

    config_args: tuple[str, ...] = ()
    launcher: tuple[str, ...] = ()

    def command(self) -> list[str]:
        return list(self.launcher) or worker_command()


@dataclass(frozen=True)
class Slot:
    """Where a child runs: its `--device`, CPU threads and (for a GPU slot) the GPU it sees."""

    index: int
    device: str = "cpu"
    threads: int = 1
    gpu: str | None = None  # CUDA_VISIBLE_DEVICES for the child

    def describe(self) -> str:
        where = f"GPU {self.gpu}" if self.gpu is not None else self.device
        return f"slot {self.index} ({where}, {self.threads} thread{'s' * (self.threads > 1)})"

    def env(self) -> dict[str, str]:
        """Environment variables to set in the child."""
        env = {"OMP_NUM_THREADS": str(self.threads), "MKL_NUM_THREADS": str(self.threads)}
        if self.gpu is not None:
            env["CUDA_VISIBLE_DEVICES"] = self.gpu
        return env


def cpu_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def plan_slots(jobs: int, *, gpus: Sequence[str] = (), device: str = "cpu",
               threads: int | None = None, cores: int | None = None) -> list[Slot]:
    """`jobs` slots. With `gpus`, slot i sees only GPU gpus[i % len(gpus)] (as `--device cuda`);
    otherwise every slot uses `device`. Each child gets `threads` CPU threads, by default an equal
    share of the cores (at least 1)."""
    if jobs < 1:
        raise ConfigError("jobs must be at least 1")
    share = threads if threads is not None else max(1, (cores or cpu_cores()) // jobs)
    if gpus:
        return [Slot(i, "cuda", share, str(gpus[i % len(gpus)])) for i in range(jobs)]
    return [Slot(i, device, share) for i in range(jobs)]


ACTIONS = {NEW: "train", BROKEN: "retrain", INTERRUPTED: "resume"}


def child_argv(job: Job, status: str, options: TrainOptions, slot: Slot) -> list[str]:
    """The command that trains `job` from a folder in `status` (NEW, BROKEN or INTERRUPTED)."""
    if status == INTERRUPTED:
        args = ["train", "--resume", "--out", job.run_dir]
    else:
        args = ["train", job.image, "--out", job.run_dir, *options.config_args]
        if status == BROKEN:
            args.append("--force")
    return options.command() + args + ["--device", slot.device, "--threads", str(slot.threads),
                                       "--quiet"]


@dataclass
class Record:
    """What happened to one image in a batch (a line of the summary)."""

    job: Job
    status: str = "pending"  # done, skipped, failed, interrupted or pending (never started)
    attempts: int = 0
    seconds: float = 0.0
    error: str = ""
    where: str = ""  # the slot or Dask worker of the last attempt

    def to_dict(self) -> dict:
        log = self.job.log
        return {"image": self.job.image, "name": self.job.name, "run": self.job.run_dir,
                "status": self.status, "attempts": self.attempts,
                "seconds": round(self.seconds, 2), "error": self.error,
                "where": self.where, "log": str(log) if log is not None else ""}

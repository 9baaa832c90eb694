"""Run folders as the web app sees them: training workers, their progress, model zips.

Nothing here imports gradio. A training worker is `singan train` in a subprocess
(`singan.run.launch.Worker`) writing into a run folder; the app only reads what the worker writes
there (its progress record, previews and log), so a page that is closed or reloaded finds
the run again.

The app lists and writes only real folders inside its runs folder: a run folder that is a
symbolic link (or resolves elsewhere) is neither listed nor opened, an `outputs` folder that is
a link is refused, and every file the app writes is written atomically into such a folder (a
temporary file renamed into place: the rename replaces a link of that name, never writes
through it). Messages name runs by their name, never by their path on the server.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .. import images
from ..errors import SinGANError, UIError
from ..files import atomic_write, read_json
from ..run import ProgressInfo, load, pack_run, read_progress, read_run_info, unpack_run
from ..run.launch import Worker, interrupt_process
from ..run.layout import (CONFIG_NAME, FORM_NAME, INPUT_NAME, MODEL_FILES, MODEL_NAME,
                          OUTPUTS_DIR, STATE_NAME, WORKER_LOG_NAME, is_run_like, latest_preview)
from ..run.records import MAX_PID

_NAME_OK = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class RunStatus:
    """What the page shows about one run folder.

    state: "starting", "running", "done", "interrupted", "failed", "lost" (progress says running
    but no worker is alive), or "ready" (a model without training records, e.g. an upload).
    """

    name: str
    state: str
    progress: ProgressInfo = field(default_factory=ProgressInfo)
    message: str = ""  # the worker's last output line when it failed

    @property
    def has_model(self) -> bool:
        return self.state in ("done", "ready")

    @property
    def training(self) -> bool:
        return self.state in ("starting", "running")


def scale_label(k: int, num_scales: int | None) -> str:
    """The page's one numbering of scales: zero-based, 0 = coarsest, "scale k/F" with F the
    finest (num_scales - 1), as the training log and the CLI write it."""
    return f"scale {k}/{num_scales - 1}" if num_scales else f"scale {k}"


def safe_name(text: str, default: str = "run") -> str:
    """A folder name made of letters, digits, '.', '_' and '-' (no leading dot), at most 60."""
    name = _NAME_OK.sub("-", text).strip("-.")[:60].strip("-.")
    return name or default


def unique_dir(parent: Path, name: str) -> Path:
    """Create and return parent/name, or parent/name-2, -3, ... when taken."""
    parent.mkdir(parents=True, exist_ok=True)
    for i in range(1, 10_000):
        path = parent / (name if i == 1 else f"{name}-{i}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise UIError(f"too many runs named {name!r}")


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _pid_is_worker(pid: object, run_dir: Path) -> bool:
    """Whether `pid` is alive and (where /proc tells) a `singan train` writing into run_dir.

    Never raises: a pid of the wrong type or one no process can have (it does not fit a C int)
    is no worker."""
    if type(pid) is not int or not 0 < pid <= MAX_PID:
        return False
    try:
        os.kill(pid, 0)
    except (OSError, OverflowError):  # gone, someone else's process, or no such pid at all
        return False
    proc = Path(f"/proc/{pid}")
    if not Path("/proc/self").exists():
        return True  # no /proc (macOS): trust the pid
    try:
        args = [a.decode(errors="replace") for a in
                (proc / "cmdline").read_bytes().split(b"\0")]
        cwd = Path(os.readlink(proc / "cwd"))
    except OSError:
        return False
    return "train" in args and any((cwd / a).resolve() == run_dir.resolve() for a in args if a)


class Workers:
    """Starts, follows and stops the training workers of one runs folder.

    Args:
        runs_dir: where run folders are created and listed.
        device: the `--device` value given to every worker ("cpu", "cuda", "auto", ...).
        threads: the `--threads` value given to every worker (None: PyTorch's choice).
    """

    def __init__(self, runs_dir: str | os.PathLike, device: str = "cpu",
                 threads: int | None = None):
        self.runs_dir = Path(runs_dir).resolve()
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.device, self.threads = device, threads
        self._workers: dict[str, Worker] = {}
        self._signalled: set[int] = set()  # pids of other apps' workers sent SIGINT
        self._lock = threading.Lock()

    # --- listing -----------------------------------------------------------------------------

    def path(self, name: str | None) -> Path:
        """The folder of run `name`: a real folder (not a symbolic link) directly inside
        runs_dir."""
        if not name:
            raise UIError("No run selected: train a model or upload one first.")
        if not isinstance(name, str) or name != safe_name(name):
            raise UIError(f"no run named {name!r}")
        path = self.runs_dir / name
        if path.is_symlink() or path.resolve().parent != self.runs_dir:
            raise UIError(f"run {name!r} is a symbolic link; the web app uses only real folders "
                          f"in its runs folder")
        if not path.is_dir():
            raise UIError(f"no run named {name!r}")
        return path

    def names(self) -> list[str]:
        """Run folders, newest first (real folders the app or `singan train` wrote; symbolic
        links and entries that vanish while listing are left out)."""
        runs = []
        for p in self.runs_dir.iterdir():
            if p.name.startswith(".") or p.is_symlink() or not p.is_dir() or not is_run_like(p):
                continue
            try:
                runs.append((p.stat().st_mtime, p.name))
            except OSError:
                continue
        return [name for _, name in sorted(runs, reverse=True)]

    def status(self, name: str) -> RunStatus:
        run_dir = self.path(name)
        progress = read_progress(run_dir) or ProgressInfo()
        worker = self._workers.get(name)
        alive = worker.poll() is None if worker is not None else \
            _pid_is_worker(progress.pid, run_dir)
        state = progress.status
        if alive and worker is not None and not (
                progress.updated is not None and progress.updated >= worker.started):
            state = "starting"  # a new or resumed worker that has not reported yet
        elif state == "running" and not alive:
            state = "lost"
        elif state is None:
            if (run_dir / MODEL_NAME).exists() and (run_dir / CONFIG_NAME).exists():
                state = "ready"
            else:
                state = "failed"
        message = _last_line(run_dir / WORKER_LOG_NAME) if state in ("failed", "lost") else ""
        return RunStatus(name, state, progress, message)

    # --- training ----------------------------------------------------------------------------

    def training_run(self) -> str | None:
        """The run being trained now (by this app or another over the same runs folder), or
        None."""
        for name in self.names():
            try:
                if self.status(name).training:
                    return name
            except (UIError, OSError):
                continue
        return None

    def check_idle(self) -> None:
        """Refuse a second training while one runs: both would slow down (one at a time)."""
        busy = self.training_run()
        if busy is not None:
            raise UIError(f"run {busy!r} is training now; one training at a time (two would "
                          f"each run at half speed): wait for it to finish, or stop it first")

    def start(self, image: str | os.PathLike | None, name: str, *, preset: str, mode: str,
              settings: dict[str, int | float | bool], seed: int = 0,
              file_name: str | None = None) -> str:
        """Validate the image, create a run folder and start `singan train` on it.

        `settings` maps SinGANConfig field names to values (passed as --field-name flags).
        `file_name` is the upload's original name (default: the image's). Returns the run's
        name. Raises InputError for a bad image, UIError while another run trains, before
        creating anything. The Train form is kept in the run's form.json.
        """
        rgb = images.read_image(image) if image is not None else None
        self.check_idle()
        run_dir = unique_dir(self.runs_dir, safe_name(name))
        argv = []
        form = {"file_name": (file_name or Path(image).name) if image is not None else None,
                "preset": preset, "mode": mode, "settings": settings, "seed": seed}
        text = json.dumps(form)
        atomic_write(run_dir / FORM_NAME, lambda f: f.write(text.encode()))
        if rgb is not None:
            atomic_write(run_dir / INPUT_NAME, lambda f: rgb.save(f, format="PNG"))
            argv.append(str(run_dir / INPUT_NAME))
        argv += ["--out", str(run_dir), "--preset", preset, "--mode", mode, "--seed", str(seed)]
        for key, value in settings.items():
            flag = "--" + key.replace("_", "-")
            if isinstance(value, bool):
                argv.append(flag if value else "--no-" + flag[2:])
            else:
                argv += [flag, str(value)]
        self._spawn(run_dir, ["train", *argv])
        return run_dir.name

    def resume(self, name: str) -> None:
        """Continue an interrupted or lost run with `singan train --resume`."""
        run_dir = self.path(name)
        st = self.status(name)
        if st.state not in ("interrupted", "lost", "failed"):
            raise UIError(f"run {name!r} is {st.state}; only a stopped run can be resumed")
        if not (run_dir / STATE_NAME).exists() or not st.progress.scales_done:
            raise UIError(f"run {name!r} stopped before its first scale was saved; "
                          f"start a new training instead")
        self.check_idle()
        self._spawn(run_dir, ["train", "--resume", "--out", str(run_dir)])

    def _spawn(self, run_dir: Path, argv: list[str]) -> None:
        """Start `singan ARGV --quiet --device D` in a worker process of its own.

        The worker is not tied to the app's life: Gradio starts it from a pool thread, whose exit
        must not stop the training; Ctrl-C in the app's terminal stops both.
        """
        argv = [*argv, "--quiet", "--device", self.device]
        if self.threads is not None:
            argv += ["--threads", str(self.threads)]
        with self._lock:
            worker = self._workers.get(run_dir.name)
            if worker is not None and worker.poll() is None:
                raise UIError(f"run {run_dir.name!r} is already training")
            self._workers[run_dir.name] = Worker(argv, run_dir / WORKER_LOG_NAME,
                                                 cwd=self.runs_dir)

    def stop(self, name: str) -> bool:
        """Ask a training worker to stop (SIGINT: it saves the finished scales and exits).

        Returns False when the run has no live worker. A worker is signalled once: a second
        SIGINT would cut short the saving that the first one started.
        """
        run_dir = self.path(name)
        worker = self._workers.get(name)
        if worker is not None:
            return worker.interrupt()
        pid = (read_progress(run_dir) or ProgressInfo()).pid
        if not _pid_is_worker(pid, run_dir):
            return False
        with self._lock:
            if pid not in self._signalled:  # a worker of an earlier app over this runs folder
                self._signalled.add(pid)
                interrupt_process(pid)
        return True

    def wait(self, name: str, timeout: float | None = None) -> int | None:
        """Wait for a worker this object started; returns its exit code (None if not ours)."""
        worker = self._workers.get(name)
        return None if worker is None else worker.wait(timeout)

    def close(self) -> None:
        """Stop every worker this object started and wait for them (used by tests)."""
        for worker in self._workers.values():
            worker.interrupt()
        for worker in self._workers.values():
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

    # --- what the page shows of a run ------------------------------------------------------

    def form(self, name: str) -> dict:
        """The Train form of a run: {"file_name", "preset", "mode", "settings", "seed"} from the
        run config (any finished scale) and the web app's form.json; keys unknown are absent.
        Never raises for a damaged file (that run's form is then what is known)."""
        run_dir = self.path(name)
        form: dict = {}
        try:
            saved = read_json(run_dir / FORM_NAME, "a Train form", UIError)
            if isinstance(saved, dict):
                form = {k: v for k, v in saved.items()
                        if k in ("file_name", "preset", "mode", "settings", "seed")}
        except (SinGANError, OSError):
            pass
        if not isinstance(form.get("settings"), dict):
            form.pop("settings", None)
        if not isinstance(form.get("file_name"), str):
            form.pop("file_name", None)
        if (run_dir / CONFIG_NAME).is_file():
            try:
                info = read_run_info(run_dir)
            except (SinGANError, OSError):
                return form
            config = info["config"]
            form["mode"] = config.mode
            form["config"] = config
            form["sizes"] = info["sizes"]
            for key in ("preset", "seed"):
                if key in info:
                    form[key] = info[key]
            if "file_name" not in form and isinstance(info.get("image"), dict):
                form["file_name"] = Path(str(info["image"].get("source", ""))).name or None
        return form

    def row(self, name: str) -> dict:
        """One row of the runs table: name, state, status, percent, size ("WxH" of the finest
        scale, or of the image), preset, date (the folder's time, "YYYY-MM-DD HH:MM"), preview
        (the latest preview's path or None)."""
        st = self.status(name)
        form = self.form(name)
        run_dir = self.path(name)
        size = ""
        if form.get("sizes"):
            h, w = form["sizes"][-1]
            size = f"{w}x{h}"
        p = st.progress
        percent = 100.0 if st.has_model else (p.percent or 0.0)
        try:
            date = time.strftime("%Y-%m-%d %H:%M", time.localtime(run_dir.stat().st_mtime))
        except OSError:
            date = ""
        preview = latest_preview(run_dir)
        return {"name": name, "state": st.state, "status": STATE_WORDS.get(st.state, st.state),
                "percent": round(percent, 1), "size": size, "preset": form.get("preset", ""),
                "date": date, "preview": str(preview) if preview else None,
                "file_name": form.get("file_name") or ""}

    # --- outputs and model zips -------------------------------------------------------------

    def outputs(self, name: str) -> Path:
        """The folder for files the app writes for download from run `name` (created if
        missing); UIError when it is a symbolic link or not a folder."""
        out = self.path(name) / OUTPUTS_DIR
        if out.is_symlink():
            raise UIError(f"{name}/{OUTPUTS_DIR} is a symbolic link; the web app writes only "
                          f"into real folders in its runs folder")
        try:
            out.mkdir(exist_ok=True)
        except FileExistsError:
            raise UIError(f"{name}/{OUTPUTS_DIR} is not a folder") from None
        return out

    def outputs_folder(self, name: str) -> Path:
        """Where run `name` keeps its outputs, without creating it (a training refuses a folder
        without a model that holds anything but its own files)."""
        return self.path(name) / OUTPUTS_DIR

    def export_model(self, name: str) -> Path:
        """Zip the model files of a finished run (`layout.MODEL_FILES`); returns the zip's path."""
        run_dir = self.path(name)
        load(run_dir)  # refuse to package an incomplete or corrupt run
        return pack_run(run_dir, MODEL_FILES, folder=name,
                        dest=self.outputs(name) / f"{name}-model.zip")

    def import_model(self, zip_path: str | os.PathLike, name: str | None = None) -> str:
        """Unpack an uploaded model zip into a new run folder, checked like the CLI's `load`.

        The zip must hold the model files (at its top level or in one folder);
        other members are ignored and nothing is ever extracted by its stored path
        (`run.unpack_run`). Returns the new run's name.
        """
        zip_path = Path(zip_path)
        label = name or zip_path.name
        tmp = Path(tempfile.mkdtemp(prefix=".upload-", dir=self.runs_dir))
        try:
            unpack_run(zip_path, tmp, MODEL_FILES, label=label, required=MODEL_FILES)
            try:
                load(tmp)
            except SinGANError as e:
                raise UIError(f"{label}: not a usable model: {str(e).replace(str(tmp), '')}") \
                    from None
            stem = safe_name(name or zip_path.stem.removesuffix("-model"), "uploaded")
            run_dir = unique_dir(self.runs_dir, stem)
            for member in MODEL_FILES:
                os.replace(tmp / member, run_dir / member)
            return run_dir.name
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


STATE_WORDS = {"starting": "starting", "running": "training", "done": "trained",
               "ready": "model ready", "interrupted": "stopped", "lost": "worker ended",
               "failed": "failed"}


def progress_text(st: RunStatus) -> str:
    """One or two lines of Markdown describing a run's state."""
    p = st.progress
    n = p.num_scales
    if st.state == "starting":
        return f"**{st.name}**: starting the training worker ..."
    if st.state == "running":
        left = f", about {_duration(p.eta)} left" if p.eta is not None else ""
        iters = p.iters if p.iters is not None else "?"
        return (f"**{st.name}**: training {scale_label(p.scale or 0, n)}, iteration "
                f"{p.iteration or 0} of {iters} ({p.percent or 0:.0f}%{left})")
    if st.state == "done":
        return f"**{st.name}**: trained, {n} scales in {_duration(p.elapsed or 0)}"
    if st.state == "ready":
        return f"**{st.name}**: model ready"
    if st.state == "interrupted":
        return (f"**{st.name}**: stopped after {p.scales_done or 0} of {n} scales; "
                f"resume to continue")
    if st.state == "lost":
        return (f"**{st.name}**: the training worker ended without finishing "
                f"({p.scales_done or 0} of {n} scales saved). {st.message}")
    return f"**{st.name}**: training failed. {st.message}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s} s"
    return f"{minutes // 60} h {minutes % 60} min"


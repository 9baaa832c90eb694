"""Run folders as the web app sees them: training workers, their progress, model zips.

Nothing here imports gradio. A training worker is a subprocess running `python -m singan train`
into a run folder; the app only reads what the worker writes there (progress.json, previews/,
log.txt), so a page that is closed or reloaded finds the run again.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .. import io, validate
from ..batch.process import PARENT_ENV
from ..errors import SinGANError

INPUT_NAME = "input.png"  # the uploaded training image, as the worker reads it
WORKER_LOG = "worker.log"  # the worker's stdout and stderr (error messages)
OUTPUTS = "outputs"  # files the app writes for download (zips, animations)
MAX_MODEL_BYTES = 1 << 30  # model.safetensors in an uploaded zip
MAX_ZIP_ENTRIES = 1000
_NAME_OK = re.compile(r"[^A-Za-z0-9._-]+")

class UIError(SinGANError):
    """A problem the page reports to the user (bad upload, nothing selected, ...)."""


@dataclass
class RunStatus:
    """What the page shows about one run folder.

    state: "starting", "running", "done", "interrupted", "failed", "lost" (progress says running
    but no worker is alive), or "ready" (a model without training records, e.g. an upload).
    """

    name: str
    state: str
    progress: dict
    message: str = ""  # the worker's last output line when it failed

    @property
    def has_model(self) -> bool:
        return self.state in ("done", "ready")


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
    raise UIError(f"{parent}: too many runs named {name!r}")


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _last_line(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _pid_is_worker(pid: object, run_dir: Path) -> bool:
    """Whether `pid` is alive and (where /proc tells) a `singan train` writing into run_dir."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):  # gone, or someone else's process
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


def latest_preview(run_dir: Path) -> Path | None:
    """The preview of the finest scale trained so far, or None."""
    previews = sorted((run_dir / "previews").glob("scale_*.png"))
    return previews[-1] if previews else None


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
        self._procs: dict[str, subprocess.Popen] = {}
        self._signalled: set[int] = set()  # pids sent SIGINT
        self._lock = threading.Lock()

    # --- listing -----------------------------------------------------------------------------

    def path(self, name: str | None) -> Path:
        """The folder of run `name`, which must be a run folder directly inside runs_dir."""
        if not name:
            raise UIError("No run selected: train a model or upload one first.")
        path = self.runs_dir / name
        if name != safe_name(name) or not path.is_dir():
            raise UIError(f"no run named {name!r} in {self.runs_dir}")
        return path

    def names(self) -> list[str]:
        """Run folders, newest first (folders the app or `singan train` wrote)."""
        marks = (io.CONFIG_NAME, "progress.json", WORKER_LOG)
        runs = [p for p in self.runs_dir.iterdir()
                if p.is_dir() and not p.name.startswith(".") and any(
                    (p / m).exists() for m in marks)]
        runs.sort(key=lambda p: (p.stat().st_mtime, p.name), reverse=True)
        return [p.name for p in runs]

    def status(self, name: str) -> RunStatus:
        run_dir = self.path(name)
        progress = _read_json(run_dir / "progress.json")
        proc = self._procs.get(name)
        alive = proc.poll() is None if proc is not None else \
            _pid_is_worker(progress.get("pid"), run_dir)
        state = progress.get("status")
        updated = progress.get("updated")
        if alive and proc is not None and not (
                isinstance(updated, (int, float)) and updated >= proc.started):
            state = "starting"  # a new or resumed worker that has not reported yet
        elif state == "running" and not alive:
            state = "lost"
        elif state is None:
            if (run_dir / io.MODEL_NAME).exists() and (run_dir / io.CONFIG_NAME).exists():
                state = "ready"
            else:
                state = "failed"
        if state not in ("starting", "running", "done", "interrupted", "failed", "lost", "ready"):
            state = "failed"
        message = _last_line(run_dir / WORKER_LOG) if state in ("failed", "lost") else ""
        return RunStatus(name, state, progress, message)

    # --- training ----------------------------------------------------------------------------

    def start(self, image: str | os.PathLike | None, name: str, *, preset: str, mode: str,
              settings: dict[str, int | float | bool], seed: int = 0) -> str:
        """Validate the image, create a run folder and start `singan train` on it.

        `settings` maps SinGANConfig field names to values (passed as --field-name flags).
        Returns the run's name. Raises InputError for a bad image, before creating anything.
        """
        rgb = io.read_image(image) if image is not None else None
        run_dir = unique_dir(self.runs_dir, safe_name(name))
        argv = []
        if rgb is not None:
            rgb.save(run_dir / INPUT_NAME, format="PNG")
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
        if not (run_dir / io.STATE_NAME).exists() or not st.progress.get("scales_done"):
            raise UIError(f"run {name!r} stopped before its first scale was saved; "
                          f"start a new training instead")
        self._spawn(run_dir, ["train", "--resume", "--out", str(run_dir)])

    def _spawn(self, run_dir: Path, argv: list[str]) -> None:
        """Start `singan ARGV --quiet --device D` in a new process, importing this very package.

        The child is `python -m singan.batch.child`: a plain `singan` that handles SIGINT even
        when the app ignores it (`singan ui &`), since the Stop button relies on SIGINT. It is
        not tied to the app's life: Gradio starts it from a pool thread, whose exit must not
        stop the training (that is what the batch child's parent-death signal would do).
        """
        env = dict(os.environ)
        env.pop(PARENT_ENV, None)
        src = str(Path(__file__).resolve().parents[2])  # the folder that holds `singan/`
        env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
        cmd = [sys.executable, "-m", "singan.batch.child", *argv, "--quiet", "--device",
               self.device]
        if self.threads is not None:
            cmd += ["--threads", str(self.threads)]
        with self._lock:
            if run_dir.name in self._procs and self._procs[run_dir.name].poll() is None:
                raise UIError(f"run {run_dir.name!r} is already training")
            started = time.time()  # progress.json older than this is a previous worker's
            with open(run_dir / WORKER_LOG, "ab") as log:
                proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=subprocess.STDOUT, cwd=self.runs_dir, env=env)
            proc.started = started
            self._procs[run_dir.name] = proc

    def stop(self, name: str) -> bool:
        """Ask a training worker to stop (SIGINT: it saves the finished scales and exits).

        Returns False when the run has no live worker. A worker is signalled once: a second
        SIGINT would cut short the saving that the first one started.
        """
        run_dir = self.path(name)
        proc = self._procs.get(name)
        if proc is not None:
            if proc.poll() is not None:
                return False
            pid = proc.pid
        else:
            pid = _read_json(run_dir / "progress.json").get("pid")
            if not _pid_is_worker(pid, run_dir):
                return False
        with self._lock:
            if pid not in self._signalled:
                self._signalled.add(pid)
                os.kill(pid, signal.SIGINT)
        return True

    def wait(self, name: str, timeout: float | None = None) -> int | None:
        """Wait for a worker this object started; returns its exit code (None if not ours)."""
        proc = self._procs.get(name)
        return None if proc is None else proc.wait(timeout)

    def close(self) -> None:
        """Stop every worker this object started and wait for them (used by tests)."""
        for proc in self._procs.values():
            if proc.poll() is None and proc.pid not in self._signalled:
                proc.send_signal(signal.SIGINT)
        for proc in self._procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    # --- outputs and model zips -------------------------------------------------------------

    def outputs(self, name: str) -> Path:
        """The folder for files the app writes for download from run `name`."""
        out = self.path(name) / OUTPUTS
        out.mkdir(exist_ok=True)
        return out

    def export_model(self, name: str) -> Path:
        """Zip config.json and model.safetensors of a finished run; returns the zip's path."""
        run_dir = self.path(name)
        io.load(run_dir)  # refuse to package an incomplete or corrupt run
        target = self.outputs(name) / f"{name}-model.zip"

        def write(f) -> None:
            with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
                for member in (io.CONFIG_NAME, io.MODEL_NAME):
                    z.write(run_dir / member, f"{name}/{member}")
        return io.atomic_write(target, write)

    def import_model(self, zip_path: str | os.PathLike, name: str | None = None) -> str:
        """Unpack an uploaded model zip into a new run folder, checked like the CLI's `load`.

        The zip must hold config.json and model.safetensors (at its top level or in one folder);
        other members are ignored and nothing is ever extracted by its stored path. Returns the
        new run's name.
        """
        zip_path = Path(zip_path)
        label = name or zip_path.name
        tmp = Path(tempfile.mkdtemp(prefix=".upload-", dir=self.runs_dir))
        try:
            _extract_model(zip_path, tmp, label)
            try:
                io.load(tmp)
            except SinGANError as e:
                raise UIError(f"{label}: not a usable model: {str(e).replace(str(tmp), '')}") \
                    from None
            stem = safe_name(name or zip_path.stem.removesuffix("-model"), "uploaded")
            run_dir = unique_dir(self.runs_dir, stem)
            for member in (io.CONFIG_NAME, io.MODEL_NAME):
                os.replace(tmp / member, run_dir / member)
            return run_dir.name
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _extract_model(zip_path: Path, dest: Path, label: str) -> None:
    """Copy config.json and model.safetensors out of a zip into dest, with size limits."""
    limits = {io.CONFIG_NAME: validate.MAX_JSON_BYTES, io.MODEL_NAME: MAX_MODEL_BYTES}
    try:
        with zipfile.ZipFile(zip_path) as z:
            infos = z.infolist()
            if len(infos) > MAX_ZIP_ENTRIES:
                raise UIError(f"{label}: {len(infos)} files in the zip; a model zip holds two")
            found = {}
            for info in infos:
                parts = info.filename.replace("\\", "/").strip("/").split("/")
                if info.is_dir() or parts[-1] not in limits or len(parts) > 2:
                    continue
                if parts[-1] in found:
                    raise UIError(f"{label}: more than one {parts[-1]} in the zip")
                found[parts[-1]] = info
            missing = [m for m in limits if m not in found]
            if missing:
                raise UIError(f"{label}: not a model zip (no {' or '.join(missing)}; expected "
                              f"{io.CONFIG_NAME} and {io.MODEL_NAME})")
            for member, info in found.items():
                if info.flag_bits & 0x1:
                    raise UIError(f"{label}: {member} is encrypted")
                _copy_limited(z, info, dest / member, limits[member], label)
    except zipfile.BadZipFile as e:
        raise UIError(f"{label}: not a valid zip file ({e})") from None
    except (OSError, EOFError, zipfile.LargeZipFile, NotImplementedError) as e:
        raise UIError(f"{label}: cannot read the zip ({e})") from None


def _copy_limited(z: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, limit: int,
                  label: str) -> None:
    """Decompress one member of at most `limit` bytes (zipfile never yields more bytes than
    the size the zip declares, so checking that size is enough)."""
    if info.file_size > limit:
        raise UIError(f"{label}: {target.name} is larger than {limit} bytes")
    with z.open(info) as src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst, 1 << 20)


def progress_text(st: RunStatus) -> str:
    """One or two lines of Markdown describing a run's state."""
    p = st.progress
    n = p.get("num_scales")
    if st.state == "starting":
        return f"**{st.name}**: starting the training worker ..."
    if st.state == "running":
        eta = p.get("eta")
        left = f", about {_duration(eta)} left" if isinstance(eta, (int, float)) else ""
        return (f"**{st.name}**: training scale {p.get('scale', 0) + 1} of {n}, iteration "
                f"{p.get('iteration', 0)} of {p.get('iters', '?')} ({p.get('percent', 0):.0f}%"
                f"{left})")
    if st.state == "done":
        return f"**{st.name}**: trained, {n} scales in {_duration(p.get('elapsed', 0))}"
    if st.state == "ready":
        return f"**{st.name}**: model ready"
    if st.state == "interrupted":
        return (f"**{st.name}**: stopped after {p.get('scales_done', 0)} of {n} scales; "
                f"resume to continue")
    if st.state == "lost":
        return (f"**{st.name}**: the training worker ended without finishing "
                f"({p.get('scales_done', 0)} of {n} scales saved). {st.message}")
    return f"**{st.name}**: training failed. {st.message}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s} s"
    return f"{minutes // 60} h {minutes % 60} min"


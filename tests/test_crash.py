"""Crash safety: SIGKILL at random moments, Ctrl-C/SIGTERM, the run lock, atomic writes."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import QUICK_CLI

import singan
from singan import files
from singan.run import layout
from singan.cli import main
from singan.run.records import RunRecords
from singan.errors import RunError
from singan.run.layout import LOCK_NAME
from singan.run.lock import RunLock, read_lock

SRC = Path(__file__).resolve().parents[1] / "src"
# Slower settings for the subprocess tests, so that kills land inside training.
SLOW = ["--preset", "tiny", "--max-size", "40", "--min-size", "16", "--base-channels", "8",
        "--max-channels", "8", "--iters", "16", "--log-every", "4", "--quiet", "--device", "cpu",
        "--threads", "1"]


def dead_pid() -> int:
    """The id of a process that has exited."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def write_lock(run: Path, pid: int, host: str | None = None) -> None:
    run.mkdir(parents=True, exist_ok=True)
    info = {"pid": pid, "host": host or socket.gethostname(), "started": "then", "token": "x"}
    (run / LOCK_NAME).write_text(json.dumps(info))


def assert_resumable(run: Path) -> int:
    """The folder loads as an unfinished (or finished) run with a matching train state."""
    model = singan.load(run, allow_incomplete=True)
    state = singan.run.load_train_state(run, model)
    assert model.num_trained - 2 <= state.scale < model.num_trained
    return model.num_trained


# --- SIGKILL and Ctrl-C in a real process ---------------------------------------------------


def _start(args: list[str]) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(SRC))
    return subprocess.Popen([sys.executable, "-m", "singan", "train", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _wait_training(proc: subprocess.Popen, run: Path, timeout: float = 60) -> bool:
    """Wait until `proc` reports progress in `run` (True), or has exited (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end and proc.poll() is None:
        try:
            info = json.loads((run / "progress.json").read_text())
            if info.get("pid") == proc.pid:
                return True
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return False


def test_sigkill_at_random_moments_then_resume_finishes(tmp_path, image_file):
    """Kill `singan train` three times at random moments: the run folder always loads (or is not
    a run yet), and `--resume` (or a new start) finishes it."""
    seed = int(os.environ.get("SINGAN_KILL_SEED", random.randrange(2**31)))
    rng = random.Random(seed)
    run, log = tmp_path / "run", []
    for i in range(3):
        is_run = (run / layout.CONFIG_NAME).exists()
        proc = _start((["--resume"] if is_run else [str(image_file)]) + ["--out", str(run)] + SLOW)
        if i == 0:  # anywhere from start-up on
            time.sleep(rng.uniform(0.2, 3.0))
        elif _wait_training(proc, run):
            time.sleep(rng.uniform(0.0, 1.5))
        proc.kill()
        proc.wait(30)
        log.append(f"kill {i}: resume={is_run}")
        if (run / layout.CONFIG_NAME).exists():
            log[-1] += f", {assert_resumable(run)} scales saved"
    env = dict(os.environ, PYTHONPATH=str(SRC))
    args = [sys.executable, "-m", "singan", "train", "--out", str(run)] + SLOW
    if (run / layout.CONFIG_NAME).exists():
        args.insert(4, "--resume")
    else:
        args.insert(4, str(image_file))
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, (seed, log, done.stderr)
    assert singan.load(run).is_complete
    assert not (run / LOCK_NAME).exists()
    assert not [p.name for p in run.rglob("*.tmp")], "temporary files left behind"


def test_ctrl_c_stops_at_the_next_iteration_after_saving(tmp_path, image_file, monkeypatch, capsys):
    """The first SIGINT only asks to stop; the loop stops at the next iteration, exit 130."""
    seen = []
    original = RunRecords.progress

    def progress(self, p):
        original(self, p)
        seen.append((p.scale, p.iteration))
        if (p.scale, p.iteration) == (1, 1):
            os.kill(os.getpid(), signal.SIGINT)
            seen.append("signalled")  # the handler did not raise at once

    monkeypatch.setattr(RunRecords, "progress", progress)
    run = tmp_path / "run"
    handler = signal.getsignal(signal.SIGINT)
    assert main(["train", str(image_file), "--out", str(run)] + QUICK_CLI) == 130
    assert seen[-2:] == [(1, 1), "signalled"]
    err = capsys.readouterr().err
    assert "interrupted: 1 of" in err and "singan train: interrupted" in err
    assert assert_resumable(run) == 1
    assert "interrupted; 1 scale(s) saved" in (run / "log.txt").read_text()
    assert json.loads((run / "progress.json").read_text())["status"] == "interrupted"
    assert not (run / LOCK_NAME).exists()
    assert signal.getsignal(signal.SIGINT) is handler  # restored


def test_second_signal_stops_at_once_and_sigterm_exits_143(tmp_path, image_file, monkeypatch):
    original = RunRecords.progress
    after = []

    def progress(self, p):
        original(self, p)
        if (p.scale, p.iteration) == (0, 2):
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)
            after.append(True)  # not reached: the second signal raises in its handler

    monkeypatch.setattr(RunRecords, "progress", progress)
    run = tmp_path / "run"
    assert main(["train", str(image_file), "--out", str(run)] + QUICK_CLI) == 128 + signal.SIGTERM
    assert after == []
    assert singan.load(run, allow_incomplete=True).num_trained == 0
    assert not (run / LOCK_NAME).exists()


# --- the lock ---------------------------------------------------------------------------------


def test_live_lock_refuses_a_second_training(tmp_path, image_file, capsys):
    run = tmp_path / "run"
    write_lock(run, os.getppid())  # a live process of this host
    before = sorted(p.name for p in run.iterdir())
    assert main(["train", str(image_file), "--out", str(run)] + QUICK_CLI) == 2
    err = capsys.readouterr().err
    assert f"in use by process {os.getppid()}" in err and "Traceback" not in err
    assert sorted(p.name for p in run.iterdir()) == before
    assert main(["train", "--resume", "--out", str(run), "--quiet"]) == 2  # not a run yet


def test_lock_of_another_host_or_unreadable_is_refused(tmp_path, image_file, capsys):
    run = tmp_path / "run"
    write_lock(run, 1, host="elsewhere.example")
    assert main(["train", str(image_file), "--out", str(run)] + QUICK_CLI) == 2
    assert "on elsewhere.example" in capsys.readouterr().err
    (run / LOCK_NAME).write_text("{half")
    assert main(["train", str(image_file), "--out", str(run)] + QUICK_CLI) == 2
    assert f"delete {run / LOCK_NAME}" in capsys.readouterr().err


def test_stale_lock_is_taken_over_with_a_notice(tmp_path, image_file, capsys):
    run = tmp_path / "run"
    pid = dead_pid()
    write_lock(run, pid)
    assert main(["train", str(image_file), "--out", str(run)] + QUICK_CLI) == 0
    err = capsys.readouterr().err
    assert f"note: {run}: removed a stale lock of process {pid}" in err
    assert singan.load(run).is_complete and not (run / LOCK_NAME).exists()


def test_run_lock_is_exclusive_and_released_only_by_its_owner(tmp_path):
    with RunLock(tmp_path / "r") as lock:
        owner = read_lock(tmp_path / "r")
        assert owner["pid"] == os.getpid() and owner["token"] == lock.token
        with pytest.raises(RunError, match="in use by process"):
            RunLock(tmp_path / "r").acquire()
        other = RunLock(tmp_path / "r")
        other.release()  # never acquired: must not remove the owner's lock
        assert read_lock(tmp_path / "r") == owner
    assert read_lock(tmp_path / "r") is None
    assert [p.name for p in (tmp_path / "r").iterdir()] == []


# --- atomic files -----------------------------------------------------------------------------


def test_failed_write_keeps_the_old_file_and_no_temp_file(tmp_path):
    target = tmp_path / "f.bin"
    files.atomic_write(target, lambda f: f.write(b"old"))

    def half_then_crash(f):
        f.write(b"new but incomp")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        files.atomic_write(target, half_then_crash)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_leftover_temp_files_are_removed_when_training_starts(tmp_path, image_file):
    """Exactly the temporary files of singan's own atomic writes (and of its lock, for a process
    that is gone) are removed; anything else, however alike, is the user's and stays."""
    run = tmp_path / "run"
    (run / "previews").mkdir(parents=True)
    (run / ".model.safetensors.ab_c1234.tmp").write_bytes(b"partial")
    (run / "previews" / ".scale_00.png.x1y2z3w4.tmp").write_bytes(b"partial")
    (run / f".lock.{2**22 + 12345}.0123abcd.tmp").write_text("{}")  # no such process
    assert main(["train", str(image_file), "--out", str(run)] + QUICK_CLI) == 0
    assert not [p.name for p in run.rglob("*.tmp")]
    # In a run folder retrained with --force, a user's look-alikes stay untouched.
    users = [run / "notes.tmp", run / ".model.safetensors.abc123.tmp", run / ".x.abcdefgh.tmp",
             run / "previews" / ".scale_00.png.x.tmp"]
    for p in users:
        p.write_text("the user's")
    assert main(["train", str(image_file), "--out", str(run), "--force"] + QUICK_CLI) == 0
    assert all(p.read_text() == "the user's" for p in users)



# --- SIGHUP: the terminal closed --------------------------------------------------------------

needs_sighup = pytest.mark.skipif(not hasattr(signal, "SIGHUP"), reason="POSIX only")


@needs_sighup
def test_sighup_stops_at_the_next_iteration_after_saving(tmp_path, image_file, monkeypatch,
                                                         capsys):
    """SIGHUP is a stop like SIGINT and SIGTERM: finished scales saved, exit 128 + SIGHUP."""
    seen = []
    original = RunRecords.progress

    def progress(self, p):
        original(self, p)
        seen.append((p.scale, p.iteration))
        if (p.scale, p.iteration) == (1, 1):
            os.kill(os.getpid(), signal.SIGHUP)
            seen.append("signalled")  # the handler did not raise at once

    monkeypatch.setattr(RunRecords, "progress", progress)
    run = tmp_path / "run"
    handler = signal.getsignal(signal.SIGHUP)
    assert main(["train", str(image_file), "--out", str(run)] + QUICK_CLI) == 128 + signal.SIGHUP
    assert seen[-2:] == [(1, 1), "signalled"]
    assert "interrupted: 1 of" in capsys.readouterr().err
    assert assert_resumable(run) == 1
    assert json.loads((run / "progress.json").read_text())["status"] == "interrupted"
    assert not (run / LOCK_NAME).exists()
    assert signal.getsignal(signal.SIGHUP) is handler  # restored


@needs_sighup
def test_closing_the_terminal_stops_a_training_cleanly(tmp_path, image_file):
    """`singan train` in a real terminal (a pseudo-terminal) that is closed: the kernel sends
    SIGHUP and writes to the terminal fail from then on; the run still stops cleanly, resumable,
    with exit status 129."""
    import pty
    import select

    run = tmp_path / "run"
    argv = [sys.executable, "-m", "singan", "train", str(image_file), "--out", str(run),
            *SLOW[:SLOW.index("--quiet")], *SLOW[SLOW.index("--quiet") + 1:], "--iters", "200"]
    env = dict(os.environ, PYTHONPATH=str(SRC))
    pid, terminal = pty.fork()
    if pid == 0:  # the child, whose controlling terminal is the pty: nothing but exec
        try:
            os.execve(sys.executable, argv, env)
        finally:
            os._exit(127)
    try:
        end = time.monotonic() + 60
        while time.monotonic() < end:  # read the terminal (the bar) until scale 1 trains
            if select.select([terminal], [], [], 0.05)[0]:
                os.read(terminal, 65536)
            try:
                if json.loads((run / "progress.json").read_text()).get("scale", 0) >= 1:
                    break
            except (OSError, ValueError):
                pass
        os.close(terminal)  # hang up
        _, status = os.waitpid(pid, 0)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 128 + signal.SIGHUP
    assert assert_resumable(run) >= 1
    assert "interrupted" in (run / "log.txt").read_text()
    assert not (run / LOCK_NAME).exists()

"""A lock file that gives one process at a time the right to write into a run folder.

RUN/.lock holds JSON {pid, host, started, token}. It is created atomically (written under a
temporary name, then hard-linked into place, which fails if the lock exists; O_EXCL where hard
links are not supported), so it is never seen half-written. A lock whose process is gone (same
host, pid no longer running) is stale: it is taken over with an `InputNotice`. A lock held by a
live process, by another host, or that cannot be read is refused with a RunError that says
what to do.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import socket
import stat
import time
from pathlib import Path
from typing import Any

from ..bounds import clip
from ..errors import RunError, notice
from .layout import LOCK_NAME, lock_temp_pid, own_temp_files
from .records import MAX_PID


def read_lock(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The owner recorded in RUN/.lock; None if there is no lock; {} if it is unreadable."""
    return _read_lock_file(Path(run_dir) / LOCK_NAME)


MAX_LOCK_BYTES = 4096  # a lock holds a pid, a host name, a date and a token


def _read_lock_file(path: Path) -> dict[str, Any] | None:
    """Read a lock like any other file: a regular file only (never a pipe, device or link, which
    could hang or never end), size-capped, its fields type- and range-checked."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError:
        return {}
    if not stat.S_ISREG(st.st_mode) or st.st_size > MAX_LOCK_BYTES:
        return {}
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) |
                     getattr(os, "O_NONBLOCK", 0))
        with os.fdopen(fd, "rb") as f:
            data = json.loads(f.read(MAX_LOCK_BYTES + 1).decode("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError):
        return {}
    ok = isinstance(data, dict) and type(data.get("pid")) is int and \
        0 < data["pid"] <= MAX_PID and isinstance(data.get("host"), str) and \
        len(data["host"]) <= 255
    return data if ok else {}


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (True when it cannot be told)."""
    if os.name != "posix":
        return True
    if not 0 < pid <= MAX_PID:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


def is_training(run_dir: str | os.PathLike) -> bool:
    """Whether a live process of this machine holds the run folder's lock (it is training)."""
    owner = read_lock(run_dir)
    return bool(owner) and owner["host"] == socket.gethostname() and pid_alive(owner["pid"])


def remove_leftovers(run_dir: str | os.PathLike) -> list[Path]:
    """Delete what killed processes left in a run folder: the temporary files of singan's atomic
    writes (exactly their names, nothing else of the folder) and the lock's temporary files of
    processes that no longer run. Call it only while holding the lock; returns what it deleted.
    """
    run_dir = Path(run_dir)
    found = own_temp_files(run_dir)
    if run_dir.is_dir():
        found += [p for p in run_dir.iterdir() if (pid := lock_temp_pid(p)) is not None
                  and pid != os.getpid() and not pid_alive(pid) and not p.is_dir()]
    for p in found:
        p.unlink(missing_ok=True)
    return found


class RunLock:
    """Context manager holding RUN/.lock while a process writes into a run folder."""

    def __init__(self, run_dir: str | os.PathLike):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / LOCK_NAME
        self.token: str | None = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock (creating the run folder if needed), or raise RunError."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        for _ in range(5):
            token = secrets.token_hex(8)
            info = {"pid": os.getpid(), "host": socket.gethostname(),
                    "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "token": token}
            if self._create(json.dumps(info) + "\n"):
                self.token = token
                return
            owner = read_lock(self.run_dir)
            if owner is None:
                continue  # released meanwhile: try again
            self._check_stale(owner)
            self._take_over(owner)
        raise RunError(f"{self.path}: could not take the lock (other processes keep taking it)")

    def release(self) -> None:
        """Remove the lock if this object holds it."""
        if self.token is None:
            return
        owner = read_lock(self.run_dir)
        if owner and owner.get("token") == self.token:
            self.path.unlink(missing_ok=True)
        self.token = None

    def _create(self, text: str) -> bool:
        """Create the lock file with `text` atomically; False if it exists."""
        tmp = self.run_dir / f"{LOCK_NAME}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise RunError(f"{self.path}: cannot take the lock "
                               f"({e.strerror or e})") from None
            return self._create_exclusive(text)  # no hard links on this file system
        finally:
            tmp.unlink(missing_ok=True)

    def _create_exclusive(self, text: str) -> bool:
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return True

    def _check_stale(self, owner: dict[str, Any]) -> None:
        """Raise RunError unless `owner` is a process of this host that no longer runs."""
        hint = f"if no training is running there, delete {self.path}"
        if not owner:
            raise RunError(f"{self.run_dir}: locked by a lock file that cannot be read; {hint}")
        who = (f"process {owner['pid']} on {clip(owner['host'])} (since "
               f"{clip(owner.get('started', '?'), 40)})")
        if owner["host"] != socket.gethostname():
            raise RunError(f"{self.run_dir}: in use by {who}; {hint}")
        if pid_alive(owner["pid"]):
            raise RunError(f"{self.run_dir}: in use by {who}; wait for it to finish or stop it "
                           f"(a second training must not write into the same run)")

    def _take_over(self, owner: dict[str, Any]) -> None:
        """Move a stale lock aside (only if it is still the one that was judged stale)."""
        aside = self.run_dir / f"{LOCK_NAME}.stale.{os.getpid()}"
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            return
        if _read_lock_file(aside) != owner:  # a live lock was created meanwhile: put it back
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
        else:
            notice(f"{self.run_dir}: removed a stale lock of process {owner['pid']} "
                   f"(no longer running; its training was interrupted)")
        aside.unlink(missing_ok=True)


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
import time
from pathlib import Path
from typing import Any

from ..errors import RunError, notice
from .layout import LOCK_NAME


def read_lock(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The owner recorded in RUN/.lock; None if there is no lock; {} if it is unreadable."""
    return _read_lock_file(Path(run_dir) / LOCK_NAME)


def _read_lock_file(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    ok = isinstance(data, dict) and type(data.get("pid")) is int and isinstance(
        data.get("host"), str)
    return data if ok else {}


def pid_alive(pid: int) -> bool:
    """Whether a process with this id runs on this machine (True when it cannot be told)."""
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists, owned by someone else
        return True
    return True


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
        tmp.write_text(text, encoding="utf-8")
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        except OSError as e:  # no hard links on this file system
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            return self._create_exclusive(text)
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
        who = f"process {owner['pid']} on {owner['host']} (since {owner.get('started', '?')})"
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


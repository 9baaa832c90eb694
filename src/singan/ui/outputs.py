"""What the web app makes, kept: every output in the run's outputs/ with its settings beside it.

An output is a set of files (PNGs, a zip, a GIF or MP4) and a record, NAME.json:
{"app", "settings", "files", "created"}. The settings are the handler's inputs (after their
checks), so "reuse these settings" can put them back into the tab. Nothing is ever overwritten:
a name that is taken gets -2, -3, ... (every file is written atomically and linked into place,
`files.atomic_write(replace=False)`). Nothing here imports gradio.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PIL import Image

from ..errors import SinGANError, UIError
from ..files import atomic_write, read_json

APPS = ("sample", "edit", "harmonize", "paint", "sr", "animate")
IMAGE_SUFFIXES = (".png", ".gif")
MAX_RECORDS = 200  # the history shows the newest ones
Writer = Callable[[Any], None]  # writes a file's bytes into a binary file object


def png(image: Image.Image) -> Writer:
    return lambda f: image.save(f, format="PNG")


def file_bytes(path: str | os.PathLike) -> Writer:
    data = Path(path).read_bytes()
    return lambda f: f.write(data)


def save_output(folder: Path, app: str, name: str, files: dict[str, Writer],
                settings: dict[str, Any]) -> dict[str, Path]:
    """Write `files` (file name with "{n}" where the uniqueness suffix goes -> writer) and the
    record `name{n}.json` into `folder`, choosing the first free n ("", "-2", "-3", ...).

    Returns {file name template: path written}, the record under "record".
    """
    for i in range(1, 10_000):
        n = "" if i == 1 else f"-{i}"
        written: dict[str, Path] = {}
        try:
            for template, write in files.items():
                written[template] = atomic_write(folder / template.format(n=n), write,
                                                 replace=False)
            record = {"app": app, "settings": settings,
                      "files": [p.name for p in written.values()],
                      "created": time.strftime("%Y-%m-%d %H:%M:%S")}
            data = json.dumps(record, indent=1).encode()
            written["record"] = atomic_write(folder / f"{name}{n}.json",
                                             lambda f, data=data: f.write(data), replace=False)
            return written
        except FileExistsError:
            for path in written.values():
                path.unlink(missing_ok=True)
    raise UIError(f"too many outputs named {name!r}")


def read_records(folder: Path) -> list[dict[str, Any]]:
    """The outputs recorded in `folder`, newest first: each record with "name" (the JSON's stem)
    and "paths" (its files that exist). Damaged or foreign JSON files are left out."""
    if not folder.is_dir() or folder.is_symlink():
        return []
    found = []
    for p in folder.glob("*.json"):
        if p.name.startswith(".") or p.is_symlink():
            continue
        try:
            rec = read_json(p, "an output record", UIError)
            mtime = p.stat().st_mtime
        except (SinGANError, OSError):
            continue
        if not (isinstance(rec, dict) and rec.get("app") in APPS and
                isinstance(rec.get("settings"), dict) and isinstance(rec.get("files"), list)):
            continue
        paths = [folder / f for f in rec["files"] if isinstance(f, str) and "/" not in f and
                 "\\" not in f and (folder / f).is_file() and not (folder / f).is_symlink()]
        found.append((mtime, p.stem, dict(rec, name=p.stem, paths=paths)))
    found.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [r for _, _, r in found[:MAX_RECORDS]]


def shown_file(record: dict[str, Any]) -> Path | None:
    """The picture that stands for an output in the history (its first image file)."""
    for p in record["paths"]:
        if p.suffix.lower() in IMAGE_SUFFIXES:
            return p
    return None


def describe(record: dict[str, Any]) -> str:
    """One line: the application and its settings."""
    words = ", ".join(f"{k} {v}" for k, v in record["settings"].items())
    return f"{record['app']}: {words}" if words else record["app"]

"""A run folder as a zip, and back: one format with the same limits everywhere.

Used for the web app's model download and upload (the model files only) and for the Dask backend's
`--dask-return-zip` (the whole run). A zip holds run files at its top level or inside one folder
(`NAME/config.json`, as a downloaded model zip unpacks into a folder). Unpacking never writes a
member by its stored path: only the known run files are read, each into its own name in the run
folder, after checking the member's declared size against its limit, so a zip of any content can
neither write outside the folder nor fill the disk. Other members are ignored.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from ..errors import RunError
from ..files import MAX_JSON_BYTES, atomic_write, new_file_mode
from .layout import (CONFIG_NAME, LOG_NAME, MODEL_FILES, MODEL_NAME, PREVIEW, PREVIEWS_DIR,
                     PROGRESS_NAME, RUN_FILES, STATE_NAME, STATS_NAME, TRAIN_MANY_LOG_NAME,
                     previews)

MAX_MODEL_BYTES = 1 << 30  # a safetensors member
MAX_LOG_BYTES = 256 << 20  # log.txt, stats.jsonl, train-many.log
MAX_PREVIEW_BYTES = 64 << 20
MAX_ZIP_ENTRIES = 1000

# The whole run, as it travels between machines (the launcher's own log included).
RUN_ZIP_FILES = (*RUN_FILES, TRAIN_MANY_LOG_NAME)
PREVIEWS = "previews"  # in `files`: the previews/scale_KK.png too


def member_limit(name: str) -> int:
    """The largest size accepted for the run file `name` (a run-relative path)."""
    if name in (MODEL_NAME, STATE_NAME):
        return MAX_MODEL_BYTES
    if name in (CONFIG_NAME, PROGRESS_NAME):
        return MAX_JSON_BYTES
    if name in (LOG_NAME, STATS_NAME, TRAIN_MANY_LOG_NAME):
        return MAX_LOG_BYTES
    return MAX_PREVIEW_BYTES


def pack_run(run_dir: str | os.PathLike, files: Sequence[str] = (*RUN_ZIP_FILES, PREVIEWS), *,
             folder: str = "", dest: str | os.PathLike | None = None) -> bytes | Path | None:
    """Zip the `files` of a run folder (run file names, and PREVIEWS for the previews).

    Members are stored under `folder/` when it is given. Returns the zip's bytes, or writes it
    atomically to `dest` and returns that path; None (nothing written) when the folder holds
    none of the files.
    """
    run_dir = Path(run_dir)
    names = [n for n in files if n != PREVIEWS and (run_dir / n).is_file()]
    if PREVIEWS in files:
        names += [f"{PREVIEWS_DIR}/{p.name}" for p in previews(run_dir)]
    if not names:
        return None
    prefix = f"{folder}/" if folder else ""

    def write(f) -> None:
        with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            for n in names:
                z.write(run_dir / n, prefix + n)

    if dest is not None:
        return atomic_write(Path(dest), write)
    buf = io.BytesIO()
    write(buf)
    return buf.getvalue()


def _run_path(stored: str, files: Sequence[str]) -> str | None:
    """The run file a stored member name stands for (at the top level or inside one folder), or
    None when it is none of `files`."""
    parts = stored.replace("\\", "/").strip("/").split("/")
    for depth in (1, 2):  # config.json or previews/scale_00.png ...
        if len(parts) < depth or len(parts) > depth + 1:
            continue
        name = "/".join(parts[-depth:])
        if depth == 1 and name in files and name != PREVIEWS:
            return name
        if depth == 2 and PREVIEWS in files and parts[-2] == PREVIEWS_DIR and \
                PREVIEW.fullmatch(parts[-1]):
            return name
    return None


def unpack_run(source: bytes | str | os.PathLike, run_dir: str | os.PathLike,
               files: Sequence[str] = (*RUN_ZIP_FILES, PREVIEWS), *, label: str = "zip",
               required: Sequence[str] = ()) -> list[str]:
    """Make the `files` of `run_dir` those of a zip (bytes or a path); returns what it wrote.

    Every member found is written atomically under its run name; the `files` the zip lacks are
    removed from the folder (as `singan train --force` removes them), nothing else is touched.
    Raises RunError, naming the zip by `label`, for a file that is not a zip, too many members,
    a member twice, an encrypted or oversized member, or a missing `required` file; the folder
    is then unchanged.
    """
    run_dir = Path(run_dir)
    staged: list[tuple[str, Path]] = []
    try:
        with zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source) as z:
            found = _members(z, files, label)
            missing = [m for m in required if m not in found]
            if missing:
                raise RunError(f"{label}: not a model zip (no {' or '.join(missing)}; expected "
                               f"{' and '.join(MODEL_FILES)})")
            for name, info in found.items():  # every member first, then all renamed at once
                staged.append((name, _stage(z, info, run_dir / name)))
    except BaseException as e:
        for _, tmp in staged:
            tmp.unlink(missing_ok=True)
        if isinstance(e, zipfile.BadZipFile):
            raise RunError(f"{label}: not a valid zip file ({e})") from None
        if isinstance(e, (OSError, EOFError, zlib.error, zipfile.LargeZipFile,
                          NotImplementedError)):
            raise RunError(f"{label}: cannot read the zip ({e})") from None
        raise
    for name, tmp in staged:
        os.replace(tmp, run_dir / name)
    for name in files:
        if name != PREVIEWS and name not in found:
            (run_dir / name).unlink(missing_ok=True)
    if PREVIEWS in files:
        for p in previews(run_dir):
            if f"{PREVIEWS_DIR}/{p.name}" not in found:
                p.unlink()
    return sorted(found)


def _members(z: zipfile.ZipFile, files: Sequence[str], label: str) -> dict[str, zipfile.ZipInfo]:
    infos = z.infolist()
    if len(infos) > MAX_ZIP_ENTRIES:
        raise RunError(f"{label}: {len(infos)} files in the zip, more than {MAX_ZIP_ENTRIES}")
    found: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = None if info.is_dir() else _run_path(info.filename, files)
        if name is None:
            continue
        if name in found:
            raise RunError(f"{label}: more than one {name} in the zip")
        if info.flag_bits & 0x1:
            raise RunError(f"{label}: {name} is encrypted")
        limit = member_limit(name)
        if info.file_size > limit:  # zipfile never yields more bytes than the size declared
            raise RunError(f"{label}: {name} is larger than {limit} bytes")
        found[name] = info
    return found


def _stage(z: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> Path:
    """Decompress a member beside `target` under a temporary name (the pattern of
    `files.atomic_write`, which `layout.remove_temp_files` cleans up after a crash)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as f, z.open(info) as src:
            shutil.copyfileobj(src, f, 1 << 20)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, new_file_mode())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)

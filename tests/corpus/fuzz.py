"""Bounded fuzzing of singan's loaders, with the corpus files as seeds.

    PYTHONPATH=src python tests/corpus/fuzz.py [--examples N] [--seed S]

Hypothesis mutates corpus files (byte flips and overwrites, truncation, insertion, repeated
spans) and feeds each mutant to a loader; any exception other than singan's own error types
(SinGANError) is a crash and fails with the smallest mutant Hypothesis finds. Two structured
targets go beyond bytes: "config values" puts hostile numbers (non-finite, huge, negative, tiny)
and inconsistent sizes into a run's config.json, and the loaded model must then sample at a
bounded cost; "run entries" replaces entries of a run folder by symbolic links (to a file or
folder outside, /dev/zero, nowhere), FIFOs, folders or nothing, and resuming it must give only
singan's errors, never hang, and never write outside the folder. Prints, per target, the cases
tried, the crashes found and the time. tests/test_fuzz.py runs the same targets with fewer
examples (deterministically).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

import singan
from singan import images
from singan.run import layout
from singan.errors import SinGANError

OPS = ("flip", "set", "cut", "insert", "repeat")
EDITS = st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 2**20),
                           st.binary(min_size=1, max_size=8)), min_size=1, max_size=4)
FUZZ_MAX_PIXELS = 2**20  # keeps a mutant that decodes to a large image cheap


def mutate(data: bytes, edits: list[tuple[str, int, bytes]]) -> bytes:
    """Apply (operation, position, bytes) edits to `data`."""
    b = bytearray(data)
    for op, pos, chunk in edits:
        i = pos % (len(b) + 1)
        if op == "flip" and b:
            b[i % len(b)] ^= chunk[0] or 0x80
        elif op == "set":
            b[i:i + len(chunk)] = chunk
        elif op == "cut":
            del b[i:]
        elif op == "insert":
            b[i:i] = chunk
        elif op == "repeat":
            b[i:i] = b[i:i + 4 * chunk[0]]
    return bytes(b)


# A target: (seed files, file name the mutant is written to, loader of that file's folder).
Target = tuple[list[bytes], str, Callable[[Path], object]]


def _image_target(root: Path, work: Path) -> Target:
    seeds = sorted(p for p in (root / "image").iterdir() if p.is_file() and not p.is_symlink()
                   and p.stat().st_size > 0)
    seeds += sorted(p for p in (root / "mask").iterdir() if p.stat().st_size > 0)

    def load(folder: Path) -> None:
        images.read_image(folder / "x.img", max_pixels=FUZZ_MAX_PIXELS)
        images.read_mask(folder / "x.img", (8, 8), max_pixels=FUZZ_MAX_PIXELS, allow_empty=True)
    return [p.read_bytes() for p in seeds], "x.img", load


def _run_target(root: Path, work: Path, name: str) -> Target:
    base = "partial" if name == layout.STATE_NAME else "full"
    run = work / "run"
    shutil.copytree(root / "bases" / base, run)
    model = singan.load(run, allow_incomplete=True)

    def load(folder: Path) -> None:
        if name == layout.STATE_NAME:
            singan.run.load_train_state(folder, model)
        else:
            singan.load(folder, allow_incomplete=True)
    return [(run / name).read_bytes()], f"run/{name}", load


TARGETS: dict[str, Callable[[Path, Path], Target]] = {
    "image+mask": _image_target,
    "config.json": lambda root, work: _run_target(root, work, layout.CONFIG_NAME),
    "model.safetensors": lambda root, work: _run_target(root, work, layout.MODEL_NAME),
    "train_state.safetensors": lambda root, work: _run_target(root, work, layout.STATE_NAME),
}


def fuzz(target: str, corpus_root: Path, examples: int, seed: int | None = None) -> dict:
    """Run `examples` mutants through a target; returns {"cases", "seconds"} or raises the
    first crash. Deterministic unless `seed` is given."""
    if target in STRUCTURED:
        return STRUCTURED[target](Path(corpus_root), examples, seed)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        seeds, name, load = TARGETS[target](Path(corpus_root), work)
        folder = (work / name).parent
        cases = []

        @settings(max_examples=examples, database=None, deadline=None,
                  derandomize=seed is None, suppress_health_check=list(HealthCheck))
        @given(st.integers(0, len(seeds) - 1), EDITS)
        def one(i: int, edits) -> None:
            cases.append(1)
            (work / name).write_bytes(mutate(seeds[i], edits))
            try:
                load(folder)
            except SinGANError:
                pass

        if seed is not None:
            one = hypothesis_seed(seed)(one)
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # notices (animated image, ...) are not crashes
            one()
        return {"cases": len(cases), "seconds": time.perf_counter() - start}


# --- structured targets ----------------------------------------------------------------------

HOSTILE_NUMBERS = st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e308, -1e308,
                                   1e-300, -1, 0, 0.0, 2**31, 2**63, 2**70, -2**70, 10**400])
NUMBER_FIELDS = ("scale_factor", "seed", "sizes", "config")


def _run(settings_kw: dict, seed: int | None):
    """Wrap a property in the settings every target uses."""
    def wrap(fn):
        fn = settings(database=None, deadline=None, derandomize=seed is None,
                      suppress_health_check=list(HealthCheck), **settings_kw)(fn)
        return hypothesis_seed(seed)(fn) if seed is not None else fn
    return wrap


def _fuzz_config_values(root: Path, examples: int, seed: int | None) -> dict:
    """Hostile numbers anywhere in config.json: a clean refusal, or a model that samples at the
    cost its sizes imply (the factor must agree with them, so nothing derived is unbounded)."""
    import json

    import torch

    base = json.loads((root / "bases" / "full" / layout.CONFIG_NAME).read_text())
    numeric = [k for k, v in base["config"].items() if isinstance(v, (int, float))
               and not isinstance(v, bool)]
    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        shutil.copytree(root / "bases" / "full", run)

        @_run({"max_examples": examples}, seed)
        @given(st.lists(st.tuples(st.sampled_from(numeric + ["scale_factor", "seed", "sizes"]),
                                  st.integers(0, 63), HOSTILE_NUMBERS), min_size=1, max_size=3))
        def one(changes) -> None:
            cases.append(1)
            info = json.loads(json.dumps(base))
            for key, index, value in changes:
                if key == "sizes":
                    pair = info["sizes"][index % len(info["sizes"])]
                    pair[index % 2] = value
                elif key in ("scale_factor", "seed"):
                    info[key] = value
                else:
                    info["config"][key] = value
            (run / layout.CONFIG_NAME).write_text(json.dumps(info))
            try:
                model = singan.load(run)
            except SinGANError:
                return
            h, w = model.sizes[-1]
            assert h * w <= 10**6, "a loaded model with absurd sizes"
            x = singan.generate(model, 1, seeds=[0])
            assert x.shape[-2:] == (h, w) and torch.isfinite(x).all()

        start = time.perf_counter()
        one()
    return {"cases": len(cases), "seconds": time.perf_counter() - start}


ENTRY_NAMES = (layout.CONFIG_NAME, layout.MODEL_NAME, layout.STATE_NAME, layout.LOG_NAME,
               layout.STATS_NAME, layout.PROGRESS_NAME, layout.PREVIEWS_DIR, layout.LOCK_NAME)
ENTRY_OPS = ("link-file", "link-dir", "link-zero", "link-nowhere", "fifo", "dir", "remove",
             "empty")


def _replace_entry(run: Path, name: str, op: str, outside: Path) -> None:
    import os

    path = run / name
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif os.path.lexists(path):
        path.unlink()
    if op == "link-file":
        path.symlink_to(outside / "diary.txt")
    elif op == "link-dir":
        path.symlink_to(outside)
    elif op == "link-zero":
        path.symlink_to("/dev/zero")
    elif op == "link-nowhere":
        path.symlink_to(outside / "missing")
    elif op == "fifo":
        os.mkfifo(path)
    elif op == "dir":
        path.mkdir()
    elif op == "empty":
        path.write_bytes(b"")


def _fuzz_run_entries(root: Path, examples: int, seed: int | None) -> dict:
    """Entries of an unfinished run replaced by links, FIFOs, folders or nothing: resuming gives
    singan's errors only, never hangs (a FIFO read would) and never writes outside the run."""
    import threading

    from singan.run import resume_run

    cases = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        outside = tmp / "outside"
        outside.mkdir()
        (outside / "diary.txt").write_text("private\n")

        def stop_at_once(p) -> None:  # resuming works: no need to train
            raise KeyboardInterrupt

        @_run({"max_examples": examples}, seed)
        @given(st.lists(st.tuples(st.sampled_from(ENTRY_NAMES), st.sampled_from(ENTRY_OPS)),
                        min_size=1, max_size=3, unique_by=lambda t: t[0]))
        def one(changes) -> None:
            cases.append(1)
            run = tmp / f"run{len(cases)}"
            shutil.copytree(root / "bases" / "partial", run)
            for name, op in changes:
                _replace_entry(run, name, op, outside)
            outcome = []

            def attempt() -> None:
                try:
                    resume_run(run, callback=stop_at_once)
                    outcome.append("done")
                except (SinGANError, KeyboardInterrupt):
                    outcome.append("refused")
                except BaseException as e:  # a crash, reported below
                    outcome.append(e)

            worker = threading.Thread(target=attempt, daemon=True)
            worker.start()
            worker.join(20)
            assert outcome, f"resuming hung with {changes}"
            if isinstance(outcome[0], BaseException):
                raise outcome[0]
            assert sorted(p.name for p in outside.iterdir()) == ["diary.txt"]
            assert (outside / "diary.txt").read_text() == "private\n", f"wrote outside: {changes}"
            shutil.rmtree(run, ignore_errors=True)

        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            one()
    return {"cases": len(cases), "seconds": time.perf_counter() - start}


STRUCTURED: dict[str, Callable[[Path, int, int | None], dict]] = {
    "config values": _fuzz_config_values,
    "run entries": _fuzz_run_entries,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=5000, help="mutants per target")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from make_corpus import make_corpus

    with tempfile.TemporaryDirectory() as tmp:
        make_corpus(tmp)
        for target in [*TARGETS, *STRUCTURED]:
            try:
                r = fuzz(target, Path(tmp), args.examples, args.seed)
                print(f"{target:24s} {r['cases']:6d} cases, 0 crashes, {r['seconds']:6.1f} s",
                      flush=True)
            except Exception as e:  # a crash: report it and go on with the other targets
                print(f"{target:24s} CRASH: {type(e).__name__}: {e}", flush=True)


if __name__ == "__main__":
    main()

"""Bounded fuzzing of singan's loaders, with the corpus files as seeds.

    PYTHONPATH=src python tests/corpus/fuzz.py [--examples N] [--seed S]

Hypothesis mutates corpus files (byte flips and overwrites, truncation, insertion, repeated
spans) and feeds each mutant to a loader; any exception other than singan's own error types
(SinGANError) is a crash and fails with the smallest mutant Hypothesis finds. Prints, per
target, the cases tried, the crashes found and the time. tests/test_fuzz.py runs the same
targets with fewer examples (deterministically).
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=5000, help="mutants per target")
    parser.add_argument("--seed", type=int, default=0, help="Hypothesis seed")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from make_corpus import make_corpus

    with tempfile.TemporaryDirectory() as tmp:
        make_corpus(tmp)
        for target in TARGETS:
            try:
                r = fuzz(target, Path(tmp), args.examples, args.seed)
                print(f"{target:24s} {r['cases']:6d} cases, 0 crashes, {r['seconds']:6.1f} s",
                      flush=True)
            except Exception as e:  # a crash: report it and go on with the other targets
                print(f"{target:24s} CRASH: {type(e).__name__}: {e}", flush=True)


if __name__ == "__main__":
    main()

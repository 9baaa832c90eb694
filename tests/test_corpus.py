"""Every case of the generated corpus (tests/corpus/make_corpus.py) through the CLI in-process:
one clear message naming the file, a non-zero exit, no traceback, nothing written or run."""

from __future__ import annotations

import json
import os
import stat
import warnings
from pathlib import Path

import pytest
import torch
from conftest import TINY_CLI, corpus_module

import singan
from singan import images
from singan.cli import main
from singan.errors import InputError

CORPUS = corpus_module("make_corpus")
CASES = {c.name: c for c in CORPUS.CASES}
TINY = TINY_CLI + ["--iters", "1"]


def snapshot(path: Path) -> dict[str, object]:
    """Names, kinds and contents of everything under `path` (links and pipes are not followed)."""
    def entry(p: Path) -> object:
        st = os.lstat(p)
        if stat.S_ISREG(st.st_mode):
            return p.read_bytes()
        if stat.S_ISLNK(st.st_mode):
            return ("link", os.readlink(p))
        return ("dir" if stat.S_ISDIR(st.st_mode) else "other", st.st_mode)
    if not os.path.lexists(path):
        return {}
    items = {".": entry(path)}
    if path.is_dir() and not path.is_symlink():
        for p in sorted(path.rglob("*")):
            items[str(p.relative_to(path))] = entry(p)
    return items


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    rc = main(argv)
    return rc, capsys.readouterr().err


def assert_one_clear_error(rc: int, err: str, path: Path, expect: str) -> None:
    assert rc != 0
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(path) in lines[0] and expect in lines[0], lines[0]


@pytest.mark.parametrize("name", [c.name for c in CORPUS.CASES if c.kind == "image"])
def test_image_cases_through_train(corpus, tmp_path, capsys, name):
    case, path = CASES[name], corpus[name]
    out = tmp_path / "run"
    before = snapshot(path)
    if case.expect is None:
        rc, err = run_cli(["train", str(path), "--out", str(out), "--dry-run", "--json"] + TINY,
                          capsys)
        assert rc == 0, err
        assert (case.notice or "note:") in err if case.notice else "note:" not in err
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            image = images.load_image(path)
        assert [str(w.message) for w in caught] == ([f"{path}: animated image; using its first "
                                                     f"frame"] if case.notice else [])
        assert image.dim() == 4 and image.shape[1] == 3 and torch.isfinite(image).all()
        assert image.min() >= -1 and image.max() <= 1
    else:
        rc, err = run_cli(["train", str(path), "--out", str(out)] + TINY, capsys)
        assert_one_clear_error(rc, err, path, case.expect)
    assert not out.exists()
    assert snapshot(path) == before


@pytest.mark.parametrize("name", [c.name for c in CORPUS.CASES if c.kind == "mask"])
def test_mask_cases(corpus, name):
    case, path = CASES[name], corpus[name]
    if case.expect is None:
        mask = images.read_mask(path, (12, 16))
        assert mask.shape == (1, 1, 12, 16) and mask.dtype == torch.float32
        # Every mask file of the corpus selects the same rectangle, whatever its format.
        assert 0 <= mask.min() and mask.max() <= 1
        assert (mask > 0.5).float().mean().item() == pytest.approx(0.25, abs=0.03)
    else:
        with pytest.raises(InputError) as e:
            images.read_mask(path, (12, 16))
        assert str(path) in str(e.value) and case.expect in str(e.value)


@pytest.mark.parametrize("name", [c.name for c in CORPUS.CASES if c.kind in ("run", "state")])
def test_run_cases_through_cli(corpus, tmp_path, capsys, name):
    """Damaged run folders: `sample` refuses them (finished runs) and `train --resume` too."""
    case, run = CASES[name], corpus[name]
    before = snapshot(run.parent)
    out = tmp_path / "samples"
    if case.kind == "run":
        rc, err = run_cli(["sample", str(run), "--num", "1", "--out", str(out), "--quiet"],
                          capsys)
        assert_one_clear_error(rc, err, run, case.expect)
        assert not out.exists()
    rc, err = run_cli(["train", "--resume", "--out", str(run), "--quiet"], capsys)
    if case.kind == "state" or rc != 0:
        assert_one_clear_error(rc, err, run, case.expect)
    assert snapshot(run.parent) == before  # nothing written, no lock left behind
    assert not (run.parent / CORPUS.MARKER).exists()  # nothing executed


def test_corpus_bases_are_valid(corpus_root):
    """The undamaged runs the cases start from load, so each case fails for its own damage."""
    bases = corpus_root / "bases"
    full = singan.load(bases / "full")
    assert full.is_complete
    partial = singan.load(bases / "partial", allow_incomplete=True)
    assert singan.run.load_train_state(bases / "partial", partial).scale == 1


def test_every_kind_of_corpus_file_is_present(corpus):
    assert set(corpus) == set(CASES)
    kinds = {c.kind for c in CORPUS.CASES}
    assert kinds == {"image", "mask", "run", "state"}
    assert sum(c.expect is not None for c in CORPUS.CASES) >= 50


def test_exif_rotation_and_first_frame(corpus):
    assert images.load_image(corpus["exif_rotated.jpg"]).shape[-2:] == (40, 20)
    with pytest.warns(UserWarning, match="animated image; using its first frame"):
        first = images.load_image(corpus["animated.png"])
    from PIL import Image

    with Image.open(corpus["animated.png"]) as im:
        im.seek(0)
        expected = images.image_to_tensor(im.convert("RGB"))
    assert torch.equal(first, expected)


def test_sixteen_bit_is_scaled_not_clipped(corpus):
    """16-bit images become 8-bit by scaling (value / 257), not by clipping at 255."""
    import numpy as np

    x = np.asarray(images.read_image(corpus["rgb16.png"]), dtype=np.float64)
    v = (np.arange(x.size) * 37 % 65536).reshape(x.shape)  # the values make_corpus wrote
    assert np.abs(x - v / 257).max() <= 1
    gray = images.load_image(corpus["gray16.png"])
    assert gray.max().item() == pytest.approx(233 / 255 * 2 - 1, abs=1e-6)


def test_run_config_round_trip_is_strict(corpus_root):
    """What save_run writes passes the checks; an unregistered extra field is refused on save."""
    bases = corpus_root / "bases"
    info = json.loads((bases / "full" / "config.json").read_text())
    assert singan.run.check_run_info(info, "config.json")["config"].iters == 1
    model = singan.load(bases / "full")
    with pytest.raises(ValueError, match="OPTIONAL_RUN_FIELDS"):
        singan.run.run_info(model, {"surprise": 1})

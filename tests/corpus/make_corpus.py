"""Generate the corpus of awkward and hostile input files that singan must handle.

    PYTHONPATH=src python tests/corpus/make_corpus.py OUT_DIR

writes every case of `CASES` under OUT_DIR/<kind>/<name> (a few hundred kB in all, about a
second). The tests generate it into a temporary folder (nothing binary is committed); the fuzz
tests use its files as seeds.

Kinds: "image" (an input image: `singan train FILE`), "mask" (a mask file: `images.read_mask`),
"run" (a run folder: `singan sample RUN`), "state" (an unfinished run folder whose training
state is damaged: `singan train --resume --out RUN`). A case's `expect` is a piece of the one
error message it must give, or None when it must load (then `notice`, if set, is a piece of
the notice it must give).
"""

from __future__ import annotations

import io as _io
import json
import os
import shutil
import struct
import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

MARKER = "PWNED"  # a file a malicious pickle would create next to the run if it were unpickled


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # "image", "mask", "run" or "state"
    expect: str | None  # piece of the error message; None: must load
    build: Callable[[Path, dict[str, Path]], None]  # (path to create, base runs)
    notice: str | None = None  # piece of the notice a loadable case must give


def _noise(h: int, w: int, channels: int = 3, seed: int = 0) -> np.ndarray:
    shape = (h, w, channels) if channels > 1 else (h, w)
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _image(h: int = 24, w: int = 32) -> Image.Image:
    return Image.fromarray(_noise(h, w))


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = _io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_bytes(width: int, height: int, bit_depth: int = 8, color_type: int = 2,
              raw: bytes = b"") -> bytes:
    """A PNG written by hand: any declared size, `raw` (filtered scanlines) as its data."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw))
            + chunk(b"IEND", b""))


def _write(data: bytes | Callable[[], bytes]) -> Callable[[Path, dict], None]:
    return lambda path, bases: path.write_bytes(data() if callable(data) else data)


def _save(make: Callable[[], Image.Image], fmt: str, **kw) -> Callable[[Path, dict], None]:
    return lambda path, bases: path.write_bytes(_encode(make(), fmt, **kw))


def _truncated(fmt: str) -> bytes:
    data = _encode(_image(48, 64), fmt)
    return data[: len(data) // 2]


def _jpeg_bomb() -> bytes:
    """A small JPEG whose frame header claims 65000x65000 pixels."""
    data = bytearray(_encode(_image(), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5: sof + 9] = struct.pack(">HH", 65000, 65000)
    return bytes(data)


def _rgb16_png() -> bytes:
    h, w = 20, 30
    a = (np.arange(h * w * 3) * 37 % 65536).astype(">u2").reshape(h, w * 3)
    raw = b"".join(b"\x00" + row.tobytes() for row in a)
    return png_bytes(w, h, 16, 2, raw)


def _gray16() -> Image.Image:
    return Image.fromarray((np.arange(600, dtype=np.uint16) * 100).reshape(20, 30))


def _float_nan_tiff() -> bytes:
    a = np.linspace(0, 255, 600, dtype=np.float32).reshape(20, 30)
    a[0, :5] = np.nan
    a[1, :5] = np.inf
    return _encode(Image.fromarray(a, mode="F"), "TIFF")


def _exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    return _encode(Image.new("RGB", (40, 20), "blue"), "JPEG", exif=exif)


def _animated(fmt: str) -> bytes:
    frames = [Image.fromarray(_noise(20, 30, seed=s)) for s in range(3)]
    if fmt == "GIF":
        frames = [f.convert("P") for f in frames]
    return _encode(frames[0], fmt, save_all=True, append_images=frames[1:])


def _mkdir(path: Path, bases: dict) -> None:
    path.mkdir()


def _symlink_loop(path: Path, bases: dict) -> None:
    other = path.with_name(path.name + ".other")
    os.symlink(other.name, path)
    os.symlink(path.name, other)


def _dangling(path: Path, bases: dict) -> None:
    os.symlink("does-not-exist.png", path)


def _fifo(path: Path, bases: dict) -> None:
    os.mkfifo(path)


def _mask_image(mode: str) -> Callable[[], Image.Image]:
    def make() -> Image.Image:
        a = np.zeros((24, 32), np.uint8)
        a[6:18, 8:24] = 255
        if mode == "RGBA":  # opaque where selected, colour everywhere
            rgb = _noise(24, 32)
            return Image.fromarray(np.dstack([rgb, a]), "RGBA")
        if mode == "LA":
            return Image.fromarray(np.dstack([np.full_like(a, 128), a]), "LA")
        if mode == "I;16":
            return Image.fromarray(a.astype(np.uint16) * 257)
        return Image.fromarray(a).convert(mode)
    return make


# --- run folders: copy a base run, then damage one thing ---------------------------------------


def _run_case(base: str, damage: Callable[[Path], None]) -> Callable[[Path, dict], None]:
    def build(path: Path, bases: dict) -> None:
        shutil.copytree(bases[base], path)
        damage(path)
    return build


def _edit_config(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        info = json.loads((run / "config.json").read_text())
        change(info)
        (run / "config.json").write_text(json.dumps(info))
    return damage


def _edit_tensors(name: str, change: Callable[[dict, dict], None]) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        from safetensors import safe_open
        from safetensors.torch import save_file

        with safe_open(str(run / name), framework="pt") as f:
            meta = f.metadata()
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        change(tensors, meta)
        save_file(tensors, str(run / name), metadata=meta)
    return damage


def _raw_header(name: str, header: bytes, length: int | None = None) -> Callable[[Path], None]:
    """Replace a safetensors file by a bare header (and a little data)."""
    def damage(run: Path) -> None:
        n = len(header) if length is None else length
        (run / name).write_bytes(struct.pack("<Q", n) + header + b"\0" * 64)
    return damage


def _pickle_payload(run: Path) -> None:
    """A pickle that would create a marker file when unpickled, saved as model.safetensors."""
    import pickle

    class Payload:
        def __reduce__(self):
            return (open, (str(run.parent / MARKER), "w"))

    (run / "model.safetensors").write_bytes(pickle.dumps(Payload()))


def _set(key, value, sub=None):
    def change(info):
        (info[sub] if sub else info)[key] = value
    return change


def _del(key):
    return lambda info: info.pop(key)


def _first_key(prefix):
    return lambda tensors: next(k for k in sorted(tensors) if k.startswith(prefix))


def _tensor_change(kind: str, pick: Callable[[dict], str]):
    def change(tensors, meta):
        import torch

        k = pick(tensors)
        if kind == "shape":
            tensors[k] = torch.zeros(7)
        elif kind == "drop":
            del tensors[k]
        elif kind == "dtype":
            tensors[k] = tensors[k].double()
    return change


def _nan_tensor(pick):
    def change(tensors, meta):
        k = pick(tensors)
        t = tensors[k].clone()
        t.view(-1)[0] = float("nan")
        tensors[k] = t
    return change


def _extra_tensor(tensors, meta):
    import torch

    tensors["evil"] = torch.zeros(3)


def _meta(key, value):
    def change(tensors, meta):
        meta[key] = value
    return change


def _nested_json(run: Path) -> None:
    (run / "config.json").write_text("[" * 100_000 + "]" * 100_000)


def _big_json(run: Path) -> None:
    (run / "config.json").write_text(json.dumps({"pad": "x" * 2_000_000}))


def _replace_by_dir(name: str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        (run / name).unlink()
        (run / name).mkdir()
    return damage


def _remove(name: str) -> Callable[[Path], None]:
    return lambda run: (run / name).unlink()


def _write_file(name: str, data: bytes) -> Callable[[Path], None]:
    return lambda run: (run / name).write_bytes(data)


def _loop_file(name: str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        (run / name).unlink()
        _symlink_loop(run / name, {})
    return damage


def _link_outside(name: str, folder: bool = False) -> Callable[[Path], None]:
    """Replace run/name by a symbolic link to a file (or folder) of someone else's beside the
    run: what singan must never write through."""
    def damage(run: Path) -> None:
        victim = run.parent / f"{run.name}.victim"
        if folder:
            victim.mkdir()
            (victim / "keep.txt").write_text("someone else's\n")
        else:
            victim.write_text("someone else's\n")
        target = run / name
        if target.is_dir():
            shutil.rmtree(target)
        else:
            target.unlink(missing_ok=True)
        os.symlink(victim, target)
    return damage


def _fifo_entry(name: str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        (run / name).unlink(missing_ok=True)
        os.mkfifo(run / name)
    return damage


def _lock(content) -> Callable[[Path], None]:
    """A lock file of the given JSON content, or a symbolic link to a path."""
    def damage(run: Path) -> None:
        if isinstance(content, str):
            os.symlink(content, run / ".lock")
        else:
            (run / ".lock").write_text(json.dumps(content))
    return damage


def _rng_zeros(tensors, meta):
    import torch

    tensors["rng_state"] = torch.zeros(5056, dtype=torch.uint8)  # the CPU size, not a state


def _shrink_coarsest(info):
    info["sizes"][0][1] -= 3


def _truncate(name: str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        data = (run / name).read_bytes()
        (run / name).write_bytes(data[: len(data) - 100])
    return damage


def _cases() -> list[Case]:
    I, M, R, S = "image", "mask", "run", "state"
    gen, disc = _first_key("generators."), _first_key("discriminator.")
    model, state = "model.safetensors", "train_state.safetensors"
    return [
        # images that must be refused
        Case("empty.png", I, "empty file", _write(b"")),
        Case("random.png", I, "not an image", _write(lambda: _noise(1, 4096, 1).tobytes())),
        Case("random.jpg", I, "not an image", _write(lambda: _noise(1, 4096, 1, 1).tobytes())),
        Case("text.png", I, "not an image", _write(b"this is not a picture\n" * 10)),
        Case("truncated.png", I, "corrupt or truncated", _write(lambda: _truncated("PNG"))),
        Case("truncated.jpg", I, "corrupt or truncated", _write(lambda: _truncated("JPEG"))),
        Case("bomb.png", I, "than the limit of", _write(lambda: png_bytes(100_000, 100_000))),
        Case("bomb_100mp.png", I, "than the limit of", _write(lambda: png_bytes(10_000, 10_000))),
        Case("bomb.jpg", I, "than the limit of", _write(_jpeg_bomb)),
        Case("1x1.png", I, "too small", _save(lambda: _image(1, 1), "PNG")),
        Case("3x3.png", I, "too small", _save(lambda: _image(3, 3), "PNG")),
        Case("folder.png", I, "is a folder", _mkdir),
        Case("loop.png", I, "symbolic link loop", _symlink_loop),
        Case("dangling.png", I, "no such file", _dangling),
        Case("fifo.png", I, "not a regular file", _fifo),
        # unusual images that must load (as RGB)
        Case("gray16.png", I, None, _save(_gray16, "PNG")),
        Case("rgb16.png", I, None, _write(_rgb16_png)),
        Case("cmyk.jpg", I, None, _save(lambda: _image().convert("CMYK"), "JPEG")),
        Case("palette.png", I, None, _save(lambda: _image().convert("P"), "PNG")),
        Case("la.png", I, None, _save(lambda: _image().convert("LA"), "PNG")),
        Case("rgba.png", I, None, _save(lambda: _image().convert("RGBA"), "PNG")),
        Case("bilevel.png", I, None, _save(lambda: _image().convert("1"), "PNG")),
        Case("float_nan.tif", I, None, _write(_float_nan_tiff)),
        Case("jpeg_named.png", I, None, _save(_image, "JPEG")),
        Case("animated.gif", I, None, _write(lambda: _animated("GIF")), notice="animated"),
        Case("animated.png", I, None, _write(lambda: _animated("PNG")), notice="animated"),
        Case("exif_rotated.jpg", I, None, _write(_exif_rotated)),
        # masks
        Case("mask_bilevel.png", M, None, _save(_mask_image("1"), "PNG")),
        Case("mask_gray.png", M, None, _save(_mask_image("L"), "PNG")),
        Case("mask_gray16.png", M, None, _save(_mask_image("I;16"), "PNG")),
        Case("mask_rgb.png", M, None, _save(_mask_image("RGB"), "PNG")),
        Case("mask_rgba.png", M, None, _save(_mask_image("RGBA"), "PNG")),
        Case("mask_la.png", M, None, _save(_mask_image("LA"), "PNG")),
        Case("mask_empty.png", M, "mask is empty", _save(lambda: Image.new("L", (32, 24)), "PNG")),
        Case("mask_1x1.png", M, "too small", _save(lambda: Image.new("L", (1, 1), 255), "PNG")),
        Case("mask_random.png", M, "not an image", _write(lambda: _noise(1, 999, 1).tobytes())),
        # run folders: config.json
        Case("config_wrong_type", R, "'iters' must be int",
             _run_case("full", _edit_config(_set("iters", "many", "config")))),
        Case("config_bool_for_int", R, "'iters' must be int",
             _run_case("full", _edit_config(_set("iters", True, "config")))),
        Case("config_format_version", R, "unsupported format_version 99",
             _run_case("full", _edit_config(_set("format_version", 99)))),
        Case("config_extra_field", R, "unknown field(s) surprise",
             _run_case("full", _edit_config(_set("surprise", 1)))),
        Case("config_extra_config_field", R, "unknown config field(s): surprise",
             _run_case("full", _edit_config(_set("surprise", 1, "config")))),
        Case("config_missing_field", R, "missing field(s) sizes",
             _run_case("full", _edit_config(_del("sizes")))),
        Case("config_nan_scale_factor", R, "scale_factor",
             _run_case("full", _edit_config(_set("scale_factor", float("nan"))))),
        Case("config_huge_sizes", R, "sizes",
             _run_case("full", _edit_config(_set("sizes", [[100_000, 100_000]] * 64)))),
        Case("config_huge_channels", R, "max_channels must be a whole number from 1 to 1024",
             _run_case("full", _edit_config(_set("max_channels", 10**9, "config")))),
        Case("config_not_json", R, "not valid JSON",
             _run_case("full", _write_file("config.json", b"{'config': 1"))),
        Case("config_not_utf8", R, "not UTF-8", _run_case("full", _write_file(
            "config.json", b'{"x": "\xff\xfe"}'))),
        Case("config_nested", R, "unreadable JSON", _run_case("full", _nested_json)),
        Case("config_too_large", R, "too large", _run_case("full", _big_json)),
        Case("config_is_folder", R, "is a folder", _run_case("full", _replace_by_dir(
            "config.json"))),
        Case("config_symlink_loop", R, "symbolic link loop",
             _run_case("full", _loop_file("config.json"))),
        Case("run_missing_model", R, "no such file", _run_case("full", _remove(model))),
        # run folders: non-finite, huge and inconsistent numbers; pipes
        Case("config_inf_value", R, "'rec_weight' must be float",
             _run_case("full", _edit_config(_set("rec_weight", float("inf"), "config")))),
        Case("config_huge_int", R, "iters must be a whole number from 1 to",
             _run_case("full", _edit_config(_set("iters", 10**400, "config")))),
        Case("config_tiny_scale_factor", R, "does not match the ratios of 'sizes'",
             _run_case("full", _edit_config(_set("scale_factor", 1e-300)))),
        Case("config_inconsistent_factor", R, "does not match the ratios of 'sizes'",
             _run_case("full", _edit_config(_set("scale_factor", 0.003)))),
        Case("config_inconsistent_sizes", R, "does not match the ratios of 'sizes'",
             _run_case("full", _edit_config(_shrink_coarsest))),
        Case("config_huge_seed", R, "field 'seed' must be between",
             _run_case("full", _edit_config(_set("seed", 2**70)))),
        Case("config_fifo", R, "pipe", _run_case("full", _fifo_entry("config.json"))),
        Case("model_fifo", R, "pipe", _run_case("full", _fifo_entry(model))),
        # run folders: model.safetensors
        Case("model_wrong_shape", R, "'noise_amp' has shape (7,)", _run_case(
            "full", _edit_tensors(model, _tensor_change("shape", lambda t: "noise_amp")))),
        Case("model_wrong_dtype", R, "F64, expected", _run_case(
            "full", _edit_tensors(model, _tensor_change("dtype", lambda t: "noise_amp")))),
        Case("model_nan", R, "NaN", _run_case("full", _edit_tensors(model, _nan_tensor(gen)))),
        Case("model_extra_key", R, "unexpected evil",
             _run_case("full", _edit_tensors(model, _extra_tensor))),
        Case("model_missing_key", R, "missing generators.0",
             _run_case("full", _edit_tensors(model, _tensor_change("drop", gen)))),
        Case("model_bad_num_trained", R, "num_trained",
             _run_case("full", _edit_tensors(model, _meta("num_trained", "lots")))),
        Case("model_huge_header", R, "header length", _run_case(
            "full", _raw_header(model, b"{}", length=2**62))),
        Case("model_header_not_json", R, "header is not JSON", _run_case(
            "full", _raw_header(model, b"\x00garbage{"))),
        Case("model_offsets_outside", R, "outside the file", _run_case("full", _raw_header(
            model, b'{"noise_amp": {"dtype": "F32", "shape": [1000000], '
                   b'"data_offsets": [0, 4000000]}}'))),
        Case("model_truncated", R, "truncated", _run_case("full", _truncate(model))),
        Case("model_is_pickle", R, "corrupt", _run_case("full", _pickle_payload)),
        Case("model_is_folder", R, "is a folder", _run_case("full", _replace_by_dir(model))),
        # unfinished run folders: train_state.safetensors
        Case("state_wrong_shape", S, "has shape (7,)", _run_case(
            "partial", _edit_tensors(state, _tensor_change("shape", disc)))),
        Case("state_nan", S, "NaN", _run_case("partial", _edit_tensors(state, _nan_tensor(disc)))),
        Case("state_extra_key", S, "unexpected evil",
             _run_case("partial", _edit_tensors(state, _extra_tensor))),
        Case("state_missing_rng", S, "random generator state", _run_case(
            "partial", _edit_tensors(state, _tensor_change("drop", lambda t: "rng_state")))),
        Case("state_bad_scale", S, "state is for scale 99",
             _run_case("partial", _edit_tensors(state, _meta("scale", "99")))),
        Case("state_huge_header", S, "header length",
             _run_case("partial", _raw_header(state, b"{}", length=2**40))),
        Case("state_missing", S, "no such file", _run_case("partial", _remove(state))),
        Case("state_rng_corrupt", S, "random generator state in its training state is corrupt",
             _run_case("partial", _edit_tensors(state, _rng_zeros))),
        # unfinished run folders whose entries are links or pipes: never written through
        Case("state_log_link", S, "is a symbolic link", _run_case("partial",
                                                                   _link_outside("log.txt"))),
        Case("state_stats_link", S, "is a symbolic link",
             _run_case("partial", _link_outside("stats.jsonl"))),
        Case("state_previews_link", S, "is a symbolic link",
             _run_case("partial", _link_outside("previews", folder=True))),
        Case("state_stats_fifo", S, "is a pipe where singan keeps a regular file",
             _run_case("partial", _fifo_entry("stats.jsonl"))),
        Case("state_lock_fifo", S, "lock file that cannot be read",
             _run_case("partial", _fifo_entry(".lock"))),
        Case("state_lock_dev_zero", S, "is a symbolic link",
             _run_case("partial", _lock("/dev/zero"))),
        Case("state_lock_huge_pid", S, "lock file that cannot be read",
             _run_case("partial", _lock({"pid": 2**70, "host": "here", "token": "x"}))),
    ]


CASES = _cases()


def make_bases(out: Path) -> dict[str, Path]:
    """Two small genuine runs: "full" (finished) and "partial" (2 of its scales trained)."""
    import singan
    from singan import images
    from singan.training import Trainer

    config = singan.make_config("tiny", max_size=24, min_size=12, base_channels=4,
                                max_channels=4, num_layers=3, iters=1)
    image = images.image_to_tensor(_image(18, 24))
    out.mkdir(parents=True, exist_ok=True)
    bases = {"full": out / "full", "partial": out / "partial"}
    trainer = Trainer.from_image(image, config, seed=0)
    for n in range(trainer.model.num_scales):
        trainer.train_scale(n)
        if n == 1:
            singan.save_run(trainer.model, bases["partial"], trainer.state())
    singan.save_run(trainer.model, bases["full"], trainer.state())
    return bases


def make_corpus(out: str | os.PathLike) -> dict[str, Path]:
    """Write every case under out/<kind>/<name>; returns {name: path}."""
    out = Path(out)
    bases = make_bases(out / "bases")
    paths = {}
    for case in CASES:
        folder = out / case.kind
        folder.mkdir(parents=True, exist_ok=True)
        case.build(folder / case.name, bases)
        paths[case.name] = folder / case.name
    return paths


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_corpus.py OUT_DIR")
    made = make_corpus(sys.argv[1])
    print(f"wrote {len(made)} cases under {sys.argv[1]}")

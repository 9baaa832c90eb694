import json

import numpy as np
import pytest
import torch
from PIL import Image

import singan
from singan import images
from singan.errors import InputError, RunError


def test_round_trip_gives_identical_samples(tiny_model, tmp_path):
    singan.save_run(tiny_model, tmp_path / "run")
    loaded = singan.load(tmp_path / "run")
    a = singan.generate(tiny_model.cpu(), 2, seeds=[1, 2])
    b = singan.generate(loaded, 2, seeds=[1, 2])
    assert torch.equal(a, b)
    assert loaded.config == tiny_model.config and loaded.sizes == tiny_model.sizes
    info = json.loads((tmp_path / "run" / "config.json").read_text())
    assert info["format_version"] == 1 and info["singan_version"] == singan.__version__


def test_no_pickle_in_run_folder(tiny_run):
    for f in tiny_run.iterdir():
        if f.is_file():
            assert f.read_bytes()[:2] != b"\x80\x04" and f.suffix not in (".pt", ".pth", ".pkl")


def _copy_run(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file():
            (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_truncated_model_file(tiny_run, tmp_path):
    run = _copy_run(tiny_run, tmp_path / "r")
    data = (run / "model.safetensors").read_bytes()
    (run / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(RunError, match="corrupt or truncated"):
        singan.load(run)


def test_tampered_tensor_shape(tiny_run, tmp_path):
    from safetensors.torch import load_file, save_file

    run = _copy_run(tiny_run, tmp_path / "r")
    t = load_file(run / "model.safetensors")
    meta = {"format_version": "1", "num_trained": str(len(t) and tiny_nscales(run))}
    t["noise_amp"] = torch.zeros(7)
    save_file(t, run / "model.safetensors", metadata=meta)
    with pytest.raises(RunError, match="noise_amp"):
        singan.load(run)


def tiny_nscales(run):
    return len(json.loads((run / "config.json").read_text())["sizes"])


def test_nan_tensor_refused(tiny_run, tmp_path):
    from safetensors.torch import load_file, save_file

    run = _copy_run(tiny_run, tmp_path / "r")
    t = load_file(run / "model.safetensors")
    t["z_rec"][0, 0, 0, 0] = float("nan")
    save_file(t, run / "model.safetensors", metadata={"format_version": "1",
                                                      "num_trained": str(tiny_nscales(run))})
    with pytest.raises(RunError, match="NaN"):
        singan.load(run)


@pytest.mark.parametrize("change,match", [
    ({"config": {"iters": "many"}}, "iters"),
    ({"format_version": 99}, "format_version"),
    ({"sizes": [[1, "a"]]}, "sizes"),
    ({"config": {"bogus_field": 1}}, "bogus_field"),
])
def test_bad_config_json(tiny_run, tmp_path, change, match):
    run = _copy_run(tiny_run, tmp_path / "r")
    info = json.loads((run / "config.json").read_text())
    for k, v in change.items():
        if isinstance(v, dict):
            info[k].update(v)
        else:
            info[k] = v
    (run / "config.json").write_text(json.dumps(info))
    with pytest.raises(RunError, match=match):
        singan.load(run)


def test_not_a_run(tmp_path):
    with pytest.raises(RunError, match="no such run"):
        singan.load(tmp_path / "missing")
    with pytest.raises(RunError, match="not a SinGAN run"):
        singan.load(tmp_path)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16", "CMYK", "1"])
def test_image_modes_load_as_rgb(tmp_path, mode):
    rgb = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 30, 3), np.uint8))
    if mode == "I;16":
        im = Image.fromarray((np.arange(600, dtype=np.uint16) * 100).reshape(20, 30))
    else:
        im = rgb.convert(mode)
    path = tmp_path / ("x.tif" if mode == "CMYK" else "x.png")
    im.save(path)
    t = images.load_image(path)
    assert t.shape == (1, 3, 20, 30) and t.min() >= -1 and t.max() <= 1
    if mode == "I;16":
        # 16-bit values scaled by 65535, not clipped to white: 59900 -> 233 of 255.
        assert t.max().item() == pytest.approx(233 / 255 * 2 - 1, abs=1e-6)


def test_bad_image_files(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        images.load_image(tmp_path / "nope.png")
    with pytest.raises(InputError, match="folder"):
        images.load_image(tmp_path)
    (tmp_path / "noise.png").write_bytes(b"not an image at all")
    with pytest.raises(InputError, match="not an image"):
        images.load_image(tmp_path / "noise.png")
    Image.new("RGB", (64, 64), "red").save(tmp_path / "ok.png")
    data = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match="corrupt or truncated"):
        images.load_image(tmp_path / "cut.png")
    with pytest.raises(InputError, match="limit"):
        images.load_image(tmp_path / "ok.png", max_pixels=100)


def test_exif_rotation_applied(tmp_path):
    im = Image.new("RGB", (40, 20), "blue")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees
    im.save(tmp_path / "r.jpg", exif=exif)
    assert images.load_image(tmp_path / "r.jpg").shape[-2:] == (40, 20)


def test_save_image_round_trip(tmp_path):
    x = torch.rand(3, 10, 12) * 2 - 1
    images.save_image(x, tmp_path / "a.png")
    y = images.load_image(tmp_path / "a.png")[0]
    assert (x - y).abs().max() <= 1 / 255 + 1e-6

"""The web app's Patch tab through its HTTP API (gradio_client)."""

from __future__ import annotations

import shutil
import zipfile

import pytest
from PIL import Image

import singan

gradio_client = pytest.importorskip("gradio_client", reason="needs the `ui` extra")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402


@pytest.fixture(scope="module")
def client(ui_server):
    return Client(ui_server.url, verbose=False)


def call(client, run=None, image=None, engine="gpnn", task="Random samples", count=2, seed=0,
         scale_h=1.0, scale_w=1.0, max_size=64, noise=None, steps=10, mask=None,
         structure=None):
    up = lambda p: None if p is None else handle_file(str(p))  # noqa: E731
    return client.predict(run, up(image), engine, task, count, seed, scale_h, scale_w, max_size,
                          noise, steps, up(mask), up(structure), api_name="/patch")


def test_samples_from_an_upload_in_true_size(client, tmp_path):
    img = tmp_path / "hills.png"
    singan.default_image(48, 64).save(img)
    gallery, zipped = call(client, image=img, scale_w=1.5)
    assert len(gallery) == 2
    assert Image.open(gallery[0]["image"]).size == (96, 48)
    assert "(96x48)" in gallery[0]["caption"]
    first, second = (Image.open(g["image"]).tobytes() for g in gallery)
    assert first != second  # each seed its own noise
    with zipfile.ZipFile(zipped) as z:
        assert sorted(z.namelist()) == ["gpnn-sample-seed0000.png", "gpnn-sample-seed0001.png"]
    again, _ = call(client, image=img, scale_w=1.5, count=1)
    assert Image.open(again[0]["image"]).tobytes() == \
        Image.open(gallery[0]["image"]).tobytes()  # a seed gives its image


def test_inpaint_and_messages(client, tmp_path):
    img = tmp_path / "hills.png"
    singan.default_image(48, 64).save(img)
    mask = tmp_path / "mask.png"
    m = Image.new("L", (64, 48), 0)
    m.paste(255, (20, 10, 40, 30))
    m.save(mask)
    gallery, _ = call(client, image=img, engine="gpdm", count=1, mask=mask,
                      task="Inpaint (rebuild the white of the mask)")
    assert Image.open(gallery[0]["image"]).size == (64, 48)
    with pytest.raises(AppError, match="upload a mask"):
        call(client, image=img, task="Edit (make the masked edit coherent)")
    with pytest.raises(AppError, match="upload an image, or select a trained run"):
        call(client)
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(AppError) as e:
        call(client, image=text)
    assert str(tmp_path) not in str(e.value)  # no server path in the message


def test_refine_the_selected_runs_layout(client, ui_server, tiny_run):
    shutil.copytree(tiny_run, ui_server.runs / "patchrun")
    gallery, zipped = call(client, run="patchrun", count=1, task="Refine the selected run's "
                                                                 "layout")
    assert len(gallery) == 1 and zipped.endswith(".zip")
    kept = sorted(p.name for p in (ui_server.runs / "patchrun" / "outputs").iterdir())
    assert "gpnn-refine-seed0000.png" in kept and "gpnn-refine_seed0.json" in kept


def test_the_noise_box_follows_engine_and_task():
    from singan.ui.patch import _default_noise

    assert _default_noise("gpnn", "Random samples") == 0.75
    assert _default_noise("gpdm", "Random samples") == 3.0
    assert _default_noise("gpnn", "Inpaint (rebuild the white of the mask)") == 0.0

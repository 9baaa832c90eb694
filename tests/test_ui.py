"""The web app through its HTTP API (gradio_client), against the app launched in this process."""

from __future__ import annotations

import signal
import struct
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageColor

import singan
from singan import images
from conftest import UI_TINY

gradio_client = pytest.importorskip("gradio_client", reason="needs the `ui` extra")
from gradio_client import Client, handle_file  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

TRAIN_ORDER = ("max_size", "min_size", "base_channels", "max_channels", "iters", "iters_finest")


@pytest.fixture(scope="module")
def client(ui_server):
    return Client(ui_server.url, verbose=False)


def train_args(image, name, mode="generation", seed=0, **changes):
    s = dict(UI_TINY, **changes)
    return (image, name, mode, s["preset"], *(s[k] for k in TRAIN_ORDER), seed)


def wait_for(client, run, words, timeout=120.0):
    """Poll the progress endpoint until its text contains one of `words`; returns the reply."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        reply = client.predict(run, api_name="/progress")
        if any(w in reply[0] for w in words):
            return reply
        time.sleep(0.3)
    raise AssertionError(f"run {run} never said any of {words}; last: {reply[0]!r}")


def png_header(path, width, height):
    """A PNG that declares width x height pixels but holds no image data."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def trained(client, ui_server, tmp_path_factory):
    """A tiny model trained through the Train tab on an uploaded 64x48 image."""
    img = tmp_path_factory.mktemp("ui-img") / "hills.png"
    singan.default_image(48, 64).save(img)
    preview, name, message = client.predict(handle_file(str(img)), api_name="/check_image")
    assert Image.open(preview).size == (64, 48) and name == "hills"
    assert "`hills.png`, 64x48 px" in message
    reply, message = client.predict(*train_args(handle_file(str(img)), "hills"),
                                    api_name="/train")
    run = reply["value"]
    assert run == "hills" and message == "Started **hills**."
    status = wait_for(client, run, ["trained", "failed", "ended"])[0]
    assert "trained, 3 scales" in status, status
    return run


def test_served_locally_with_files_only_from_the_runs_folder(ui_server):
    assert ui_server.url.startswith("http://127.0.0.1:")
    assert ui_server.app.allowed_paths == [str(ui_server.runs.resolve())]
    assert ui_server.app.share is False


def test_train_shows_progress_and_preview(client, trained, ui_server):
    fresh = Client(ui_server.url, verbose=False)  # a page's first poll: nothing shown yet
    status, bar, preview, strip, table = fresh.predict(trained, api_name="/progress")
    assert preview["label"] == "Latest finished scale: scale 2/2 (a random sample)"
    assert Image.open(preview["value"]).size == (32, 24)
    assert status.startswith(f"**{trained}**: trained")
    assert 'aria-valuenow="100"' in bar and "trained" in bar
    # One preview per finished scale, labelled with its scale (0 = coarsest, k/F).
    assert [s["caption"] for s in strip] == ["scale 0/2", "scale 1/2", "scale 2/2"]
    assert f'data-run="{trained}"' in table and "hills.png" in table
    run_dir = ui_server.runs / trained
    assert (run_dir / "input.png").exists() and (run_dir / "previews" / "scale_02.png").exists()
    assert ui_server.workers.wait(trained, 5) == 0
    # A page opened later (a reload, another tab) lists the run.
    runs = Client(ui_server.url, verbose=False).predict(None, api_name="/list_runs")
    assert trained in [c[0] for c in runs["choices"]]


def test_sample_gallery_and_zip(client, trained):
    gallery, zip_path = client.predict(trained, 5, 3, 0, 1.0, 1.5, api_name="/sample")
    assert [g["caption"] for g in gallery] == [f"seed {s} · 48x24 px" for s in (5, 6, 7)]
    sizes = {Image.open(g["image"]).size for g in gallery}
    assert sizes == {(48, 24)}  # 1.5 x the 32x24 finest scale
    names = [f"sample_seed{s}_start0_48x24.png" for s in (5, 6, 7)]
    assert [Path(g["image"]).name for g in gallery] == names  # downloads named by their settings
    with zipfile.ZipFile(zip_path) as z:
        assert z.namelist() == names
    # The same seed gives the same image.
    again, _ = client.predict(trained, 6, 1, 0, 1.0, 1.5, api_name="/sample")
    assert Image.open(again[0]["image"]).tobytes() == Image.open(gallery[1]["image"]).tobytes()


def test_sample_start_scale_out_of_range_is_a_message(client, trained):
    with pytest.raises(AppError, match="start scale must be between 0 and 2"):
        client.predict(trained, 0, 1, 5, 1.0, 1.0, api_name="/sample")


def test_model_download_and_upload(client, trained, ui_server):
    zip_path = client.predict(trained, api_name="/download_model")
    with zipfile.ZipFile(zip_path) as z:
        assert sorted(z.namelist()) == [f"{trained}/config.json", f"{trained}/model.safetensors"]
    runs, message = client.predict(handle_file(zip_path), trained, api_name="/upload_model")
    new = runs["value"]
    assert new != trained and new in message
    assert (ui_server.runs / new / "model.safetensors").exists()
    status = client.predict(new, api_name="/progress")[0]
    assert "model ready" in status
    gallery, _ = client.predict(new, 0, 1, 0, 1.0, 1.0, api_name="/sample")
    mine, _ = client.predict(trained, 0, 1, 0, 1.0, 1.0, api_name="/sample")
    assert Image.open(gallery[0]["image"]).tobytes() == Image.open(mine[0]["image"]).tobytes()


def test_bad_image_uploads_give_a_message(client, ui_server, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    # A message beside the form (not an error over it, which hid the Run name box), without
    # the upload's path on the server.
    _, _, message = client.predict(handle_file(str(text)), api_name="/check_image")
    assert "notes.png: not an image file" in message and "/" not in message
    huge = png_header(tmp_path / "huge.png", 9000, 8000)
    _, _, message = client.predict(handle_file(str(huge)), api_name="/check_image")
    assert "72000000 pixels, more than the limit" in message and "/" not in message
    before = set(p.name for p in ui_server.runs.iterdir())
    with pytest.raises(AppError, match="not an image file"):
        client.predict(*train_args(handle_file(str(text)), "bad"), api_name="/train")
    assert set(p.name for p in ui_server.runs.iterdir()) == before  # nothing created


def test_bad_model_zips_give_a_message(client, ui_server, trained, tmp_path):
    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"PK\x03\x04 this is not really a zip")
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as z:
        z.writestr("readme.txt", "hello")
    corrupt = tmp_path / "corrupt.zip"
    run_dir = ui_server.runs / trained
    with zipfile.ZipFile(corrupt, "w") as z:
        z.write(run_dir / "config.json", "config.json")
        z.writestr("model.safetensors", (run_dir / "model.safetensors").read_bytes()[:300])
    cases = {garbage: "not a valid zip file", empty: "not a model zip",
             corrupt: "not a usable model: .*corrupt or truncated"}
    before = set(p.name for p in ui_server.runs.iterdir())
    for path, message in cases.items():
        with pytest.raises(AppError, match=message):
            client.predict(handle_file(str(path)), None, api_name="/upload_model")
    assert set(p.name for p in ui_server.runs.iterdir()) == before


def test_bad_settings_and_missing_run_give_a_message(client):
    with pytest.raises(AppError, match="min_size must be a whole number from 8 to 4096"):
        client.predict(*train_args(None, "x", min_size=4), api_name="/train")
    with pytest.raises(AppError, match="No run selected"):
        client.predict(None, 0, 1, 0, 1.0, 1.0, api_name="/sample")
    with pytest.raises(AppError, match="no run named"):
        client.predict("../elsewhere", api_name="/download_model")


def test_preset_settings_follow_preset_and_mode(client):
    tiny = singan.PRESETS["tiny"]
    assert client.predict("tiny", "generation", api_name="/preset_settings") == \
        ("tiny", *(getattr(tiny, f) for f in TRAIN_ORDER))
    assert client.predict("tiny", "sr", api_name="/preset_settings")[:3:2] == ("tiny", 18)
    # super-resolution cannot train a ConSinGAN: the form moves to sr's default preset (CPU)
    fast = singan.make_config("fast", "sr")
    assert client.predict("consingan-fast", "sr", api_name="/preset_settings") == \
        ("fast", *(getattr(fast, f) for f in TRAIN_ORDER))


def test_stop_and_resume(client, ui_server):
    # Scale 0 takes 3 iterations, the next ones thousands: stopped during scale 1 for sure.
    # The worker starts while this process ignores SIGINT, as `singan ui &` would: Stop must
    # work all the same.
    ignored = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        reply, _ = client.predict(*train_args(None, "long", iters_finest=5000),
                                  api_name="/train")
    finally:
        signal.signal(signal.SIGINT, ignored)
    run = reply["value"]
    status, bar, *_ = wait_for(client, run, ["training scale 1/2"])
    assert "training scale 1/2" in bar and 'role="progressbar"' in bar
    # A second training while one runs is refused, and says why; nothing is created.
    before = set(p.name for p in ui_server.runs.iterdir())
    with pytest.raises(AppError, match=f"run '{run}' is training now; one training at a time"):
        client.predict(*train_args(None, "second"), api_name="/train")
    assert set(p.name for p in ui_server.runs.iterdir()) == before
    client.predict(run, api_name="/stop")
    assert ui_server.workers.wait(run, 60) == 130  # saved and exited on SIGINT
    status = wait_for(client, run, ["stopped after"])[0]
    assert "stopped after 1 of 3 scales; resume to continue" in status
    client.predict(run, api_name="/resume")
    with pytest.raises(AppError, match="only a stopped run can be resumed"):
        client.predict(run, api_name="/resume")
    wait_for(client, run, ["training scale 1/2"])  # went on from the saved scale
    client.predict(run, api_name="/stop")
    assert ui_server.workers.wait(run, 60) == 130


# --- the applications ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def mode_runs(ui_server, tiny_image):
    """Tiny models trained in "sr" and "animation" mode, saved into the app's runs folder."""
    names = {}
    for mode in ("sr", "animation"):
        config = singan.make_config("tiny", mode, max_size=32, min_size=16, base_channels=8,
                                    max_channels=8, iters=2)
        singan.save_run(singan.train(tiny_image, config, seed=0), ui_server.runs / f"m-{mode}")
        names[mode] = f"m-{mode}"
    return names


def _png(path, array):
    Image.fromarray(array).save(path)
    return handle_file(str(path))


def painted_editor(tmp_path, background: Image.Image, box=(4, 6, 14, 16), colour=(220, 30, 30)):
    """What the page's ImageEditor sends after one stroke: background, one RGBA layer with the
    stroke, and the composite. Returns (editor value, composite image, mask image)."""
    bg = np.asarray(background.convert("RGBA"))
    layer = np.zeros_like(bg)
    top, left, bottom, right = box
    layer[top:bottom, left:right] = (*colour, 255)
    comp = bg.copy()
    comp[top:bottom, left:right] = (*colour, 255)
    mask = np.zeros(bg.shape[:2], np.uint8)
    mask[top:bottom, left:right] = 255
    value = {"background": _png(tmp_path / "bg.png", bg),
             "layers": [_png(tmp_path / "layer.png", layer)],
             "composite": _png(tmp_path / "comp.png", comp), "id": None}
    return value, Image.fromarray(comp).convert("RGB"), Image.fromarray(mask)


def test_edit_with_a_painted_mask_matches_the_library(client, trained, ui_server, tmp_path):
    model = singan.load(ui_server.runs / trained)
    value, edited, mask = painted_editor(tmp_path, images.tensor_to_image(model.reals[-1]))
    (before, after), details, message = client.predict(
        trained, value, True, None, None, 1, False, 0, 3, api_name="/edit")
    assert "Picture: the editor's (with the strokes)." in message
    assert "Region: where you painted." in message
    assert Image.open(before).convert("RGB").tobytes() == edited.tobytes()
    want = singan.edit(model, edited, mask, start_scale=1, seed=3)
    assert Image.open(after).convert("RGB").tobytes() == images.tensor_to_image(want.blended).tobytes()
    assert [d["caption"] for d in details] == ["model output", "mask"]
    # Unticking "strokes are part of the picture" edits the background with the same mask.
    (before, _), _, _ = client.predict(trained, value, False, None, None, 1, False, 0, 3,
                                       api_name="/edit")
    assert Image.open(before).convert("RGB").tobytes() == \
        images.tensor_to_image(model.reals[-1]).tobytes()


def test_edit_with_an_empty_mask_is_a_message(client, trained, ui_server, tmp_path):
    model = singan.load(ui_server.runs / trained)
    bg = images.tensor_to_image(model.reals[-1])
    value = {"background": _png(tmp_path / "bg.png", np.asarray(bg)), "layers": [],
             "composite": _png(tmp_path / "c.png", np.asarray(bg)), "id": None}
    with pytest.raises(AppError, match="mask is empty"):
        client.predict(trained, value, True, None, None, 1, False, 0, 0, api_name="/edit")


def test_harmonize_uploads_at_all_scales(client, trained, ui_server, tmp_path):
    model = singan.load(ui_server.runs / trained)
    _, naive, mask = painted_editor(tmp_path, images.tensor_to_image(model.reals[-1]))
    naive.save(tmp_path / "naive.png")
    mask.save(tmp_path / "mask.png")
    (_, after), per_scale, message = client.predict(
        trained, None, True, handle_file(str(tmp_path / "naive.png")),
        handle_file(str(tmp_path / "mask.png")), 2, True, 1, 0, api_name="/harmonize")
    assert [d["caption"] for d in per_scale] == ["scale 1/2", "scale 2/2"]
    assert "Picture: the uploaded `naive.png`." in message
    assert "Region: the uploaded mask `mask.png`." in message
    # The uploads are previewed beside their boxes.
    shown = client.predict(handle_file(str(tmp_path / "naive.png")),
                           api_name="/harmonize_image_preview")
    assert Image.open(shown).convert("RGB").tobytes() == naive.tobytes()
    shown = client.predict(handle_file(str(tmp_path / "mask.png")),
                           api_name="/harmonize_mask_preview")
    assert Image.open(shown).size == mask.size
    # Kept in the run's outputs, with the settings.
    kept = ui_server.runs / trained / "outputs"
    record = kept / "harmonize_all_seed0_ft1.json"
    assert record.is_file() and "harmonize_scale2_seed0_ft1.png" in record.read_text()
    assert Image.open(per_scale[1]["image"]).tobytes() == Image.open(after).tobytes()
    assert Image.open(after).size == (32, 24)


def test_paint_to_image(client, trained, ui_server, tmp_path):
    canvas = client.predict(trained, api_name="/paint_canvas_blank")
    colours = canvas["brush"]["colors"]  # the training image's k-means palette, k = 5
    assert len(colours) == 5 and canvas["brush"]["color_mode"] == "fixed"
    blank = Image.open(canvas["value"]["background"]).convert("RGB")
    assert blank.size == (32, 24) and blank.getcolors() == [(32 * 24, ImageColor.getrgb(
        colours[0]))]
    quantised = client.predict(trained, api_name="/paint_canvas_image")["value"]["background"]
    used = {c for _, c in Image.open(quantised).convert("RGB").getcolors()}
    assert used <= {ImageColor.getrgb(c) for c in colours}
    value, paint, _ = painted_editor(tmp_path, blank, colour=ImageColor.getrgb(colours[1]))
    (shown, out), _ = client.predict(trained, value, None, 1, True, 2, 0,
                                           api_name="/paint")
    assert Image.open(shown).convert("RGB").tobytes() == paint.tobytes()
    assert Image.open(out).size == (32, 24)


def test_super_resolution_and_animation(client, trained, mode_runs, ui_server):
    (before, after), png, _ = client.predict(mode_runs["sr"], 2.0, 0,
                                             api_name="/super_resolve")
    assert Image.open(before).size == Image.open(after).size == (64, 48)
    assert Image.open(png).size == (64, 48)
    with pytest.raises(AppError, match="sr mode"):
        client.predict(trained, 2.0, 0, api_name="/super_resolve")
    gif, mp4 = client.predict(mode_runs["animation"], 4, 0.1, 0.9, 0, 10, 0, api_name="/animate")
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames == 4 and im.size == (32, 24)
    assert Path(gif).name == "animation_seed0_f4_a0.1_b0.9_start0_fps10.gif"
    kept = ui_server.runs / mode_runs["animation"] / "outputs"
    assert (kept / "animation_seed0_f4_a0.1_b0.9_start0_fps10.json").is_file()
    from singan.ui.tabs import HAS_MP4
    assert (mp4 is not None) == HAS_MP4
    with pytest.raises(AppError, match="animation mode"):
        client.predict(trained, 4, 0.1, 0.9, 0, 10, 0, api_name="/animate")


# --- hostile clients: Host and Origin, numbers, damaged runs, paths in messages ------------


def test_host_and_origin_are_checked_on_every_route(ui_server):
    import httpx

    base = ui_server.url.rstrip("/")
    port = int(base.rsplit(":", 1)[1])
    probe = ui_server.runs / "probe.txt"
    probe.write_text("probe")
    routes = {"page": ("GET", "/", {}), "config": ("GET", "/config", {}),
              "api info": ("GET", "/gradio_api/info", {}),
              "api call": ("POST", "/gradio_api/call/list_runs", {"json": {"data": [None]}}),
              "file": ("GET", f"/gradio_api/file={probe}", {}),
              "upload": ("POST", "/gradio_api/upload",
                         {"files": {"files": ("x.txt", b"uploaded")}}),
              "queue": ("POST", "/gradio_api/queue/join", {"json": {"data": [None]}}),
              "queue stream": ("GET", "/gradio_api/queue/data?session_hash=x", {})}
    own = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30) as http:
        def send(route, **headers):
            method, path, kw = routes[route]
            return http.request(method, path, headers=headers, **kw)

        for route in routes:
            for headers, why in [({"Host": "evil.example"}, "Host refused"),
                                 ({"Host": f"evil.example:{port}"}, "Host refused"),
                                 ({"Origin": "http://evil.example"}, "Origin refused"),
                                 ({"Origin": f"http://evil.example:{port}"}, "Origin refused"),
                                 ({"Origin": "null"}, "Origin refused"),
                                 ({"Origin": f"http://127.0.0.1:{port + 1}"}, "Origin refused")]:
                r = send(route, **headers)
                assert r.status_code == 403, (route, headers)
                assert r.headers["content-type"].startswith("text/plain") and why in r.text
        for route in ("page", "config", "api info", "api call", "file", "upload"):
            for headers in ({}, {"Origin": own}, {"Host": f"localhost:{port}",
                                                   "Origin": f"http://localhost:{port}"}):
                assert send(route, **headers).status_code == 200, (route, headers)
        assert send("file", Origin=own).text == "probe"
        assert "named_endpoints" in send("api info", Host=f"[::1]:{port}").json()
        # A CORS preflight is answered by Gradio's CORS layer (it runs nothing); the request it
        # announces is refused all the same.
        assert send("api call", Host=f"evil.example:{port}",
                    Origin=f"http://evil.example:{port}").status_code == 403
    probe.unlink()


def call_raw(ui_server, api, body: str):
    """Call an endpoint with a raw JSON body (NaN and Infinity, which gradio_client refuses to
    send); returns the text of the event stream's reply."""
    import httpx

    base = ui_server.url.rstrip("/")
    r = httpx.post(f"{base}/gradio_api/call/{api}", content=body,
                   headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200, r.text
    return httpx.get(f"{base}/gradio_api/call/{api}/{r.json()['event_id']}", timeout=60).text


def test_numbers_from_api_clients_are_checked_first(client, trained, ui_server):
    seed_msg = r"seed must be a whole number from 0 to 2\^63 - 1, got "
    cases = [
        ((trained, 2 ** 63, 1, 0, 1.0, 1.0), "/sample", seed_msg + "9223372036854775808"),
        ((trained, -1, 1, 0, 1.0, 1.0), "/sample", seed_msg + "-1"),
        ((trained, 2 ** 63 - 2, 3, 0, 1.0, 1.0), "/sample", "the last seed"),
        ((trained, 0, 1.5, 0, 1.0, 1.0), "/sample", "count must be a whole number from 1 to 64"),
        ((trained, "abc", 1, 0, 1.0, 1.0), "/sample", seed_msg + "'abc'"),
        ((trained, 0, 1, 0.5, 1.0, 1.0), "/sample", "start scale must be a whole number"),
        ((trained, 2.0, 2 ** 63), "/super_resolve", seed_msg),  # before "needs sr mode"
        ((trained, 4, 0.1, 0.9, 0, 10, -5), "/animate", seed_msg),
        ((trained, 4.5, 0.1, 0.9, 0, 10, 0), "/animate", "frames must be a whole number from 1"),
        # Sliders answer values outside their range themselves, with a message too.
        ((trained, 99.0, 0), "/super_resolve", "greater than maximum value 8"),
        ((trained, None, True, None, None, 1, False, 0, 2 ** 63), "/edit", seed_msg),
        ((trained, None, True, None, None, 1, False, -1, 0), "/harmonize",
         "fine-tuning iterations must be a whole number from 0"),
        ((trained, None, None, 1, True, 2, 2 ** 64), "/paint", seed_msg),
    ]
    for args, api, message in cases:
        with pytest.raises(AppError, match=message):
            client.predict(*args, api_name=api)
    before = set(p.name for p in ui_server.runs.iterdir())
    for changes, message in [({"seed": 2 ** 63}, seed_msg), ({"seed": -1}, seed_msg),
                             ({"iters": 2.5}, "iters must be a whole number from 1"),
                             ({"max_size": "big"}, "max_size must be a whole number")]:
        seed = changes.pop("seed", 0)
        with pytest.raises(AppError, match=message):
            client.predict(*train_args(None, "x", seed=seed, **changes), api_name="/train")
    assert set(p.name for p in ui_server.runs.iterdir()) == before  # nothing started
    # NaN and infinities (JSON extensions that Python's parser takes) are messages as well.
    base = f'"{trained}"'
    for api, body, message in [
            ("sample", f'[{base}, NaN, 1, 0, 1.0, 1.0, 0, 0]', "seed must be a whole number"),
            ("sample", f'[{base}, Infinity, 1, 0, 1.0, 1.0, 0, 0]', "seed must be a whole number"),
            ("sample", f'[{base}, 0, 1, 0, NaN, 1.0, 0, 0]', "height factor must be a finite"),
            ("animate", f'[{base}, 4, 0.1, NaN, 0, 10, 0]', "beta must be a finite number"),
            ("animate", f'[{base}, 4, 0.1, 0.9, 0, NaN, 0]', "frames per second must be a"),
            ("animate", f'[{base}, NaN, 0.1, 0.9, 0, 10, 0]', "frames must be a whole number"),
            ("super_resolve", f'[{base}, NaN, 0, null]', "factor must be a finite number > 1"),
            ("paint", f'[{base}, null, null, NaN, true, 2, 0]', "injection scale must be a"),
            ("train", '[null, "x", "generation", "tiny", 32, 16, 8, 8, NaN, 0, 0]',
             "iters must be a whole number"),
            ("train", '[null, "x", "generation", "tiny", 32, 16, 8, 8, 3, 0, -Infinity]',
             "seed must be a whole number")]:
        reply = call_raw(ui_server, api, f'{{"data": {body}}}')
        assert "event: error" in reply and message in reply, (api, body, reply)
    assert set(p.name for p in ui_server.runs.iterdir()) == before


def test_progress_of_a_damaged_or_linked_run_is_a_status(client, ui_server, tmp_path):
    import json
    import shutil

    damaged = ui_server.runs / "damaged"
    damaged.mkdir()
    (damaged / "progress.json").write_text(json.dumps(
        {"status": "running", "pid": 2 ** 63, "num_scales": "3", "scale": [], "percent": "x",
         "updated": True, "eta": {"s": 1}}))
    (damaged / ".lock").write_text('{"pid": 18446744073709551616}')
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "progress.json").write_text('{"status": "running", "pid": 1}')
    linked = ui_server.runs / "linked"
    linked.symlink_to(outside, target_is_directory=True)
    try:
        for api in ("/progress", "/run_status"):
            status = client.predict("damaged", api_name=api)[0]
            assert status.startswith("**damaged**: the training worker ended without finishing")
            status = client.predict("linked", api_name=api)[0]
            assert "'linked' is a symbolic link" in status
        with pytest.raises(AppError, match="run 'damaged' is not training"):
            client.predict("damaged", api_name="/stop")
        with pytest.raises(AppError, match="symbolic link"):
            client.predict("linked", api_name="/download_model")
        runs = client.predict(None, api_name="/list_runs")
        assert "damaged" in [c[0] for c in runs["choices"]]
        assert "linked" not in [c[0] for c in runs["choices"]]
        assert sorted(p.name for p in outside.iterdir()) == ["progress.json"]
    finally:
        shutil.rmtree(damaged)
        linked.unlink()


def test_messages_name_uploads_not_server_paths(client, trained, ui_server, tmp_path):
    import shutil
    import tempfile

    text = tmp_path / "my notes.png"
    text.write_text("not an image")
    good = tmp_path / "good.png"
    singan.default_image(24, 32).save(good)
    message = client.predict(handle_file(str(text)), api_name="/check_image")[2]
    assert message.startswith("**Not used:** my notes.png: not an image file"), message
    calls = [(train_args(handle_file(str(text)), "bad"), "/train"),
             ((trained, None, True, handle_file(str(good)), handle_file(str(text)), 1, False, 0,
               0), "/harmonize"),
             ((trained, None, handle_file(str(text)), 1, False, 0, 0), "/paint")]
    for args, api in calls:
        with pytest.raises(AppError) as e:
            client.predict(*args, api_name=api)
        message = str(e.value)
        assert message.startswith("my notes.png: not an image file"), (api, message)
        assert tempfile.gettempdir() not in message and str(tmp_path) not in message
    broken = ui_server.runs / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    (broken / "model.safetensors").write_bytes((ui_server.runs / trained /
                                                "model.safetensors").read_bytes())
    try:
        with pytest.raises(AppError, match="broken/config.json") as e:
            client.predict("broken", 0, 1, 0, 1.0, 1.0, api_name="/sample")
        assert str(ui_server.runs) not in str(e.value)
    finally:
        shutil.rmtree(broken)


def test_a_consingan_model_in_the_web_app(client, ui_server, tmp_path, tiny_image):
    """A consingan run uploaded as a model zip: sampled at another aspect; super-resolution says
    which family it needs."""
    config = singan.make_config("consingan", max_size=32, min_size=12, num_stages=3,
                                base_channels=4, max_channels=4, iters=1)
    run = tmp_path / "cs"
    singan.save_run(singan.train(tiny_image, config, seed=0), run)
    zip_path = tmp_path / "cs-model.zip"
    with zipfile.ZipFile(zip_path, "w") as z:
        for name in ("config.json", "model.safetensors"):
            z.write(run / name, f"cs/{name}")
    runs, message = client.predict(handle_file(str(zip_path)), None, api_name="/upload_model")
    name = runs["value"]
    assert name in message
    gallery, _ = client.predict(name, 0, 2, 0, 1.0, 1.5, api_name="/sample")
    h, w = singan.load(run).sizes[-1]
    assert len(gallery) == 2 and Image.open(gallery[0]["image"]).size == (round(1.5 * w), h)
    with pytest.raises(AppError, match="needs SinGAN's per-scale generators"):
        client.predict(name, 2, 0, api_name="/super_resolve")


# --- issue 19: the Train form, names, outputs kept, history, sizes, super-resolution -------


def test_the_train_form_follows_the_selected_run(client, trained):
    mode, preset, *fields, seed, note = client.predict(trained, api_name="/run_form")
    assert (mode, preset, seed) == ("generation", UI_TINY["preset"], 0)
    assert note.startswith(f"The settings of run **{trained}** (trained on `hills.png`).")
    assert fields == [UI_TINY[k] for k in TRAIN_ORDER]


def test_renamed_runs_get_a_notice_and_the_file_name_is_kept(client, trained, ui_server,
                                                              tmp_path):
    img = tmp_path / "stone.png"
    singan.default_image(24, 32).save(img)
    reply, message = client.predict(*train_args(handle_file(str(img)), f"{trained}!"),
                                    api_name="/train")
    run = reply["value"]
    assert run.startswith(f"{trained}-")  # -2 or, after the model upload test, -3
    assert message == (f"The run is named **{run}**: a run name holds only letters, digits, "
                       f"'.', '_' and '-' (at most 60), so '{trained}!' became '{trained}', "
                       f"and a run named '{trained}' exists already.")
    wait_for(client, run, ["trained", "failed", "ended"])
    assert ui_server.workers.wait(run, 30) == 0
    assert ui_server.workers.form(run)["file_name"] == "stone.png"
    assert "stone.png" in client.predict(None, api_name="/runs_table")
    from singan.ui.app import _rename_notice
    assert _rename_notice("my stone!", "my-stone") == (
        "The run is named **my-stone**: a run name holds only letters, digits, '.', '_' and "
        "'-' (at most 60), so 'my stone!' became 'my-stone'.")
    assert _rename_notice("a", "a-2") == "The run is named **a-2**: a run named 'a' exists already."
    assert _rename_notice("a", "a") == ""


def test_default_scales_in_the_page(client, trained):
    from singan.apps.common import default_start_scale

    fresh = Client(client.src, verbose=False)
    key = fresh.predict(trained, api_name="/progress")  # the poll sets the model's key
    assert key
    values = fresh.predict(trained, api_name="/model_settings")
    sliders = [v["value"] for v in values if isinstance(v, dict) and "Scale" in
               v.get("label", "").title()]
    # Sample start, edit, harmonize, paint, animate start: 3 scales, finest 2.
    palette = [v["brush"] for v in values if isinstance(v, dict) and "brush" in v]
    assert palette[0]["color_mode"] == "defaults" and len(palette[0]["colors"]) == 5  # Edit
    assert palette[2]["color_mode"] == "fixed"  # Paint
    assert sliders == [0, default_start_scale("edit", 3), default_start_scale("harmonize", 3),
                       default_start_scale("paint", 3), 0]


def test_exact_sizes_and_outputs_kept_with_their_settings(client, trained, ui_server):
    import json

    out = ui_server.runs / trained / "outputs"
    gallery, _ = client.predict(trained, 3, 2, 0, 1.0, 1.0, 40, 0, api_name="/sample")
    assert {Image.open(g["image"]).size for g in gallery} == {(40, 30)}  # aspect kept
    assert [g["caption"] for g in gallery] == ["seed 3 · 40x30 px", "seed 4 · 40x30 px"]
    client.predict(trained, 3, 2, 0, 1.0, 1.0, 40, 0, api_name="/sample")
    first = json.loads((out / "samples_seed3-4_start0_40x30.json").read_text())
    second = json.loads((out / "samples_seed3-4_start0_40x30-2.json").read_text())  # kept both
    assert first["app"] == "sample" and first["settings"] == {
        "seed": 3, "count": 2, "start_scale": 0, "scale_h": 1.0, "scale_w": 1.0, "width": 40,
        "height": 0}
    assert first["files"] == ["sample_seed3_start0_40x30.png", "sample_seed4_start0_40x30.png",
                              "samples_seed3-4_start0_40x30.zip"]
    assert second["files"][0] == "sample_seed3_start0_40x30-2.png"
    assert all((out / f).is_file() for f in first["files"] + second["files"])
    # The history lists them, newest first; reusing one puts its settings back.
    gallery, pick, listing = client.predict(trained, api_name="/history")
    assert pick["value"] == "samples_seed3-4_start0_40x30-2"
    assert "samples_seed3-4_start0_40x30" in [c[0] for c in pick["choices"]]
    assert "sample: seed 3, count 2" in listing
    settings = client.predict(trained, "samples_seed3-4_start0_40x30", api_name="/history_settings")
    assert settings["settings"]["width"] == 40
    values = client.predict(trained, "samples_seed3-4_start0_40x30", api_name="/reuse")
    assert [3, 2, 0, 1.0, 1.0, 40, 0] == [v for v in values[:7]]
    with pytest.raises(AppError, match="no output named"):
        client.predict(trained, "../x", api_name="/reuse")


def test_super_resolution_of_an_uploaded_image_and_page_messages(client, trained, mode_runs,
                                                                 tmp_path):
    small = tmp_path / "small.png"
    singan.default_image(15, 20).save(small)
    (_, after), png, message = client.predict(
        mode_runs["sr"], 2.0, 0, handle_file(str(small)), api_name="/super_resolve")
    assert Image.open(after).size == Image.open(png).size == (40, 30)
    assert "Enlarged to 40x30 px" in message and "sr_small_x2_seed0.png" in message
    with pytest.raises(AppError) as e:
        client.predict(trained, 2.0, 0, api_name="/super_resolve")
    assert "in the Train tab choose mode `sr`" in str(e.value) and "singan " not in str(e.value)
    with pytest.raises(AppError) as e:
        client.predict(trained, 4, 0.1, 0.9, 0, 10, 0, api_name="/animate")
    assert "choose mode `animation`" in str(e.value) and "singan " not in str(e.value)

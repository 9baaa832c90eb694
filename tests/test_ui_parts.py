"""Pieces of the web app that need no server: run folders, model zips, editor masks, the CLI."""

from __future__ import annotations

import json
import os
import sys
import zipfile

import numpy as np
import pytest
from PIL import Image

from singan.cli import main
from singan.ui import images, runs
from singan.errors import RunError
from singan.run import pack
from singan.ui.runs import UIError, Workers


def test_safe_name_and_unique_dir(tmp_path):
    assert runs.safe_name("../my photo (1).jpg") == "my-photo-1-.jpg"
    assert runs.safe_name("...") == "run"
    assert runs.safe_name("a" * 100) == "a" * 60
    assert runs.unique_dir(tmp_path, "x").name == "x"
    assert runs.unique_dir(tmp_path, "x").name == "x-2"


def test_path_refuses_names_outside_the_runs_folder(tmp_path):
    w = Workers(tmp_path / "runs")
    (tmp_path / "secret").mkdir()
    for name in ("../secret", "/etc", "", None, "missing"):
        with pytest.raises(UIError):
            w.path(name)


def test_status_of_a_run_whose_worker_died(tmp_path):
    w = Workers(tmp_path)
    run = tmp_path / "r"
    run.mkdir()
    (run / "worker.log").write_text("singan train: error: something broke\n")
    progress = {"status": "running", "pid": 2 ** 22 + 12345, "num_scales": 4, "scales_done": 2}
    (run / "progress.json").write_text(json.dumps(progress))
    st = w.status("r")
    assert st.state == "lost"
    assert "ended without finishing (2 of 4 scales saved)" in runs.progress_text(st)
    assert "something broke" in runs.progress_text(st)
    assert not w.stop("r")  # nothing alive to signal
    progress["pid"] = os.getpid()  # alive, but not a `singan train` of this run
    (run / "progress.json").write_text(json.dumps(progress))
    assert w.status("r").state == "lost" and not w.stop("r")


# --- damaged progress records: the status and Stop never raise -----------------------------

DAMAGED_PROGRESS = {
    "wrong types": {"status": 5, "pid": "123", "num_scales": "4", "scale": [], "iteration": {},
                    "iters": None, "scales_done": True, "percent": "50", "updated": "now",
                    "elapsed": [1], "eta": {"s": 3}},
    "running, pid past a C long": {"status": "running", "pid": 2 ** 63, "num_scales": 3},
    "running, pid past a C int": {"status": "running", "pid": 2 ** 31, "num_scales": 3},
    "running, pid past 2^64": {"status": "running", "pid": 2 ** 70},
    "running, negative pid": {"status": "running", "pid": -1},
    "running, float pid": {"status": "running", "pid": 1234.0},
    "running, bool pid": {"status": "running", "pid": True},
    "running, huge numbers": {"status": "running", "scale": 10 ** 30, "iteration": -5,
                              "percent": 1e308, "eta": -1.0, "num_scales": 10 ** 20},
    "a list": [1, 2, 3],
}


@pytest.mark.parametrize("progress", DAMAGED_PROGRESS.values(), ids=DAMAGED_PROGRESS.keys())
def test_status_and_stop_of_a_run_with_a_damaged_progress_record(tmp_path, progress):
    w = Workers(tmp_path)
    run = tmp_path / "r"
    run.mkdir()
    (run / "progress.json").write_text(json.dumps(progress))
    (run / ".lock").write_text(json.dumps({"pid": 2 ** 70}))  # the app does not read the lock
    st = w.status("r")
    assert st.state in ("lost", "failed")
    assert runs.progress_text(st).startswith("**r**: ")
    assert w.stop("r") is False
    assert w.names() == ["r"]


@pytest.mark.parametrize("pid", [2 ** 63, 2 ** 31, 2 ** 100, -(2 ** 63), 0, "12", 3.0, None])
def test_a_pid_no_process_can_have_is_no_worker(tmp_path, pid):
    # Past read_progress too (it already refuses these): os.kill itself overflows on them.
    assert runs._pid_is_worker(pid, tmp_path) is False


# --- symbolic links in the runs folder -----------------------------------------------------

def _copy_run(src, dest):
    dest.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (dest / name).write_bytes((src / name).read_bytes())
    return dest


def test_run_folders_that_are_links_are_neither_listed_nor_used(tmp_path, tiny_run):
    runs_dir, outside = tmp_path / "runs", tmp_path / "outside"
    _copy_run(tiny_run, runs_dir / "real")
    _copy_run(tiny_run, outside / "target")
    (runs_dir / "linked").symlink_to(outside / "target", target_is_directory=True)
    (runs_dir / "dangling").symlink_to(tmp_path / "nowhere", target_is_directory=True)
    w = Workers(runs_dir)
    assert w.names() == ["real"]
    for name in ("linked", "dangling"):
        for use in (w.path, w.outputs, w.export_model, w.status, w.stop, w.resume):
            with pytest.raises(UIError, match="symbolic link"):
                use(name)
    assert sorted(p.name for p in (outside / "target").iterdir()) == \
        ["config.json", "model.safetensors"]  # no outputs/, no zip written through the link
    assert w.export_model("real").parent == runs_dir / "real" / "outputs"


def test_an_outputs_folder_that_is_a_link_is_refused(tmp_path, tiny_run):
    runs_dir, outside = tmp_path / "runs", tmp_path / "outside"
    outside.mkdir()
    _copy_run(tiny_run, runs_dir / "r")
    (runs_dir / "r" / "outputs").symlink_to(outside, target_is_directory=True)
    w = Workers(runs_dir)
    with pytest.raises(UIError, match="r/outputs is a symbolic link"):
        w.outputs("r")
    with pytest.raises(UIError, match="r/outputs is a symbolic link"):
        w.export_model("r")
    assert list(outside.iterdir()) == []
    _copy_run(tiny_run, runs_dir / "f")
    (runs_dir / "f" / "outputs").write_text("a file, not a folder")
    with pytest.raises(UIError, match="f/outputs is not a folder"):
        w.outputs("f")


def test_files_the_app_writes_replace_links_instead_of_writing_through_them(tmp_path, tiny_run):
    pytest.importorskip("gradio", reason="needs the `ui` extra")
    from singan.ui.common import save_png, zip_pngs

    w = Workers(tmp_path / "runs")
    _copy_run(tiny_run, tmp_path / "runs" / "r")
    out = w.outputs("r")
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    image = Image.new("RGB", (8, 8))
    for name, write in [("sr_x2_seed0.png", lambda p: save_png(image, p)),
                        ("samples.zip", lambda p: zip_pngs({"a.png": image}, p)),
                        ("r-model.zip", lambda p: w.export_model("r"))]:
        (out / name).symlink_to(victim)
        write(out / name)
        assert not (out / name).is_symlink() and (out / name).stat().st_size > 0
        assert victim.read_text() == "keep me"


# --- numbers from the page and from API clients --------------------------------------------

def test_numbers_are_checked_against_their_declaration():
    pytest.importorskip("gradio", reason="needs the `ui` extra")
    from singan.bounds import FPS, SEED
    from singan.errors import ConfigError
    from singan.ui.common import number, number_box

    assert number(4.0, SEED, "seed") == 4 and type(number(4.0, SEED, "seed")) is int
    assert number(2 ** 63 - 1, SEED, "seed") == 2 ** 63 - 1
    assert number(10, FPS, "fps") == 10.0
    for bad in (2 ** 63, -1, 1.5, float("nan"), float("inf"), "3", None, True, [1]):
        with pytest.raises(ConfigError, match="seed must be a whole number from 0 to 2"):
            number(bad, SEED, "seed")
    with pytest.raises(ConfigError, match="fps must be a finite number"):
        number(float("nan"), FPS, "fps")
    # Number boxes hand over what was sent: Gradio's rounding would fail on NaN and strings.
    box = number_box(0, "seed")
    for payload in (float("nan"), "abc", 2 ** 70, 1.5, None):
        assert box.preprocess(payload) is payload


# --- server paths in messages --------------------------------------------------------------

def test_messages_show_no_server_paths(tmp_path):
    pytest.importorskip("gradio", reason="needs the `ui` extra")
    import tempfile

    from singan.ui.common import hide_folder, public

    runs_dir = tmp_path / "runs"
    hide_folder(runs_dir, relative=True)
    upload = os.path.join(tempfile.gettempdir(), "gradio", "3f" * 32, "my notes.png")
    assert public(f"{upload}: not an image file") == "my notes.png: not an image file"
    assert public(f"'{runs_dir}/hills/config.json': not JSON") == "'hills/config.json': not JSON"
    assert public(f"{runs_dir}: full") == "the runs folder: full"
    assert public("mode sr/animation, 1/2 done") == "mode sr/animation, 1/2 done"


def _model_zip(path, run_dir, names=("config.json", "model.safetensors")):
    with zipfile.ZipFile(path, "w") as z:
        for member, name in zip(("config.json", "model.safetensors"), names):
            z.write(run_dir / member, name)
    return path


def test_import_model_never_writes_by_the_stored_path(tmp_path, tiny_run):
    w = Workers(tmp_path / "runs")
    zpath = _model_zip(tmp_path / "evil.zip", tiny_run, ("../config.json", "../model.safetensors"))
    name = w.import_model(zpath)
    assert name == "evil"
    assert sorted(p.name for p in (tmp_path / "runs" / name).iterdir()) == \
        ["config.json", "model.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.zip", "runs"]
    deep = _model_zip(tmp_path / "deep.zip", tiny_run,
                      ("a/b/config.json", "a/b/model.safetensors"))
    with pytest.raises(RunError, match="not a model zip"):
        w.import_model(deep)


def test_import_model_size_limits(tmp_path, tiny_run, monkeypatch):
    w = Workers(tmp_path / "runs")
    zpath = _model_zip(tmp_path / "m.zip", tiny_run)
    monkeypatch.setattr(pack, "MAX_MODEL_BYTES", 1000)
    with pytest.raises(RunError, match="model.safetensors is larger than 1000 bytes"):
        w.import_model(zpath)
    assert list((tmp_path / "runs").iterdir()) == []  # no run, no leftover temporary folder


def test_export_model_refuses_an_unfinished_run(tmp_path):
    w = Workers(tmp_path)
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "progress.json").write_text('{"status": "running"}')
    with pytest.raises(Exception, match="no such run|not a SinGAN run"):
        w.export_model("r")


def _editor(h=6, w=8):
    bg = np.zeros((h, w, 4), np.uint8)
    bg[..., :3], bg[..., 3] = 100, 255
    layer = np.zeros((h, w, 4), np.uint8)
    layer[1:3, 2:5] = (255, 0, 0, 255)
    comp = bg.copy()
    comp[1:3, 2:5] = (255, 0, 0, 255)
    return {"background": bg, "layers": [layer], "composite": comp}


def test_editor_mask_from_layers_and_fallback():
    value = _editor()
    want = np.zeros((6, 8), bool)
    want[1:3, 2:5] = True
    assert (images.painted_region(value) == want).all()
    value_no_layers = dict(value, layers=[])
    assert (images.painted_region(value_no_layers) == want).all()
    mask = images.editor_mask(value, (12, 16))  # resized nearest-neighbour: still binary
    a = np.asarray(mask)
    assert mask.size == (16, 12) and set(np.unique(a)) == {0, 255}
    assert a[2:6, 4:10].all() and a.sum() == 255 * 4 * 6
    with pytest.raises(UIError, match="mask is empty"):
        images.editor_mask(dict(value, layers=[np.zeros((6, 8, 4), np.uint8)]), (6, 8))


def test_editor_image_with_and_without_strokes():
    value = _editor()
    assert images.editor_image(value, (6, 8)).getpixel((2, 1)) == (255, 0, 0)
    assert images.editor_image(value, (6, 8), strokes=False).getpixel((2, 1)) == (100, 100, 100)
    assert images.editor_image(value, (3, 4)).size == (4, 3)


def test_upload_mask_reads_white_or_alpha(tmp_path):
    a = np.zeros((8, 8), np.uint8)
    a[:4] = 255
    Image.fromarray(a).save(tmp_path / "m.png")
    got = np.asarray(images.upload_mask(str(tmp_path / "m.png"), (16, 16)))
    assert got[:8].all() and not got[8:].any()
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[4:, :, 3] = 255
    Image.fromarray(rgba).save(tmp_path / "a.png")
    got = np.asarray(images.upload_mask(str(tmp_path / "a.png"), (8, 8)))
    assert got[4:].all() and not got[:4].any()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "empty.png")
    with pytest.raises(UIError, match="mask is empty"):
        images.upload_mask(str(tmp_path / "empty.png"), (8, 8))


def test_cli_ui_without_gradio_names_the_extra(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` now fails
    assert main(["ui", "--runs", "unused"]) == 2
    assert "pip install 'singan[ui]'" in capsys.readouterr().err


def test_cli_ui_serves_the_runs_folder_on_localhost(monkeypatch, tmp_path, capsys):
    pytest.importorskip("gradio", reason="needs the `ui` extra")
    from singan.ui import app as ui_app

    seen = {}
    monkeypatch.setattr(ui_app, "launch", lambda app, runs_dir, **kw: seen.update(
        runs=runs_dir, blocks=app, **kw))
    assert main(["ui", "--runs", str(tmp_path / "r"), "--port", "7999", "--device", "cpu"]) == 0
    assert seen["host"] == "127.0.0.1" and seen["port"] == 7999
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    assert (tmp_path / "r").is_dir()
    assert "http://127.0.0.1:7999" in capsys.readouterr().err
    assert main(["ui", "--port", "0"]) == 2


# --- the Host and Origin rule --------------------------------------------------------------

def _refusal(rule, host="127.0.0.1:7860", origin=None, extra=()):
    from starlette.datastructures import Headers

    raw = ([] if host is None else [(b"host", host.encode())]) + \
        ([] if origin is None else [(b"origin", origin.encode())]) + list(extra)
    return rule.refusal(Headers(raw=raw))


def test_host_rule_of_an_app_on_localhost():
    hosts = pytest.importorskip("singan.ui.hosts", reason="needs the `ui` extra")
    rule = hosts.HostRule.for_server("127.0.0.1", 7860)
    for host in ("127.0.0.1:7860", "127.0.0.1", "localhost:7860", "LocalHost.:7860",
                 "[::1]:7860", "[0:0:0:0:0:0:0:1]:7860", "localhost:8000"):
        assert _refusal(rule, host) is None, host
    for host in ("evil.example", "evil.example:7860", "127.0.0.1.nip.io:7860", "localhost.evil",
                 "evil@127.0.0.1", "127.0.0.1/x", "192.168.1.5:7860", "[::1", "[fe80::zz]",
                 "localhost:99999", "", " ", None):
        assert "Host refused" in (_refusal(rule, host) or "") or \
            "exactly once" in (_refusal(rule, host) or ""), host
    assert "exactly once" in _refusal(rule, extra=[(b"host", b"evil.example")])
    for origin in ("http://127.0.0.1:7860", "http://localhost:7860", "http://[::1]:7860",
                   "HTTP://LOCALHOST:7860"):
        assert _refusal(rule, origin=origin) is None, origin
    for origin in ("http://evil.example", "http://evil.example:7860", "http://127.0.0.1",
                   "http://127.0.0.1:7861", "https://127.0.0.1:7860", "null", "",
                   "http://127.0.0.1:7860/page", "file://", "http://evil@127.0.0.1:7860"):
        assert "Origin refused" in (_refusal(rule, origin=origin) or ""), origin
    assert "Origin refused" in _refusal(rule, origin="http://127.0.0.1:7860",
                                        extra=[(b"origin", b"http://evil.example")])


def test_host_rule_of_an_app_on_a_named_host_or_every_address():
    hosts = pytest.importorskip("singan.ui.hosts", reason="needs the `ui` extra")
    named = hosts.HostRule.for_server("MyHost.lan", 8080)
    assert _refusal(named, "myhost.lan:8080", "http://myhost.lan:8080") is None
    assert _refusal(named, "localhost:8080") is None
    assert _refusal(named, "192.168.1.5:8080") is not None  # an address only on 0.0.0.0
    everywhere = hosts.HostRule.for_server("0.0.0.0", 8080)
    assert everywhere == hosts.HostRule.for_server("::", 8080) and everywhere.any_ip
    for host in ("192.168.1.5:8080", "[fe80::1]:8080", "10.0.0.7", "localhost:8080",
                 f"{hosts.machine_names().pop()}:8080"):
        assert _refusal(everywhere, host) is None, host
    assert _refusal(everywhere, "192.168.1.5:8080", "http://192.168.1.5:8080") is None
    for host in ("evil.example:8080", "192.168.1.5.nip.io:8080"):
        assert "Host refused" in _refusal(everywhere, host), host  # what DNS rebinding needs
    assert "Origin refused" in _refusal(everywhere, "10.0.0.7:8080", "http://evil.example:8080")
    assert "any IP address" in everywhere.describe() and "[::1]" in everywhere.describe()


def _asgi(guard, scope):
    """Run an ASGI app on one scope; returns (messages it sent, whether the inner app ran)."""
    import asyncio

    sent = []

    async def receive():
        return {"type": f"{scope['type']}.connect"} if scope["type"] == "websocket" else \
            {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    return sent


def test_host_guard_refuses_before_the_app_runs():
    hosts = pytest.importorskip("singan.ui.hosts", reason="needs the `ui` extra")
    ran = []

    async def inner(scope, receive, send):
        ran.append(scope["type"])

    guard = hosts.HostGuard(inner, hosts.HostRule.for_server("127.0.0.1", 7860))
    evil = [(b"host", b"evil.example:7860")]
    sent = _asgi(guard, {"type": "websocket", "path": "/ws", "headers": evil})
    assert sent == [{"type": "websocket.close", "code": 1008}] and ran == []
    sent = _asgi(guard, {"type": "http", "method": "GET", "path": "/", "headers": evil})
    assert sent[0]["status"] == 403 and b"Host refused" in sent[1]["body"] and ran == []
    good = [(b"host", b"127.0.0.1:7860"), (b"origin", b"http://127.0.0.1:7860")]
    for kind in ("http", "websocket"):
        assert _asgi(guard, {"type": kind, "method": "GET", "path": "/", "headers": good}) == []
    _asgi(guard, {"type": "lifespan"})
    assert ran == ["http", "websocket", "lifespan"]


def test_launch_installs_the_guard_and_says_what_0000_answers(monkeypatch, tmp_path):
    gr = pytest.importorskip("gradio", reason="needs the `ui` extra")
    import warnings

    from singan.errors import InputNotice
    from singan.ui import app as ui_app
    from singan.ui.hosts import HostGuard

    blocks, seen = gr.Blocks(), {}
    monkeypatch.setattr(blocks, "launch", lambda **kw: seen.update(kw))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no notice on localhost
        ui_app.launch(blocks, tmp_path, port=7999)
    (middleware,) = seen["app_kwargs"]["middleware"]
    assert middleware.cls is HostGuard and middleware.kwargs["rule"].port == 7999
    assert not middleware.kwargs["rule"].any_ip
    assert seen["num_workers"] == 0 and seen["server_name"] == "127.0.0.1"
    with pytest.warns(InputNotice, match="every address.*any IP address.*DNS rebinding"):
        ui_app.launch(blocks, tmp_path, host="0.0.0.0", port=7999)
    assert seen["app_kwargs"]["middleware"][0].kwargs["rule"].any_ip


def test_outputs_are_never_overwritten_and_their_records_are_checked(tmp_path):
    from singan.ui import outputs

    folder = tmp_path / "outputs"
    folder.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (folder / "edit_scale1.png").symlink_to(victim)  # a link where the first file would go
    im = Image.new("RGB", (4, 3), (10, 20, 30))
    written = outputs.save_output(folder, "edit", "edit_scale1", {"edit_scale1{n}.png":
                                                                  outputs.png(im)},
                                  {"start_scale": 1, "seed": 0})
    assert written["edit_scale1{n}.png"].name == "edit_scale1-2.png"
    assert written["record"].name == "edit_scale1-2.json"
    assert victim.read_text() == "keep me"
    again = outputs.save_output(folder, "edit", "edit_scale1", {"edit_scale1{n}.png":
                                                                outputs.png(im)}, {"seed": 1})
    assert again["record"].name == "edit_scale1-3.json"
    (folder / "junk.json").write_text("{not json")
    (folder / "other.json").write_text(json.dumps({"app": "rm -rf", "settings": {}, "files": []}))
    (folder / "evil.json").write_text(json.dumps({"app": "edit", "settings": {},
                                                  "files": ["../victim.txt"]}))
    records = outputs.read_records(folder)
    assert sorted(r["name"] for r in records) == ["edit_scale1-2", "edit_scale1-3", "evil"]
    assert [r["paths"] for r in records if r["name"] == "evil"] == [[]]
    newest = records[0] if records[0]["name"] != "evil" else records[1]
    assert outputs.shown_file(newest).name.startswith("edit_scale1-")
    assert outputs.describe(newest).startswith("edit: ")
    assert not any(p.name.endswith(".tmp") for p in folder.iterdir())


def test_preset_list_says_what_each_preset_is_for_and_its_time(fixed_throughput):
    """The Train tab's preset list describes every preset as `singan train --help` does (one
    function, `training.describe_presets`)."""
    from singan.training import describe_presets
    from singan.ui.app import preset_info

    text = preset_info("cpu")
    for name, info in describe_presets("cpu").items():
        assert f"{name}: {info.describe()}" in text


def test_train_tab_default_preset_and_its_description(ui_server):
    """The Train tab starts at `singan train`'s default preset for its device (the CPU's here:
    config.DEFAULT_CPU_PRESET, the one place it is set) and its list says what every preset is
    for and how long it takes here."""
    from singan.config import DEFAULT_CPU_PRESET, PRESET_PURPOSES

    found = [c["props"] for c in ui_server.app.config["components"]
             if c.get("props", {}).get("elem_id") == "train-preset"]
    assert len(found) == 1 and found[0]["value"] == DEFAULT_CPU_PRESET
    assert all(f"{name}: {purpose}; about " in found[0]["info"]
               for name, purpose in PRESET_PURPOSES.items())

"""The README's set-up commands are the contract with a new user: check and run them."""

import re
import shlex
from pathlib import Path

from PIL import Image

from singan.cli import main

ROOT = Path(__file__).resolve().parents[1]


def bash_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def test_readme_starts_with_two_setup_commands():
    blocks = bash_blocks()
    assert len(blocks) >= 2
    run, test = blocks[0].strip(), blocks[1].strip()
    assert "\n" not in run and "\n" not in test
    assert "singan train" in run and "singan sample" in run
    assert "pytest" in test


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    assert bash_blocks()[1].strip() in ci


def test_readme_main_job(tmp_path, monkeypatch):
    """Run the singan commands of the first block exactly as written (without the install), with
    its preset shrunk so that it takes a second: the run in runs/default, 8 samples and their
    contact sheet in runs/default/samples."""
    from singan import config

    monkeypatch.chdir(tmp_path)
    commands = [c.strip() for c in bash_blocks()[0].split("&&")]
    preset = shlex.split(next(c for c in commands if " train " in f" {c} "))
    name = preset[preset.index("--preset") + 1]
    small = config.PRESETS[name].replace(iters=2, iters_finest=0, max_size=40, prev_pool=2)
    monkeypatch.setitem(config.PRESETS, name, small)
    ran = 0
    for c in commands:
        argv = shlex.split(c)
        if argv[0].endswith("/singan") or argv[0] == "singan":
            assert main(argv[1:] + ["--quiet"]) == 0
            ran += 1
    assert ran == 2
    samples = sorted((tmp_path / "runs" / "default" / "samples").glob("*.png"))
    assert len(samples) == 8
    assert Image.open(samples[0]).size[0] > 0
    sheet = tmp_path / "runs" / "default" / "samples" / "index.html"
    assert all(f'src="{p.name}"' in sheet.read_text() for p in samples)


def test_readme_first_command_shows_160_px_samples():
    """The first command's preset gives samples of at least 160 px on the long side (the
    embedded image is 256x192), and the README says where the contact sheet is."""
    import singan
    from singan import config
    from singan.pyramid import geometry_for

    run = shlex.split(bash_blocks()[0].split("&&")[2].strip())
    assert run[1:3] == ["train", "--preset"] and "--out" not in run
    preset = config.PRESETS[run[3]]
    h, w = geometry_for(preset, *singan.default_image().size[::-1]).sizes[-1]
    assert max(h, w) >= 160
    assert "runs/default/samples/index.html" in (ROOT / "README.md").read_text()


def test_readme_python_example(tmp_path, monkeypatch):
    """Run the Python block, with the tiny preset shrunk so that it takes a second."""
    import singan
    from singan import config

    text = (ROOT / "README.md").read_text()
    code = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    monkeypatch.chdir(tmp_path)
    singan.default_image(48, 64).save("photo.jpg")
    small = config.PRESETS["tiny"].replace(iters=2, base_channels=8, max_channels=8)
    monkeypatch.setitem(config.PRESETS, "tiny", small)
    exec(compile(code, "README.md", "exec"), {})
    assert Image.open("sample.png").size == (96, 48)


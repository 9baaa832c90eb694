"""The web app in a real browser: Playwright driving the system Chromium (headless).

Screenshots go to a temporary folder; `pytest --ui-screenshots docs/ui` also copies them there
(the README's pictures).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

import singan
from conftest import UI_TINY

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (test extra)")
if not Path(CHROMIUM).exists():
    pytest.skip("no Chromium found (apt-get install chromium; /usr/bin/chromium)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, ui_server):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    outside = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith((ui_server.url, "data:", "blob:")) else None)
    page.set_default_timeout(60_000)
    page.goto(ui_server.url)
    yield page
    context.close()
    assert outside == [], f"the page fetched from outside the app: {outside[:5]}"


@pytest.fixture(scope="module")
def shots(request, tmp_path_factory):
    """save(page, name): a screenshot, kept under --ui-screenshots DIR when given."""
    keep = request.config.getoption("--ui-screenshots")
    tmp = tmp_path_factory.mktemp("shots")

    def save(page, name: str) -> Path:
        path = tmp / f"{name}.png"
        page.screenshot(path=str(path))
        im = Image.open(path).convert("RGB")
        assert im.getextrema() != ((255, 255),) * 3, "blank screenshot"
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            small = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.LANCZOS)
            small.quantize(128).save(Path(keep) / path.name, optimize=True)
        return path
    return save


def set_number(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input")
    box.fill(str(value))
    box.press("Tab")


def test_upload_train_and_sample(page, shots, tmp_path):
    img = tmp_path / "meadow.png"
    singan.default_image(48, 64).save(img)
    page.locator("#train-file input[type=file]").set_input_files(str(img))
    page.wait_for_function(
        "document.querySelector('#run-name input, #run-name textarea').value == 'meadow'")
    for field in ("max_size", "min_size", "iters", "base_channels", "max_channels"):
        set_number(page, "train-" + field.replace("_", "-"), UI_TINY[field])
    page.locator("#train-button").click()
    status = page.locator("#run-status")
    sync_api.expect(status).to_contain_text("meadow", timeout=30_000)
    sync_api.expect(status).to_contain_text("trained, 3 scales", timeout=120_000)
    sync_api.expect(page.locator("#train-preview img")).to_be_visible()
    shots(page, "train")

    page.get_by_role("tab", name="Sample").click()
    page.locator("#sample-button").click()
    thumbs = page.locator("#samples img")
    sync_api.expect(thumbs).to_have_count(8, timeout=30_000)
    shots(page, "sample")

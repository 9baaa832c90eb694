"""The web app in a real browser: Playwright driving the system Chromium (headless)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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


def open_page(browser, url):
    """A fresh tab on the app; fails the test if the page fetches anything from elsewhere."""
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.outside = []
    page.on("request", lambda r: page.outside.append(r.url)
            if not r.url.startswith((url, "data:", "blob:")) else None)
    page.set_default_timeout(60_000)
    page.goto(url)
    return page


def close_page(page):
    page.context.close()
    assert page.outside == [], f"the page fetched from outside the app: {page.outside[:5]}"


def set_number(page, elem_id: str, value) -> None:
    box = page.locator(f"#{elem_id} input")
    box.fill(str(value))
    box.press("Tab")


def test_upload_train_reload_and_sample(browser, ui_server, tmp_path):
    img = tmp_path / "meadow.png"
    singan.default_image(48, 64).save(img)
    page = open_page(browser, ui_server.url)
    page.locator("#train-file input[type=file]").set_input_files(str(img))
    sync_api.expect(page.locator("#run-name textarea")).to_have_value("meadow")
    page.locator("#train-preset input").click()
    page.get_by_role("option", name=UI_TINY["preset"]).click()
    tiny = singan.PRESETS[UI_TINY["preset"]]
    sync_api.expect(page.locator("#train-max-size input")).to_have_value(str(tiny.max_size))
    for field in ("max_size", "min_size", "base_channels", "max_channels", "iters", "iters_finest"):
        set_number(page, "train-" + field.replace("_", "-"), UI_TINY[field])
    page.locator("#train-button").click()
    sync_api.expect(page.locator("#run-status")).to_contain_text("meadow", timeout=30_000)
    close_page(page)  # closing the tab does not stop the training

    page = open_page(browser, ui_server.url)  # a reload finds the run and its progress
    sync_api.expect(page.locator("#run-select input")).to_have_value("meadow")
    sync_api.expect(page.locator("#run-status")).to_contain_text("trained, 3 scales",
                                                                  timeout=120_000)
    sync_api.expect(page.locator("#train-preview img")).to_be_visible()
    page.get_by_role("tab", name="Sample").click()
    page.locator("#sample-button").click()
    sync_api.expect(page.locator("#samples img")).to_have_count(8, timeout=30_000)

    # Paint a mask stroke on the training image with the mouse, then edit.
    page.get_by_role("tab", name="Edit").click()
    page.locator("#edit-editor button[aria-label='Brush']").click()
    box = page.locator("#edit-editor canvas").first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 60, y - 10)
    page.mouse.down()
    for i in range(1, 13):
        page.mouse.move(x - 60 + 10 * i, y - 10 + 2 * i)
    page.mouse.up()
    page.locator("#edit-button").click()
    sync_api.expect(page.locator("#edit-result img").first).to_be_visible(timeout=60_000)
    sync_api.expect(page.locator("#edit-details img")).to_have_count(2)
    close_page(page)

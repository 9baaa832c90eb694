"""The web app in a real browser: Playwright driving the system Chromium (headless)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import singan
from conftest import UI_TINY
from singan.config import make_config

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
    sync_api.expect(box).to_have_value(str(value))


def test_upload_train_reload_and_sample(browser, ui_server, tmp_path):
    img = tmp_path / "meadow.png"
    singan.default_image(48, 64).save(img)
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    page = open_page(browser, ui_server.url)
    # A file that is no image: a message beside the form, no server path, the form usable.
    page.locator("#train-file input[type=file]").set_input_files(str(bad))
    sync_api.expect(page.locator("#train-message")).to_contain_text(
        "notes.png: not an image file")
    assert "/" not in page.locator("#train-message").inner_text()
    sync_api.expect(page.locator("#run-name textarea")).to_be_visible()
    page.locator("#train-file button[aria-label='Clear']").click()
    page.locator("#train-file input[type=file]").set_input_files(str(img))
    sync_api.expect(page.locator("#run-name textarea")).to_have_value("meadow")
    if any(ui_server.runs.iterdir()):  # (other tests' runs) the first run's settings fill the
        # form once the page has loaded: wait for them, so that they come before ours
        sync_api.expect(page.locator("#train-form-note")).to_contain_text("The settings of run")
    page.locator("#train-mode").get_by_label("generation").check()
    page.locator("#train-preset input").click()
    page.get_by_role("option", name=UI_TINY["preset"]).click()
    fields = ("max_size", "min_size", "base_channels", "max_channels", "iters", "iters_finest")
    boxes = {f: page.locator(f"#train-{f.replace('_', '-')} input") for f in fields}
    shown = make_config(UI_TINY["preset"], "generation")  # what the form shows for the preset
    for field in fields:  # the preset's settings have all arrived before the form is changed
        sync_api.expect(boxes[field]).to_have_value(str(getattr(shown, field)))
    for field in fields:
        set_number(page, "train-" + field.replace("_", "-"), UI_TINY[field])
    for field in fields:  # and none was put back since
        sync_api.expect(boxes[field]).to_have_value(str(UI_TINY[field]))
    page.locator("#train-button").click()
    sync_api.expect(page.locator("#run-status")).to_contain_text("meadow", timeout=30_000)
    # The progress bar and the runs table show the run (with its image's original name).
    bar = page.locator("#train-progress [role=progressbar]")
    sync_api.expect(bar).to_be_visible()
    row = page.locator('#runs-table tr[data-run="meadow"]')
    sync_api.expect(row).to_contain_text("meadow.png")
    close_page(page)  # closing the tab does not stop the training

    page = open_page(browser, ui_server.url)  # a reload finds the run and its progress
    sync_api.expect(page.locator("#run-select input")).to_have_value("meadow")
    sync_api.expect(page.locator("#run-status")).to_contain_text("trained, 3 scales",
                                                                  timeout=120_000)
    sync_api.expect(page.locator("#train-preview img")).to_be_visible()
    bar = page.locator("#train-progress [role=progressbar]")
    row = page.locator('#runs-table tr[data-run="meadow"]')
    sync_api.expect(bar).to_have_attribute("aria-valuenow", "100")
    sync_api.expect(page.locator("#train-progress")).to_contain_text("trained")
    sync_api.expect(row).to_contain_text("trained")
    sync_api.expect(row.locator("img")).to_be_visible()  # its thumbnail
    sync_api.expect(row).to_contain_text("32x24")
    # One preview per finished scale, labelled k/F.
    strip = page.locator("#scale-previews")
    sync_api.expect(strip.locator("img")).to_have_count(3)
    sync_api.expect(strip).to_contain_text("scale 2/2")
    sync_api.expect(page.locator("#train-preview")).to_contain_text(
        "Latest finished scale: scale 2/2")
    # After the reload, the Train form holds the run's settings, not the defaults.
    sync_api.expect(page.locator("#train-max-size input")).to_have_value(
        str(UI_TINY["max_size"]))
    sync_api.expect(page.locator("#train-iters input")).to_have_value(str(UI_TINY["iters"]))
    sync_api.expect(page.locator("#train-form-note")).to_contain_text(
        "The settings of run meadow (trained on meadow.png)")

    # An error's toast goes when another tab is opened.
    page.get_by_role("tab", name="Super-resolution").click()
    page.locator("#sr-button").click()
    toast = page.locator("[data-testid=toast-body]")
    sync_api.expect(toast.first).to_contain_text("sr mode")
    page.get_by_role("tab", name="Sample").click()
    sync_api.expect(toast).to_have_count(0)

    # Samples twice as wide keep their aspect in the gallery, with their pixel size.
    set_number(page, "sample-width", 64)
    set_number(page, "sample-height", 24)
    page.locator("#sample-button").click()
    sync_api.expect(page.locator("#samples img")).to_have_count(8, timeout=30_000)
    sync_api.expect(page.locator("#samples")).to_contain_text("64x24 px")
    thumb = page.locator("#samples img").first
    assert thumb.evaluate("i => getComputedStyle(i).objectFit") == "contain"
    assert thumb.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [64, 24]
    set_number(page, "sample-width", 0)
    set_number(page, "sample-height", 0)
    page.locator("#sample-button").click()
    sync_api.expect(page.locator("#samples")).to_contain_text("32x24 px", timeout=30_000)

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
    sync_api.expect(page.locator("#edit-message")).to_contain_text("Region: where you painted")
    # All scales side by side; one picked from the grid goes into the slider.
    page.get_by_label("All injection scales side by side").first.check()
    page.locator("#edit-button").click()
    details = page.locator("#edit-details")
    sync_api.expect(details).to_contain_text("scale 2/2", timeout=60_000)
    details.locator("button[aria-label='Thumbnail 1 of 2']").click()
    sync_api.expect(page.locator("#edit-message")).to_contain_text("Shown: scale 1")
    # "Enlarge this result" puts it into the Super-resolution tab's upload.
    page.locator("#edit-enlarge").click()
    sync_api.expect(page.locator("#sr-file")).to_contain_text("edit_scale1")
    # (the tab switch and the preview's load take more than the default 5 s on a busy CPU)
    sync_api.expect(page.locator("#sr-preview img")).to_be_visible(timeout=30_000)
    # The history shows the outputs; reuse puts a sample's settings back into its tab.
    page.get_by_role("tab", name="History").click()
    sync_api.expect(page.locator("#history-gallery img").first).to_be_visible()
    sync_api.expect(page.locator("#history-list")).to_contain_text("sample: seed 0, count 8")
    close_page(page)


def test_animation_is_shown_enlarged_and_the_mp4_plays(browser, ui_server, tiny_image):
    from singan.ui.tabs import HAS_MP4

    config = singan.make_config("tiny", "animation", max_size=32, min_size=16, base_channels=8,
                                max_channels=8, iters=2)
    singan.save_run(singan.train(tiny_image, config, seed=0), ui_server.runs / "b-anim")
    page = open_page(browser, ui_server.url)
    sync_api.expect(page.locator("#run-select input")).to_have_value("b-anim")  # the newest
    page.get_by_role("tab", name="Animate").click()
    # An error's toast (another run is not an animation model) goes when the run changes.
    others = [n for n in ui_server.workers.names() if n != "b-anim"]
    if others:
        page.locator("#run-select input").click()
        page.get_by_role("option", name=others[0], exact=True).click()
        sync_api.expect(page.locator("#run-status")).to_contain_text(others[0])
        page.locator("#animate-button").click()
        toast = page.locator("[data-testid=toast-body]")
        sync_api.expect(toast.first).to_be_visible()
        page.locator("#run-select input").click()
        page.get_by_role("option", name="b-anim", exact=True).click()
        sync_api.expect(toast).to_have_count(0)
    sync_api.expect(page.locator("#run-status")).to_contain_text("b-anim: model ready")
    page.locator("#animate-button").click()
    gif = page.locator("#animation img")
    sync_api.expect(gif).to_be_visible(timeout=60_000)
    assert gif.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [32, 24]
    box = gif.bounding_box()
    assert box["height"] >= 200  # shown enlarged, not at its native 32x24
    if HAS_MP4:
        video = page.locator("#animation-video video")
        sync_api.expect(video).to_be_visible()
        assert video.evaluate("v => v.src").startswith(ui_server.url.rstrip("/"))
    close_page(page)

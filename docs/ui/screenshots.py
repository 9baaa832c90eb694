"""Take the README's pictures of the web app (docs/ui/*.png) in headless Chromium.

Trains a `tiny` model on the embedded landscape through the page (a few minutes on a CPU), then
samples, edits and paints with it. From the repository root:

    PYTHONPATH=src python docs/ui/screenshots.py   # docs/ui/{train,sample,edit,paint,patch,history}.png
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from PIL import Image
from playwright.sync_api import expect, sync_playwright

from singan.ui import build_app, launch
from singan.ui.runs import Workers

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


def save(page, path: Path, full_page: bool = False) -> None:
    """A screenshot, once every image has loaded, shrunk to 3/4 and stored with 96 colours."""
    page.wait_for_function("[...document.images].every(i => i.complete)")
    page.wait_for_timeout(500)
    page.screenshot(path=str(path), full_page=full_page)
    im = Image.open(path).convert("RGB")
    im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.LANCZOS)
    im.quantize(96).save(path, optimize=True)
    print(f"{path}: {path.stat().st_size // 1024} KB")


def stroke(page, editor: str, dx: float, dy: float) -> None:
    """Drag the brush across the middle of an image editor."""
    page.locator(f"#{editor} button[aria-label='Brush']").click()
    box = page.locator(f"#{editor} canvas").first.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - dx, y - dy)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x - dx + dx * i / 10, y - dy + dy * i / 10)
    page.mouse.up()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(Path(__file__).parent), help="folder for the PNGs")
    p.add_argument("--port", type=int, default=7871)
    p.add_argument("--chromium", default="/usr/bin/chromium")
    args = p.parse_args()
    expect.set_options(timeout=1_800_000)  # training takes minutes
    out = Path(args.out)
    runs = Path(tempfile.mkdtemp(prefix="singan-shots-"))
    workers = Workers(runs, "cpu", threads=1)
    app = build_app(runs, "cpu", workers=workers)
    launch(app, runs, port=args.port, prevent_thread_lock=True, quiet=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=args.chromium, args=FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 860})
        page.set_default_timeout(60_000)
        page.goto(f"http://127.0.0.1:{args.port}/")
        page.locator("#train-preset input").click()
        page.get_by_role("option", name="tiny").click()
        expect(page.locator("#train-max-size input")).to_have_value("64")
        page.locator("#run-name textarea").fill("landscape")
        page.locator("#train-button").click()
        expect(page.locator("#run-status")).to_contain_text("training scale 3/")
        page.mouse.wheel(0, -2000)
        save(page, out / "train.png")
        expect(page.locator("#run-status")).to_contain_text("trained")

        page.get_by_role("tab", name="Sample").click()
        for box, value in (("sample-width", 128), ("sample-height", 48)):  # twice as wide
            page.locator(f"#{box} input").fill(str(value))
            page.locator(f"#{box} input").press("Tab")
        page.locator("#sample-button").click()
        expect(page.locator("#samples img")).to_have_count(8)
        save(page, out / "sample.png", full_page=True)

        page.get_by_role("tab", name="Edit").click()
        stroke(page, "edit-editor", 80, 0)
        page.locator("#edit-button").click()
        expect(page.locator("#edit-result img").first).to_be_visible()
        save(page, out / "edit.png", full_page=True)

        page.get_by_role("tab", name="Paint").click()
        stroke(page, "paint-editor", 100, 30)
        page.locator("#paint-button").click()
        expect(page.locator("#paint-result img").first).to_be_visible()
        save(page, out / "paint.png", full_page=True)

        page.get_by_role("tab", name="Patch").click()  # GPNN on the run's training image
        page.locator("#patch-button").click()
        expect(page.locator("#patch-outputs img")).to_have_count(4)
        save(page, out / "patch.png", full_page=True)

        page.get_by_role("tab", name="History").click()
        expect(page.locator("#history-gallery img").first).to_be_visible()
        save(page, out / "history.png", full_page=True)
        page.wait_for_timeout(2000)  # let the editors finish their uploads
        browser.close()
    workers.close()
    app.close()


if __name__ == "__main__":
    main()

"""Draw the page's screenshots in docs/ again, with a model (the packaged one unless named), so they show today's page
and today's probabilities:

    python scripts/page_screenshots.py                 # -> docs/screenshot-*.png
    python scripts/page_screenshots.py --run runs/x --out /tmp/shots

Serves the page as ``moviegenre serve`` does (uvicorn, a loopback port, in a thread: ``background_server``) and drives it in headless
Chromium through Playwright (as tests/test_browser.py does; .ci/install-browser installs both). The inputs are the
examples' posters and fixed blurbs, so two runs with one model draw the same pictures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
COLLATERAL = ("A cab driver finds himself the hostage of an engaging contract killer as he makes his rounds from hit "
              "to hit during one night in Los Angeles.")
HALLOWEEN = ("On Halloween night of 1963, six-year-old Michael Myers stabbed his sister to death. After sitting in a "
             "mental hospital for 15 years, Myers escapes and returns to Haddonfield to kill.")
HAUNTED = "A family's last night in their old house, where something waits in the dark."
TIMEOUT_MS = 120_000  # explanations on a busy 2-core machine


def one_movie(page, out: Path) -> None:
    """The single-movie page: poster and blurb, a genre clicked, the blurb alone, a file that is no image."""
    page.set_input_files("#poster-input", str(EXAMPLES / "poster.png"))
    page.fill("#description", COLLATERAL)
    page.click("#predict")
    page.wait_for_selector("#heat:not([hidden])")
    page.wait_for_selector("#words .word")
    page.screenshot(path=str(out / "screenshot-poster-and-description.png"), full_page=True)
    page.click(".bar[data-genre=Thriller]")
    page.wait_for_function("() => document.getElementById('why-title').textContent.startsWith('Why Thriller?')")
    page.screenshot(path=str(out / "screenshot-thriller-clicked.png"), full_page=True)

    page.reload()
    page.wait_for_function("() => document.getElementById('model-info').textContent.startsWith('model ')")
    page.fill("#description", HALLOWEEN)
    page.click("#predict")
    page.wait_for_selector("#words .word")
    page.screenshot(path=str(out / "screenshot-description-only.png"), full_page=True)

    page.reload()
    page.wait_for_function("() => document.getElementById('model-info').textContent.startsWith('model ')")
    page.set_input_files("#poster-input", {"name": "notes.png", "mimeType": "image/png", "buffer": b"not a poster"})
    page.click("#predict")
    page.wait_for_selector("#error:not([hidden])")
    page.screenshot(path=str(out / "screenshot-bad-file.png"), full_page=True)


def compare(page, out: Path) -> None:
    """Poster variants ranked for Horror, each with its heat map."""
    variants = sorted((EXAMPLES / "variants").glob("*.png"))
    page.click("#mode-compare")
    page.set_input_files("#compare-input", [str(path) for path in variants])
    page.check("#genre-picks input[value=Horror]")
    page.fill("#compare-description", HAUNTED)
    page.click("#compare-run")
    page.wait_for_function(f"() => document.querySelectorAll('.variant .heat:not([hidden])').length === {len(variants)}")
    page.wait_for_function("() => !document.getElementById('compare-run').disabled")
    page.screenshot(path=str(out / "screenshot-compare.png"), full_page=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a run folder (default: the packaged model)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="the folder the screenshots go to")
    parser.add_argument("--chromium", default="/usr/bin/chromium", help="the browser's executable")
    args = parser.parse_args()
    if not Path(args.chromium).exists():
        raise SystemExit(f"no browser at {args.chromium}: run .ci/install-browser, or name one with --chromium")
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    from moviegenre.serving.app import create_app
    from moviegenre.serving.transport import background_server

    with background_server(create_app(args.run, workers=1)) as address, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS, headless=True)
        for draw, width in ((one_movie, 1100), (compare, 1200)):
            page = browser.new_page(viewport={"width": width, "height": 800})
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(address + "/")
            page.wait_for_function("() => document.getElementById('model-info').textContent.startsWith('model ')")
            draw(page, args.out)
            page.close()
        browser.close()
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()

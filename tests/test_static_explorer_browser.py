"""The site's static explorer works in a real browser: moving a control swaps the frame.

Marked ``browser`` (needs Debian's chromium, like the site tests) but needs no book build: the
explorer's HTML is written to a file and opened directly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relucourse.book import explorer

pytestmark = pytest.mark.browser
CHROMIUM = os.environ.get("RELUCOURSE_CHROMIUM", "/usr/bin/chromium")


def draw(beta: float, activation: str) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1.5))
    ax.plot([0, 1], [0, beta], label=activation)
    print(f"beta={beta}, {activation}")
    plt.show()


@pytest.fixture(scope="module")
def page_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    body = explorer.static_html(draw, beta=(0.5, 2.0, 0.5), activation=["relu", "tanh"])
    path = tmp_path_factory.mktemp("explorer") / "explorer.html"
    path.write_text(f"<!doctype html><html><body>{body}</body></html>")
    return path


# Run in its own process: the site tests keep a session-wide sync Playwright (and its asyncio
# loop) open, and a second sync_playwright() in the same process refuses to start.
BROWSER_SCRIPT = """
import json, sys
from playwright.sync_api import sync_playwright
chromium, url = sys.argv[1], sys.argv[2]
out = {"errors": []}
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=chromium, headless=True,
                                args=["--no-sandbox", "--disable-gpu",
                                      "--disable-background-networking"])
    page = browser.new_page()
    page.on("pageerror", lambda e: out["errors"].append(str(e)))
    page.on("console", lambda m: out["errors"].append(m.text) if m.type == "error" else None)
    page.goto(url)
    image = lambda: page.locator(".relucourse-explorer img").get_attribute("src")
    text = lambda: page.locator(".relucourse-explorer pre").inner_text()
    out["first_image"], out["first_text"] = image(), text()
    page.locator('input[type="range"]').fill("3")
    out["moved_image"], out["moved_text"] = image(), text()
    out["output"] = page.locator("output").inner_text()
    page.locator("select").select_option("1")
    out["selected_text"] = text()
    browser.close()
print(json.dumps(out))
"""


def test_moving_a_control_swaps_the_frame(page_file: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}")
    done = subprocess.run([sys.executable, "-c", BROWSER_SCRIPT, CHROMIUM, page_file.as_uri()],
                          capture_output=True, text=True, timeout=120, check=True)
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert "beta=1.5, relu" in out["first_text"]  # the live default (explorer.start), first option
    assert out["moved_image"] != out["first_image"] and "beta=2.0, relu" in out["moved_text"]
    assert out["output"] == "2.0"
    assert "beta=2.0, tanh" in out["selected_text"]
    assert out["errors"] == []

"""The site's static explorer works in a real browser: moving a control swaps the frame.

Marked ``browser`` (needs Debian's chromium, like the site tests) but needs no book build: the
explorer's HTML is written to a file and opened directly.
"""

from __future__ import annotations

import os
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


def test_moving_a_control_swaps_the_frame(page_file: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(page_file.as_uri())
        image = lambda: page.locator(".relucourse-explorer img").get_attribute("src")  # noqa: E731
        text = lambda: page.locator(".relucourse-explorer pre").inner_text()  # noqa: E731
        first = image()
        assert "beta=1.5, relu" in text()  # the live default (explorer.start), first option
        page.locator('input[type="range"]').fill("3")
        assert image() != first and "beta=2.0, relu" in text()
        assert page.locator("output").inner_text() == "2.0"
        page.locator("select").select_option("1")
        assert "beta=2.0, tanh" in text()
        browser.close()
    assert errors == []

"""A lab as a learner runs it: JupyterLab in Chromium, Run > Run All Cells, then the explorer.

Starts JupyterLab on 127.0.0.1 (no token) over a temporary copy of one lab, so autosave never
writes outputs into the repository; opens it in Debian's chromium with every other host blocked;
runs all cells from the Run menu and checks that no cell shows an error, that the explorer's
widgets render live (no "Error displaying widget"), and that changing its dropdown redraws the
figure. A screenshot of the run lands in ``test-artifacts/jupyterlab/``.

Marked ``browser`` (like the site tests); it needs no book build. Fast mode, as in CI.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "labs" / "02_sigmoid_lab.ipynb"
ARTIFACTS = ROOT / "test-artifacts" / "jupyterlab"
CHROMIUM = os.environ.get("RELUCOURSE_CHROMIUM", "/usr/bin/chromium")
RUN_ALL_S = 300
REDRAW_S = 120


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"needs Debian's chromium at {CHROMIUM} (`.ci/run` installs it as root)")
    folder = tmp_path_factory.mktemp("jupyterlab")
    shutil.copy(LAB, folder / LAB.name)
    port = free_port()
    env = {**os.environ, "RELUCOURSE_FAST": "1", "RELUCOURSE_PROGRESS": "0",
           "JUPYTER_CONFIG_DIR": str(folder / ".jupyter"), "OMP_NUM_THREADS": "1"}
    env.pop("RELUCOURSE_STATIC", None)  # live widgets, as in a learner's JupyterLab
    jupyter = Path(sys.executable).parent / "jupyter"
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        [str(jupyter), "lab", "--no-browser", "--allow-root", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.port={port}", "--ServerApp.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={folder}", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
         "jupyterlab.NeverCheckForUpdate"],
        cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail("JupyterLab did not start:\n" + (folder / "server.log").read_text())
                time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_a_lab_runs_in_jupyterlab_and_its_explorer_redraws(lab_server: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-gpu",
                                          "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        context.route("**/*", lambda r: r.continue_() if r.request.url.startswith(lab_server)
                      or r.request.url.startswith("data:") else r.abort())
        page = context.new_page()
        page.goto(f"{lab_server}/lab/tree/{LAB.name}", wait_until="load", timeout=90_000)
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        try:  # a fresh JupyterLab asks which kernel to start: the notebook's own (python3)
            page.locator(".jp-Dialog button.jp-mod-accept").click(timeout=15_000)
        except sync_api.TimeoutError:
            pass
        page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]',
                               timeout=90_000)

        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        try:
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click(timeout=15_000)
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "run-menu.png"))
            raise
        code_cells = page.locator(".jp-Notebook .jp-CodeCell")
        deadline = time.monotonic() + RUN_ALL_S
        while True:
            prompts = page.locator(".jp-Notebook .jp-CodeCell .jp-InputPrompt").all_text_contents()
            done = prompts and all(t.strip().startswith("[") and t.strip()[1:-2].strip().isdigit()
                                   for t in prompts)
            idle = page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').count()
            if done and idle:
                break
            errors = page.locator('[data-mime-type="application/vnd.jupyter.error"]').count()
            if errors or time.monotonic() > deadline:
                break  # reported by the asserts below
            time.sleep(1.0)
        page.screenshot(path=str(ARTIFACTS / "run-all.png"), full_page=False)

        errors = page.locator('[data-mime-type="application/vnd.jupyter.error"]').all_inner_texts()
        assert not errors, f"cells raised in JupyterLab: {[e[:300] for e in errors]}"
        assert done, f"not every cell ran within {RUN_ALL_S}s: prompts {prompts}"
        assert code_cells.count() == len(prompts)
        assert "Error displaying widget" not in page.locator(".jp-Notebook").inner_text()

        explorer = page.locator(".widget-interact").first
        explorer.scroll_into_view_if_needed()
        assert explorer.locator("select").count() > 0, "the explorer shows no live dropdown"
        image = explorer.locator(".widget-output img").first
        image.wait_for(timeout=REDRAW_S * 1000)
        before = image.get_attribute("src")
        dropdown = explorer.locator("select").first
        options = dropdown.locator("option").all_inner_texts()
        dropdown.select_option(label=options[1])
        page.wait_for_function(
            "([root, old]) => { const i = root.querySelector('.widget-output img');"
            " return i && i.getAttribute('src') !== old; }",
            arg=[explorer.element_handle(), before], timeout=REDRAW_S * 1000)
        explorer.screenshot(path=str(ARTIFACTS / "explorer-after-change.png"))
        errors = page.locator('[data-mime-type="application/vnd.jupyter.error"]').all_inner_texts()
        assert not errors, f"the redraw raised: {[e[:300] for e in errors]}"
        context.close()
        browser.close()

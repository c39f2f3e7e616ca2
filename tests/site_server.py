"""Helpers for the browser tests: serve the built site locally and read what the book should contain.

Kept free of Playwright so the pure parts (Colab URLs, URL classification) can be
imported anywhere.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

LOCAL_HOSTS = ("127.0.0.1",)


class QuietHandler(SimpleHTTPRequestHandler):
    """A static file handler that does not print a line per request into the test output."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 at a free port in a background thread; yields the base URL."""
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="site-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def is_local(url: str) -> bool:
    """True for URLs the page may load: the local server, inline data and blob URLs."""
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname in LOCAL_HOSTS


def colab_url(root: Path, docname: str) -> str:
    """The Colab launch URL JB1 should build for ``docname``, from _config.yml's repository block."""
    config = yaml.safe_load((root / "_config.yml").read_text())
    repo = config["repository"]
    org_repo = repo["url"].removeprefix("https://github.com/").strip("/")
    branch = repo.get("branch", "master")
    prefix = str(repo.get("path_to_book", "") or "").strip("/")
    path = f"{prefix}/{docname}.ipynb" if prefix else f"{docname}.ipynb"
    return f"https://colab.research.google.com/github/{org_repo}/blob/{branch}/{path}"

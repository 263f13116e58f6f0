"""Fixtures for the browser test: the built site served on 127.0.0.1 and Debian's chromium via Playwright.

The site is built by `make browser` (book/scripts/build_book.py --mode fast) into
build/site-fast/_build/html; MINILIB_SITE_DIR overrides that, MINILIB_NBS_DIR the chapter folder.
"""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from .site import CHROMIUM, CHROMIUM_ARGS, SITE_DIR, is_external


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


@pytest.fixture(scope="session")
def site_url():
    """Serve SITE_DIR on a free port of 127.0.0.1 for the whole session."""
    if not (SITE_DIR / "index.html").exists():
        pytest.fail(f"no built site in {SITE_DIR}: run `make browser` (it builds the site, then runs this test)")
    handler = functools.partial(QuietHandler, directory=str(SITE_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser_context(tmp_path_factory):
    """A chromium context with a fresh profile in which every request to another host is blocked and recorded."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: install Chromium (Debian: `apt-get install -y chromium`, which "
                    "`make browser` does) or point CHROMIUM=/path/to/chromium at another build; "
                    "`make browser` does this)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1280, "height": 900},
        )
        context.external_requests = []

        def block(route):
            context.external_requests.append(route.request.url)
            route.abort()

        # Aborting (not just recording) keeps the test fast and deterministic on machines without internet.
        context.route(lambda url: is_external(url), block)
        yield context
        context.close()

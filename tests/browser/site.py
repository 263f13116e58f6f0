"""Where the browser test finds the site, the chapters and chromium (shared by conftest and the tests)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
SITE_DIR = Path(os.environ.get("MINILIB_SITE_DIR", ROOT / "build" / "site-fast" / "_build" / "html"))
NBS_DIR = Path(os.environ.get("MINILIB_NBS_DIR", ROOT / "nbs"))
SCREENSHOTS = ROOT / "build" / "screenshots"
CHROMIUM = Path(os.environ.get("MINILIB_CHROMIUM") or os.environ.get("CHROMIUM") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


BOOK_DIR = ROOT / "book"


def book_pages() -> list[str]:
    """The site's other pages, from book/*.md (landing page, testing, glossary, bibliography)."""
    return sorted(p.stem for p in BOOK_DIR.glob("*.md"))


def chapter_stems() -> list[str]:
    """The chapters the site must have, from the file names nbs/NN_name.py."""
    return sorted(p.stem for p in NBS_DIR.glob("[0-9][0-9]_*.py"))


def is_external(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in {"data", "blob", "about", "chrome-extension", "devtools"}:
        return False
    return parts.hostname not in LOCAL_HOSTS

"""Build the book: stage book/ with the chapters and local JavaScript, then run jupyter-book on it.

    python book/scripts/build_book.py --mode full   # make book: chapters at full size -> book/_build/html
    python book/scripts/build_book.py --mode fast   # make browser: MINILIB_FAST=1 -> build/site-fast/_build/html
    python book/scripts/build_book.py --mode fast --executed build/nbs-executed
        # make test: the chapters as `make kernels` executed them (book/scripts/nbval_save.py), not run again

The chapters stay in nbs/ (percent-format .py, the one source that nbval also runs); the staging copy
exists because Sphinx only reads documents inside its source folder. Everything the pages load is
copied next to them, so the site needs no network, at build time or when read.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

BOOK = Path(__file__).resolve().parents[1]
ROOT = BOOK.parent
CHAPTER_PATTERN = re.compile(r"^(\d\d)_[A-Za-z0-9_]+\.py$")
# book/ files and folders that are part of the site (everything else there is tooling).
BOOK_FILES = ("_config.yml", "_toc.yml", "references.bib")
# book/_static is staged as _assets (see _config.yml: Jupyter Book auto-includes every .js under _static).
STATIC_DIR = "_assets"
MODES = {
    # mode: (staging dir, jupyter-book --path-output, extra environment)
    "full": (ROOT / "build" / "book-src", BOOK, {}),
    "fast": (ROOT / "build" / "site-fast-src", ROOT / "build" / "site-fast",
             {"MINILIB_FAST": "1", "MINILIB_REQUIRE_RESULTS": "1"}),
}


def vendor_sources() -> dict[str, Path]:
    """Files served from _assets/vendor/, keyed by their name there."""
    import plotly

    sources = {
        "plotly.min.js": Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
        "mathjax": BOOK / "node_modules" / "mathjax" / "es5",
    }
    missing = [str(p) for p in sources.values() if not p.exists()]
    if missing:
        raise SystemExit(
            "build_book: missing JavaScript assets " + ", ".join(missing) + "\n"
            "  run `npm ci` in book/ (the make targets `book` and `browser` do this)"
        )
    return sources


def sync(src: Path, dst: Path) -> None:
    """Copy a file or folder, keeping modification times and skipping identical files."""
    if src.is_dir():
        dst.mkdir(parents=True, exist_ok=True)
        names = {p.name for p in src.iterdir()}
        for p in src.iterdir():
            sync(p, dst / p.name)
        for p in dst.iterdir():
            if p.name not in names:
                shutil.rmtree(p) if p.is_dir() else p.unlink()
        return
    if dst.is_dir():
        shutil.rmtree(dst)
    if dst.exists() and filecmp.cmp(src, dst, shallow=False):
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src, dst)


def find_chapters(nbs: Path) -> list[Path]:
    """Chapter sources NN_name.py in nbs/, in order."""
    if not nbs.is_dir():
        raise SystemExit(f"build_book: chapter folder {nbs} does not exist")
    chapters = sorted(p for p in nbs.iterdir() if CHAPTER_PATTERN.match(p.name))
    numbers = [p.name[:2] for p in chapters]
    duplicates = sorted({n for n in numbers if numbers.count(n) > 1})
    if duplicates:
        raise SystemExit(f"build_book: two chapters share the number(s) {duplicates} in {nbs}")
    return chapters


def executed_notebook(chapter: Path, executed: Path) -> Path:
    """The executed notebook of a chapter, checked to hold the chapter's current cells."""
    import jupytext

    path = executed / f"{chapter.stem}.ipynb"
    if not path.exists():
        raise SystemExit(f"build_book: {path} is missing: the chapter did not pass under nbval (make kernels), "
                         "or was never run there")
    ran = jupytext.read(path)
    now = jupytext.read(chapter, fmt="py:percent")
    if [(c.cell_type, c.source) for c in ran.cells] != [(c.cell_type, c.source) for c in now.cells]:
        raise SystemExit(f"build_book: {path} was executed from an older {chapter.name}: run `make kernels` "
                         "again, or build without --executed")
    return path


def stage(src_dir: Path, chapters: list[Path], executed: Path | None = None) -> None:
    """Make src_dir a jupyter-book source folder: book/ pages and toc, chapters, vendored JavaScript.

    With `executed`, the chapters are staged as the notebooks executed there and the staged configuration
    turns execution off."""
    src_dir.mkdir(parents=True, exist_ok=True)
    pages = sorted(BOOK.glob("*.md"))
    for name in BOOK_FILES:
        sync(BOOK / name, src_dir / name)
    if executed is not None:
        config = src_dir / "_config.yml"
        text, count = re.subn(r"(?m)^(\s*execute_notebooks:).*$", r'\1 "off"', config.read_text())
        if count != 1:
            raise SystemExit("build_book: book/_config.yml has no single `execute_notebooks:` line to turn off")
        if text != config.read_text():
            config.write_text(text)
    for page in pages:
        sync(page, src_dir / page.name)
    expected = {*BOOK_FILES, *(p.name for p in pages), "chapters", STATIC_DIR}
    for old in src_dir.iterdir():
        if old.name not in expected:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    chapter_dir = src_dir / "chapters"
    chapter_dir.mkdir(exist_ok=True)
    sources = {c: executed_notebook(c, executed) if executed is not None else c for c in chapters}
    for old in chapter_dir.iterdir():
        if old.name not in {p.name for p in sources.values()}:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    for source in sources.values():
        sync(source, chapter_dir / source.name)
    static = src_dir / STATIC_DIR
    sync(BOOK / "_static", static)  # also removes what is not in book/_static, so vendor/ comes after
    for name, source in vendor_sources().items():
        sync(source, static / "vendor" / name)


def tree_hash(paths: list[Path], root: Path, seed: str = "") -> str:
    """Hash of the names and contents of every file under paths (relative to root)."""
    h = hashlib.sha256(seed.encode())
    for top in paths:
        for path in sorted(top.rglob("*")) if top.is_dir() else [top]:
            if path.is_file() and "__pycache__" not in path.parts:
                h.update(str(path.relative_to(root)).encode())
                h.update(path.read_bytes())
    return h.hexdigest()


def refresh(out: Path, src_dir: Path, mode: str) -> bool:
    """Decide what the next jupyter-book run must redo; returns True when every page must be rebuilt.

    Two things escape the incremental build: jupyter-cache keys a chapter by its own code only (a change
    in minilib or results/ would be invisible), and Sphinx rewrites no page when only static files,
    configuration, the toc or the set of chapters (which every page's sidebar lists) changed. Hashes of
    both are kept next to the build. When the site changes, the HTML folder is emptied too: Sphinx never
    deletes a static file that is no longer staged.
    """
    build = out / "_build"
    stamp_path = build / ".minilib-stamp.json"
    stamps = {
        "code": tree_hash([ROOT / "minilib", ROOT / "results"], ROOT, seed=mode),
        "site": tree_hash([p for p in src_dir.iterdir() if p.name != "chapters"], src_dir,
                          seed=" ".join(sorted(p.name for p in (src_dir / "chapters").iterdir()))),
    }
    old = json.loads(stamp_path.read_text()) if stamp_path.exists() else {}
    if old.get("code") != stamps["code"]:
        shutil.rmtree(build / ".jupyter_cache", ignore_errors=True)
    if old.get("site") != stamps["site"]:
        shutil.rmtree(build / "html", ignore_errors=True)
    build.mkdir(parents=True, exist_ok=True)
    stamp_path.write_text(json.dumps(stamps))
    return old != stamps


EXTERNAL = re.compile(r"""<(?:script|link|img|iframe|source)\b[^>]*?\b(?:src|href)=["'](?:https?:)?//""", re.I)


def check_offline(html_dir: Path) -> None:
    """Fail when a page loads a script, stylesheet or image from another host."""
    bad = []
    for page in sorted(html_dir.rglob("*.html")):
        for match in EXTERNAL.finditer(page.read_text(errors="replace")):
            tag = page.read_text(errors="replace")[match.start() : match.start() + 200].split(">")[0]
            if 'rel="canonical"' not in tag:
                bad.append(f"{page.relative_to(html_dir)}: {tag}>")
    if bad:
        raise SystemExit("build_book: pages load resources from other hosts:\n  " + "\n  ".join(bad[:20]))


def executed_notebooks(out: Path, src_dir: Path, chapters: list[Path]) -> dict[Path, object]:
    """Each chapter's executed notebook: the staged .ipynb (--executed), else jupyter-cache's record."""
    import jupytext
    import nbformat

    staged = {c: src_dir / "chapters" / f"{c.stem}.ipynb" for c in chapters}
    if all(p.exists() for p in staged.values()):
        return {c: nbformat.read(str(p), as_version=4) for c, p in staged.items()}
    from jupyter_cache import get_cache

    cache = get_cache(out / "_build" / ".jupyter_cache")
    notebooks = {}
    for chapter in chapters:
        record = cache.match_cache_notebook(jupytext.read(chapter, fmt="py:percent"))
        notebooks[chapter] = cache.get_cache_bundle(record.pk).nb
    return notebooks


def check_outputs(notebooks: dict[Path, object]) -> None:
    """Every display output of every executed chapter has a mimetype the HTML page can show.

    myst-nb's own warning about unknown mimetypes is switched off in _config.yml because every plotly
    figure also carries its JSON for JupyterLab; this check keeps the useful half of that warning.
    """
    from myst_nb.core.render import base_render_priority

    shown = set(base_render_priority()["html"])
    problems = []
    for chapter, notebook in notebooks.items():
        code_cells = [c for c in notebook.cells if c.cell_type == "code"]
        for number, cell in enumerate(code_cells, start=1):
            for output in cell.get("outputs", []):
                kinds = set(output.get("data", {}))
                # myst-nb glue records are not shown where made: {glue} references in the text show them.
                glued = bool(kinds) and all(k.startswith("application/papermill.record/") for k in kinds)
                if output.get("output_type") in {"display_data", "execute_result"} and not kinds & shown and not glued:
                    problems.append(f"{chapter.name}, code cell {number}: nothing the site can show in {sorted(kinds)}")
    if problems:
        raise SystemExit(
            "build_book: outputs that would be missing from the site (for plotly: is minilib.display registered?)"
            ":\n  " + "\n  ".join(problems)
        )


WIDGET_SCRIPT = re.compile(r'<script type="application/vnd\.jupyter\.widget-(state|view)\+json">(.*?)</script>', re.S)


def check_chapters(html_dir: Path, chapters: list[Path]) -> None:
    """Every chapter has a page, and no page stores widget state or shows a widget view.

    The site loads no widget manager, so a widget would be an empty box. nbclient stores the state of
    every widget a chapter creates, shown or not (a tqdm.auto bar included), and myst-nb writes it into
    the page.
    """
    missing = [f"{page} was not built" for page in (html_dir / "chapters" / f"{c.stem}.html" for c in chapters)
               if not page.exists()]
    if missing:
        raise SystemExit("build_book: chapters without a page:\n  " + "\n  ".join(missing))
    widgets = []
    for page in sorted(html_dir.rglob("*.html")):
        found = WIDGET_SCRIPT.findall(page.read_text(errors="replace"))
        if found:
            views = sum(kind == "view" for kind, _ in found)
            models = sorted({
                model.get("model_name", "?")
                for kind, body in found if kind == "state"
                for model in json.loads(body).get("state", {}).values()
            })
            widgets.append(f"{page.relative_to(html_dir)}: {views} widget view(s); stored widget state: "
                           f"{', '.join(models) or 'none'}")
    if widgets:
        raise SystemExit(
            "build_book: pages with widgets, which the static site cannot draw:\n  " + "\n  ".join(widgets)
            + "\n  Under MINILIB_BOOK=1 (minilib.runtime.IN_BOOK) a chapter creates no widget and shows a plain"
            " figure instead."
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=sorted(MODES), required=True)
    parser.add_argument("--nbs", type=Path, default=ROOT / "nbs", help="chapter folder (default: nbs/)")
    parser.add_argument("--out", type=Path, help="override the output folder (site in OUT/_build/html)")
    parser.add_argument("--executed", type=Path, help="build from the executed notebooks in this folder "
                        "(NN_name.ipynb, as book/scripts/nbval_save.py writes them) instead of executing")
    args = parser.parse_args(argv)

    src_dir, out, extra_env = MODES[args.mode]
    if args.out is not None:
        out = args.out.resolve()
        src_dir = out.parent / f"{out.name}-src"
    chapters = find_chapters(args.nbs.resolve())
    if not chapters:
        print(f"build_book: no chapters (NN_name.py) in {args.nbs}; building the site without chapters")
    started = time.perf_counter()
    executed = args.executed.resolve() if args.executed is not None else None
    stage(src_dir, chapters, executed)
    rebuild = refresh(out, src_dir, args.mode + (" executed" if executed else ""))

    env = dict(os.environ, MINILIB_BOOK="1", **extra_env)
    if args.mode == "full":
        env.pop("MINILIB_FAST", None)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(src_dir), "--path-output", str(out)]
    command += ["--warningiserror", "--keep-going"] + (["--all"] if rebuild else [])
    how = f"from the notebooks in {executed}" if executed else "executing the chapters"
    print("build_book:", " ".join(command), f"(MINILIB_BOOK=1, mode {args.mode}, {how})", flush=True)
    result = subprocess.run(command, env=env, cwd=ROOT)
    if result.returncode != 0:
        print(f"build_book: jupyter-book failed (exit {result.returncode}); see the log above", file=sys.stderr)
        # The execution cache holds only chapters that ran to the end, so it stays valid; the half-written
        # pages do not, so the next build rewrites every page.
        stamp_path = out / "_build" / ".minilib-stamp.json"
        stamp_path.write_text(json.dumps(dict(json.loads(stamp_path.read_text()), site=None)))
        return result.returncode
    html_dir = out / "_build" / "html"
    check_outputs(executed_notebooks(out, src_dir, chapters))
    check_chapters(html_dir, chapters)
    check_offline(html_dir)
    seconds = time.perf_counter() - started
    (out / "_build" / "build-info.json").write_text(
        json.dumps({"mode": args.mode, "chapters": [p.stem for p in chapters], "seconds": round(seconds, 1),
                    "executed": str(executed) if executed else None})
    )
    print(f"build_book: {len(chapters)} chapter(s), {args.mode} mode, {seconds:.0f} s -> {html_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

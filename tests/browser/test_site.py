"""Every chapter page of the built site, in a real browser: figures drawn and interactive, math typeset,
solutions hidden until clicked, no code behind generated prose, nothing fetched from another host, no
errors. Run by `make browser`.

Tests for one page share one loaded tab (loading plotly.js and MathJax takes a second or two); the
request and error checks come last in this file so that they also cover what the interactions did.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from .figure_checks import FIGURE_LAYOUT_JS, PROSE_BLOCKS_JS, figure_problems
from .site import BOOK_DIR, NBS_DIR, SCREENSHOTS, SITE_DIR, book_pages, chapter_stems, is_external

pytestmark = pytest.mark.browser

CHAPTERS = chapter_stems()
OTHER_PAGES = book_pages()
# Chapter 0 is the tour of the kit, not a paper's phenomenon: it alone may have no plotly slider figure
# and cite no paper. Every phenomenon chapter cites its paper and has a slider explorer over sweeps.
TOUR_CHAPTERS = {"00_start_here"}

# Console messages of type "error" that are known and harmless, with the reason. Warnings and logs are
# never failures; they are printed when a test fails.
CONSOLE_ALLOW = [
    # (none yet: the site's own scripts log no errors)
]
WAIT_MS = 15_000


@dataclass
class LoadedPage:
    name: str
    page: object
    requests: list[str] = field(default_factory=list)
    console: list[tuple[str, str, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def describe(self) -> str:
        lines = [f"console: {t}: {text} ({where})" for t, text, where in self.console]
        return "\n".join(lines + [f"page error: {e}" for e in self.errors] + [f"failed: {f}" for f in self.failed])


@pytest.fixture(scope="session")
def pages(site_url, browser_context):
    """Loads each chapter page once, on first use, and keeps it open for that page's tests."""
    loaded: dict[str, LoadedPage] = {}

    def get(stem: str, folder: str = "chapters") -> LoadedPage:
        path = f"{folder}/{stem}.html" if folder else f"{stem}.html"
        if path in loaded:
            return loaded[path]
        html = SITE_DIR / path
        if not html.exists():
            source = f"nbs/{stem}.py" if folder == "chapters" else f"book/{stem}.md"
            pytest.fail(f"{source} has no page in the site ({html} missing): was the site built from it?")
        page = browser_context.new_page()
        lp = LoadedPage(stem, page)
        page.on("request", lambda r: lp.requests.append(r.url))
        page.on("console", lambda m: lp.console.append((m.type, m.text, m.location.get("url", ""))))
        page.on("pageerror", lambda e: lp.errors.append(f"{e}\n{(e.stack or '')[:800]}"))
        page.on("requestfailed", lambda r: lp.failed.append(f"{r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and lp.failed.append(f"{r.url} (HTTP {r.status})"))
        page.goto(f"{site_url}/{path}", wait_until="load")
        wait_until_settled(page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{stem}.png"), full_page=True)
        loaded[path] = lp
        return lp

    yield get
    for lp in loaded.values():
        lp.page.close()


def wait_until_settled(page) -> None:
    """Wait for MathJax's first typeset pass."""
    page.wait_for_function("() => !window.MathJax || (MathJax.startup && MathJax.startup.promise)", timeout=WAIT_MS)
    page.evaluate("() => window.MathJax && MathJax.startup.promise")


# ------------------------------------------------------------------------------------------ helpers
FIGURES_JS = "() => Array.from(document.querySelectorAll('.js-plotly-plot'))"


def hover_point(page):
    """Viewport coordinates of a data point of a hoverable scatter trace, or None when the page has none."""
    return page.evaluate(
        """() => {
        for (const gd of document.querySelectorAll('.js-plotly-plot')) {
          const fl = gd._fullLayout;
          if (!fl || fl.hovermode === false || !gd.calcdata) continue;
          for (let i = 0; i < gd._fullData.length; i++) {
            const tr = gd._fullData[i];
            if (tr.type !== 'scatter' || tr.visible !== true || tr.hoverinfo === 'skip') continue;
            const pts = gd.calcdata[i].filter(p => isFinite(p.x) && isFinite(p.y));
            if (pts.length === 0) continue;
            const p = pts[Math.floor(pts.length / 2)];
            const xa = fl[tr.xaxis.replace('x', 'xaxis')], ya = fl[tr.yaxis.replace('y', 'yaxis')];
            gd.scrollIntoView({block: 'center'});
            const box = gd.getBoundingClientRect();
            const px = box.left + xa._offset + xa.c2p(p.x), py = box.top + ya._offset + ya.c2p(p.y);
            if (px <= box.left || py <= box.top || px >= box.right || py >= box.bottom) continue;
            gd.setAttribute('data-test-target', 'hover');
            return {x: px, y: py};
          }
        }
        return null;
      }"""
    )


def zoom_target(page):
    """A figure whose x axis can be zoomed: its plot area in viewport coordinates and its x range."""
    return page.evaluate(
        """() => {
        for (const gd of document.querySelectorAll('.js-plotly-plot')) {
          const fl = gd._fullLayout;
          if (!fl || !fl.xaxis || fl.xaxis.fixedrange || fl.dragmode === false) continue;
          gd.scrollIntoView({block: 'center'});
          const box = gd.getBoundingClientRect(), xa = fl.xaxis, ya = fl.yaxis;
          document.querySelectorAll('[data-test-target=zoom]').forEach(e => e.removeAttribute('data-test-target'));
          gd.setAttribute('data-test-target', 'zoom');
          return {left: box.left + xa._offset, width: xa._length, top: box.top + ya._offset, height: ya._length,
                  range: xa.range.slice()};
        }
        return null;
      }"""
    )


def slider_state(page):
    """For the first figure with a plotly slider: which traces are visible, the active step, the rail box."""
    return page.evaluate(
        """() => {
        for (const gd of document.querySelectorAll('.js-plotly-plot')) {
          const fl = gd._fullLayout;
          if (!fl || !fl.sliders || fl.sliders.length === 0) continue;
          gd.scrollIntoView({block: 'center'});
          const rail = gd.querySelector('.slider-rail-rect');
          if (!rail) return {error: 'slider layout but no slider drawn'};
          const r = rail.getBoundingClientRect();
          const steps = fl.sliders[0].steps.length;
          return {visible: gd._fullData.map(t => String(t.visible)), active: fl.sliders[0].active,
                  steps: steps, rail: {left: r.left, width: r.width, y: r.top + r.height / 2}};
        }
        return null;
      }"""
    )


# -------------------------------------------------------------------------------------------- tests
def test_nbs_has_chapters():
    assert CHAPTERS, "no nbs/NN_name.py chapters found: the site test has nothing to check"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_plotly_figures_render(pages, stem):
    lp = pages(stem)
    drawn = lp.page.evaluate(f"() => ({FIGURES_JS})().map(gd => !!gd._fullLayout && !!gd.querySelector('.main-svg'))")
    assert drawn, f"{stem}: no plotly figure on the page\n{lp.describe()}"
    assert all(drawn), f"{stem}: {drawn.count(False)} of {len(drawn)} plotly figures were not drawn\n{lp.describe()}"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_no_raw_outputs(pages, stem):
    text = pages(stem).page.inner_text("main")
    for raw in ("application/vnd.plotly.v1+json", '"layout": {'):
        assert raw not in text, f"{stem}: raw output {raw!r} shown as text"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_hover_shows_a_tooltip(pages, stem):
    page = pages(stem).page
    point = hover_point(page)
    assert point, f"{stem}: no hoverable scatter point found in any figure"
    page.mouse.move(point["x"] - 40, point["y"] - 40)
    page.mouse.move(point["x"], point["y"], steps=5)
    # "x unified" hover mode draws one legend-like box instead of per-trace hovertext labels.
    tooltip = page.locator(
        "[data-test-target=hover] .hoverlayer .hovertext, [data-test-target=hover] .hoverlayer .legend"
    )
    tooltip.first.wait_for(state="attached", timeout=WAIT_MS)
    assert tooltip.count() > 0


@pytest.mark.parametrize("stem", CHAPTERS)
def test_drag_zoom_changes_the_x_range(pages, stem):
    page = pages(stem).page
    target = zoom_target(page)
    assert target, f"{stem}: no figure with a zoomable x axis"
    y = target["top"] + target["height"] / 2
    x0, x1 = target["left"] + 0.25 * target["width"], target["left"] + 0.6 * target["width"]
    page.mouse.move(x0, y)
    page.mouse.down()
    page.mouse.move(x1, y, steps=12)
    page.mouse.up()
    page.wait_for_function(
        "r => { const xa = document.querySelector('[data-test-target=zoom]')._fullLayout.xaxis;"
        " return xa.range[0] !== r[0] || xa.range[1] !== r[1]; }",
        arg=target["range"],
        timeout=WAIT_MS,
    )
    after = page.evaluate("() => document.querySelector('[data-test-target=zoom]')._fullLayout.xaxis.range")
    assert after[1] - after[0] < target["range"][1] - target["range"][0], (target["range"], after)


@pytest.mark.parametrize("stem", CHAPTERS)
def test_slider_switches_traces(pages, stem):
    page = pages(stem).page
    before = slider_state(page)
    if before is None:
        if stem in TOUR_CHAPTERS:
            pytest.skip(f"{stem} has no plotly slider figure; only chapter 0 may omit one")
        pytest.fail(f"{stem}: no figure with layout.sliders (each phenomenon chapter needs a slider explorer)")
    assert "error" not in before, before
    assert before["steps"] > 1, f"{stem}: the slider has {before['steps']} step(s)"
    # Click the far end of the rail (or the start, if the slider already sits at the end).
    end = before["active"] >= before["steps"] - 1
    rail = before["rail"]
    page.mouse.click(rail["left"] + (4 if end else rail["width"] - 4), rail["y"])
    page.wait_for_function(
        "a => { const gd = Array.from(document.querySelectorAll('.js-plotly-plot')).find("
        "g => g._fullLayout && g._fullLayout.sliders && g._fullLayout.sliders.length);"
        " return gd._fullLayout.sliders[0].active !== a; }",
        arg=before["active"],
        timeout=WAIT_MS,
    )
    after = slider_state(page)
    assert after["visible"] != before["visible"], f"{stem}: moving the slider did not switch traces"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_math_is_typeset(pages, stem):
    page = pages(stem).page
    typeset = page.locator("mjx-container").count()
    assert typeset > 0, f"{stem}: no MathJax output (mjx-container) on the page"
    raw = page.evaluate(
        "() => Array.from(document.querySelectorAll('.math')).filter(e => !e.querySelector('mjx-container'))"
        ".map(e => e.textContent.slice(0, 80))"
    )
    assert not raw, f"{stem}: math left as TeX source: {raw}"
    errors = page.locator("mjx-merror").count()
    assert errors == 0, f"{stem}: {errors} TeX error(s) in the math"


# Markdown the site failed to render, in the page's text outside code: a table's separator row, and TeX
# between dollar signs (rendered math is an mjx-container, which the text walk skips).
RAW_TABLE = re.compile(r"\|\s*:?-{3,}:?\s*\|")
RAW_TEX = re.compile(r"\$\$?[^$\s][^$]*?\$\$?")
RAW_ROLE = re.compile(r"\{(?:term|cite(?::[pt])?|ref|doc|eq|numref|math)\}`")


@pytest.mark.parametrize("stem", CHAPTERS)
def test_markdown_outputs_render(pages, stem):
    """Tables, math and roles in display(Markdown(...)) outputs render as in the chapter's own text (myst-nb's
    nb_render_markdown_format: myst): no '|---|' row, no $...$ and no {term}`...` left as text outside code
    blocks."""
    blocks = pages(stem).page.evaluate(PROSE_BLOCKS_JS)
    assert blocks, f"{stem}: no text found in <main>"
    tables = [b.strip()[:120] for b in blocks if RAW_TABLE.search(b)]
    tex = [m.group(0)[:80] for b in blocks for m in RAW_TEX.finditer(b)]
    roles = [b[m.start():m.start() + 60] for b in blocks for m in RAW_ROLE.finditer(b)]
    assert not tables, f"{stem}: {len(tables)} Markdown table(s) shown as raw text: {tables[:3]}"
    assert not tex, f"{stem}: {len(tex)} formula(s) shown as raw TeX: {tex[:5]}"
    assert not roles, f"{stem}: {len(roles)} MyST role(s) shown as raw text: {roles[:5]}"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_figures_are_legible(pages, stem):
    """No figure's plotting area is under half its width, no axis title is cut off, and log axes read in
    powers of ten."""
    page = pages(stem).page
    page.evaluate("() => window.scrollTo(0, 0)")
    figures = page.evaluate(FIGURE_LAYOUT_JS)
    assert figures, f"{stem}: no laid-out plotly figure on the page"
    problems = figure_problems(figures)
    assert not problems, f"{stem}: {len(problems)} illegible figure(s) of {len(figures)}:\n  " + "\n  ".join(problems)


# What a reader clicks to see a solution, and what stays hidden until then.
HIDDEN_UNTIL_CLICKED = [
    ("details.sd-dropdown", "summary", ".sd-summary-content"),  # :::{dropdown} Solution
    (".admonition.dropdown", ".admonition-title", ".admonition-title ~ *"),  # {admonition} with :class: dropdown
    ("details.hide", "summary", ".cell_input, .cell_output"),  # a code cell tagged hide-input (coded exercises)
]


@pytest.mark.parametrize("stem", CHAPTERS)
def test_solutions_open_when_clicked(pages, stem):
    page = pages(stem).page
    opened = 0
    for box_selector, handle, content in HIDDEN_UNTIL_CLICKED:
        boxes = page.locator(f"main {box_selector}")
        for i in range(boxes.count()):
            box = boxes.nth(i)
            body = box.locator(content).first
            assert body.count() == 1, f"{stem}: {box_selector} {i} has no {content} inside"
            assert not body.is_visible(), f"{stem}: {box_selector} {i} shows its content before being opened"
            box.locator(handle).first.click()
            body.wait_for(state="visible", timeout=WAIT_MS)
            assert body.inner_text().strip(), f"{stem}: {box_selector} {i} opened, but shows no text"
            opened += 1
    if opened == 0:
        pytest.skip(f"{stem} has no solution dropdowns or hidden code cells")


def remove_input_sources(stem: str) -> list[str]:
    """The code of the chapter's cells tagged remove-input."""
    import jupytext

    notebook = jupytext.read(NBS_DIR / f"{stem}.py", fmt="py:percent")
    return [c.source.strip() for c in notebook.cells
            if c.cell_type == "code" and "remove-input" in c.metadata.get("tags", [])]


@pytest.mark.parametrize("stem", CHAPTERS)
def test_generated_prose_shows_no_code(pages, stem):
    """A cell that only builds a sentence from measured numbers shows the sentence, not its f-strings."""
    shown = pages(stem).page.locator("main .cell_input").all_text_contents()
    assert shown, f"{stem}: no code cell on the page (has myst-nb's markup changed? .cell_input not found)"
    prose_code = [code.strip().splitlines()[0] for code in shown if "display(Markdown(" in code]
    assert not prose_code, (
        f"{stem}: code that displays Markdown is on the page; tag its cell remove-input "
        f"(`# %% tags=[\"remove-input\"]`): cells starting {prose_code}"
    )
    for source in remove_input_sources(stem):
        assert not any(source in code for code in shown), (
            f"{stem}: a cell tagged remove-input still shows its code: {source.splitlines()[0]!r}"
        )


# The checks below read what every test above recorded on the page, so they stay at the end of the file.
@pytest.mark.parametrize("stem", CHAPTERS)
def test_no_request_leaves_localhost(pages, stem, browser_context):
    lp = pages(stem)
    external = [u for u in lp.requests if is_external(u)]
    assert not external, f"{stem}: requests to other hosts: {external}"
    hosts = {urlsplit(u).hostname for u in browser_context.external_requests}
    assert not hosts, f"blocked requests to {sorted(hosts)} from the site: {browser_context.external_requests[:5]}"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_no_errors_in_the_page(pages, stem):
    lp = pages(stem)
    errors = [
        (text, where)
        for kind, text, where in lp.console
        if kind == "error" and not any(re.search(pattern, text) for pattern, _why in CONSOLE_ALLOW)
    ]
    assert not lp.errors and not errors and not lp.failed, f"{stem}:\n{lp.describe()}"


# --------------------------------------------------------------------------------- the other pages
@pytest.mark.parametrize("stem", OTHER_PAGES)
def test_book_page_is_clean(pages, browser_context, stem):
    lp = pages(stem, folder="")
    external = [u for u in lp.requests if is_external(u)]
    assert not external, f"{stem}: requests to other hosts: {external}"
    errors = [t for kind, t, _ in lp.console if kind == "error"]
    assert not lp.errors and not errors and not lp.failed, f"{stem}:\n{lp.describe()}"
    raw = lp.page.evaluate(
        "() => Array.from(document.querySelectorAll('.math')).filter(e => !e.querySelector('mjx-container')).length"
    )
    assert raw == 0, f"{stem}: {raw} formula(s) left as TeX source"


def test_bibliography_lists_every_reference(pages):
    entries = re.findall(r"^@\w+\{", (BOOK_DIR / "references.bib").read_text(), flags=re.M)
    shown = pages("bibliography", folder="").page.locator("div.citation").count()
    assert shown == len(entries), f"references.bib has {len(entries)} entries, the bibliography page shows {shown}"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_citations_link_to_the_bibliography(pages, stem):
    page = pages(stem).page
    cited = page.locator("main a[href*='bibliography.html#']")
    if cited.count() == 0:
        if stem in TOUR_CHAPTERS:
            pytest.skip(f"{stem} cites no paper; only chapter 0 may do without")
        pytest.fail(f"{stem}: no citation ({{cite:p}}`key`) on the page; a chapter cites the paper it reproduces")
    href = cited.first.get_attribute("href")
    anchor = href.split("#", 1)[1]
    target = pages("bibliography", folder="").page.locator(f"[id='{anchor}']")
    assert target.count() == 1, f"{stem}: citation link {href} points to no bibliography entry"

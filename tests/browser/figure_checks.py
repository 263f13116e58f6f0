"""What the browser test measures on a page's text and figures (JavaScript run in the page, and the verdicts).

Kept apart from test_site.py so that the same measurement can be run on figures outside the site.
"""

from __future__ import annotations

import re

# The plotting area must be at least this share of its figure's width: a legend on the right with long
# trace names squeezed some figures to a third.
MIN_PLOT_SHARE = 0.5
# A title may stick out of its figure by this much (px) before it counts as cut off: anti-aliasing.
CUT_SLACK_PX = 1.5

# Per drawn plotly figure: its title, width, the plotting area's width, every axis title's box relative
# to the figure's own box, and the tick labels of its log axes. Figures not laid out (inside a closed
# dropdown) are skipped.
FIGURE_LAYOUT_JS = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).flatMap((gd, index) => {
  const fl = gd._fullLayout, svg = gd.querySelector('.main-svg');
  if (!fl || !svg || gd.offsetParent === null) return [];
  const box = svg.getBoundingClientRect();
  if (box.width === 0 || box.height === 0) return [];
  const titles = Array.from(gd.querySelectorAll('.infolayer text'))
    .filter(t => /^[xy][0-9]*title$/.test(t.getAttribute('class') || '') && t.textContent.trim())
    .map(t => { const r = t.getBoundingClientRect();
                return {axis: t.getAttribute('class'), text: t.textContent.slice(0, 60),
                        left: r.left - box.left, right: box.right - r.right,
                        top: r.top - box.top, bottom: box.bottom - r.bottom}; });
  const logTicks = Object.keys(fl).filter(k => /^[xy]axis[0-9]*$/.test(k) && fl[k] && fl[k].type === 'log')
    .map(k => ({axis: k, ticks: (fl[k]._vals || []).map(v => String(v.text || ''))}));
  return [{index: index, title: (fl.title && fl.title.text || '').slice(0, 70), width: box.width,
           plot_width: fl._size.w, titles: titles, log_ticks: logTicks}];
})"""


# A tick label written with an SI prefix ("100μ", "10m", "2k"): plotly's default on a log axis, where a
# reader expects powers of ten (exponentformat "power": 10⁻⁴).
SI_TICK = re.compile(r"^[−-]?[0-9.]+\s*[yzafpnμumkMGTPEZY]$")


def figure_problems(figures: list[dict]) -> list[str]:
    """The figures whose plotting area is squeezed, whose axis title is cut off, or whose log axis writes
    its ticks with SI prefixes, described."""
    problems = []
    for f in figures:
        name = f"figure {f['index'] + 1} ({f['title'] or 'untitled'!r})"
        share = f["plot_width"] / f["width"]
        if share < MIN_PLOT_SHARE:
            problems.append(f"{name}: its plotting area is {share:.0%} of its width ({f['plot_width']:.0f} of "
                            f"{f['width']:.0f} px; at least {MIN_PLOT_SHARE:.0%}): put the legend below the plot "
                            "or inside it, and shorten trace names")
        for t in f["titles"]:
            out = {side: -t[side] for side in ("left", "right", "top", "bottom") if t[side] < -CUT_SLACK_PX}
            if out:
                sides = ", ".join(f"{px:.0f} px past the {side}" for side, px in out.items())
                problems.append(f"{name}: its {t['axis']} {t['text']!r} is cut off ({sides})")
        for axis in f.get("log_ticks", []):
            si = [tick for tick in axis["ticks"] if SI_TICK.match(tick.strip())]
            if si:
                problems.append(f"{name}: its log {axis['axis']} writes ticks as {si[:4]}: set "
                                "exponentformat='power' (plots.legible(fig) does) for powers of ten")
    return problems


# Text of the page outside code, figures and typeset math, one entry per block element (so that a
# formula split by emphasis is still one string).
PROSE_BLOCKS_JS = """() => {
  const skip = 'pre, code, .highlight, .cell_input, .js-plotly-plot, mjx-container, script, style, .math';
  const blocks = new Map();
  const walker = document.createTreeWalker(document.querySelector('main') || document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(skip)) continue;
    const block = parent.closest('p, li, td, th, dt, dd, h1, h2, h3, h4, h5, h6, blockquote, div') || parent;
    blocks.set(block, (blocks.get(block) || '') + node.textContent);
  }
  return Array.from(blocks.values()).filter(t => t.trim());
}"""

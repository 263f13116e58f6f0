// The page side of minilib.livefigure.LiveFigure, an anywidget ES module. The kernel sends `spec` (the figure
// without its x and y arrays), `columns` (those arrays as float64 bytes, keyed "<trace>.x" / ".y") and a new
// `version` with every change; the page draws it with Plotly.react and answers {drawn: version}.
function plotly(model) {
  // One plotly.js per page, from the copy the kernel sent (the book works offline: no CDN). A figure that
  // replaces a stuck one comes without the copy: its page has loaded plotly.js already.
  if (!globalThis.__minilibPlotly) {
    const source = model.get("_plotly_js");
    if (!source) return Promise.resolve(globalThis.Plotly);
    globalThis.__minilibPlotly = new Promise((resolve) => setTimeout(() => {
      const module = { exports: {} };
      new Function("module", "exports", source)(module, module.exports);
      resolve(module.exports);
    }, 0));
  }
  return globalThis.__minilibPlotly;
}

function figure(model) {
  const spec = model.get("spec"), columns = model.get("columns") || {};
  const array = (v) => v instanceof DataView
    ? new Float64Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength)) : v;
  const data = (spec.data || []).map((trace, i) => {
    const t = { ...trace };
    for (const k of ["x", "y"]) if (columns[`${i}.${k}`] !== undefined) t[k] = array(columns[`${i}.${k}`]);
    return t;
  });
  return { data, layout: { ...(spec.layout || {}) } };
}

export default {
  async render({ model, el }) {
    const Plotly = await plotly(model);
    let busy = false, again = false, gone = false;
    const draw = async () => {
      if (busy) { again = true; return; }  // redraw once the current one is done, with the newest data
      busy = true;
      try {
        do {
          again = false;
          const version = model.get("version"), { data, layout } = figure(model);
          if (gone) break;
          try {
            await Plotly.react(el, data, layout, { responsive: true, displaylogo: false });
          } finally {
            model.send({ drawn: version });  // the kernel sends the next live update only after this
          }
        } while (again && !gone);
      } finally { busy = false; }
    };
    model.on("change:version", draw);  // every change the kernel sends comes with a new version
    // Lab lays the cell out after the first draw: follow the width the output area gets.
    const resized = new ResizeObserver(() => { if (!gone && el.layout) Plotly.Plots.resize(el); });
    resized.observe(el);
    await draw();
    return () => {
      gone = true;
      resized.disconnect();
      model.off("change:version", draw);
      Plotly.purge(el);
    };
  },
};

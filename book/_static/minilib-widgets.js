// The ipywidgets HTML manager (vendor/embed-amd.js) is a set of named AMD modules; require.js gives each
// the address <baseUrl>/<module name>.js, and each module loads its icon fonts relative to that address.
// The default baseUrl is the page's folder, where those files do not exist, so every module's folder is
// pointed at our copy in _static/vendor (the fonts are copied there by book/scripts/build_book.py).
// The modules themselves are defined inside embed-amd.js, so these addresses are never fetched.
(function () {
  var staticDir = document.currentScript.src.replace(/[^/]*$/, "");
  var vendor = staticDir + "vendor/";
  var paths = { "@jupyter-widgets/html-manager/dist": vendor.slice(0, -1) };
  ["html-manager", "base", "base7", "controls", "controls7", "output"].forEach(function (name) {
    paths["@jupyter-widgets/" + name] = vendor + name;
  });
  window.require.config({ paths: paths });
  // Widgets from other packages (anywidget, bqplot...) would be fetched from cdn.jsdelivr.net. The site
  // must not leave its host, so the manager's "CDN" is a local folder that does not exist: such a widget
  // shows a 404 in the console (the browser test reports it) instead of a request to the internet.
  // build_book.py refuses to build pages whose stored widget state needs such a module in the first place.
  document.currentScript.setAttribute("data-jupyter-widgets-cdn", staticDir + "vendor/no-widget-cdn/");
  document.currentScript.setAttribute("data-jupyter-widgets-cdn-only", "");
})();

// Widget labels are typeset through the MathJax 2 API (MathJax.Hub.Queue); the site runs MathJax 3, so
// without this bridge every labelled widget throws. MathJax is loaded with `defer`, so it is in place by
// DOMContentLoaded, and the widget manager renders later, on the window's load event.
document.addEventListener("DOMContentLoaded", function () {
  var mj = window.MathJax;
  if (!mj || mj.Hub || !mj.startup) return;
  mj.Hub = {
    Queue: function (job) {
      var element = Array.isArray(job) ? job[2] : null;
      if (element) mj.startup.promise.then(function () { return mj.typesetPromise([element]); });
    },
  };
});

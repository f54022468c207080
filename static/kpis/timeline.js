/* The review's timeline: a tap (touch) or a hover (mouse) on a bar writes its details in the
 * timeline's panel, a live region. Delegated from the document, so timelines swapped in
 * later work too. No dependencies. */
(function () {
  "use strict";

  var BAR = "[data-kpis-timeline] [data-state]";
  var selected = null;

  function barOf(target) {
    return target && target.closest ? target.closest(BAR) : null;
  }

  // Pooled stretches (one path per state) have no times of their own: the time under the
  // pointer, in the plant's time zone.
  function around(root, bar, event) {
    var svg = bar.ownerSVGElement;
    var box = svg && svg.getBoundingClientRect();
    if (!box || !box.width || event.clientX === undefined) return "";
    var t0 = Number(svg.dataset.t0), t1 = Number(svg.dataset.t1);
    var at = t0 + (t1 - t0) * Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
    var when;
    try {
      when = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
        timeZone: root.dataset.tz, dateStyle: "short", timeStyle: "short"
      }).format(new Date(at));
    } catch (e) {
      when = new Date(at).toLocaleString();
    }
    return (root.dataset.around || "%(time)s").replace("%(time)s", when);
  }

  // The state's bucket of the norm, named by the legend (bars carry no more bytes for it).
  function bucketOf(root, state) {
    var items = root.querySelectorAll("[data-legend]");
    for (var i = 0; i < items.length; i++) {
      if (items[i].dataset.legend === state && items[i].dataset.bucket) return " · " + items[i].dataset.bucket;
    }
    return "";
  }

  function show(bar, event) {
    var root = bar.closest("[data-kpis-timeline]");
    var panel = root && root.querySelector("[data-kpis-panel]");
    if (!panel) return;
    var d = bar.dataset;
    var text = d.state + bucketOf(root, d.state) + "\n";
    if (d.pooled) text += around(root, bar, event);
    else text += d.start + " – " + d.end + " (" + d.duration + ")";
    if (d.comment) text += "\n" + d.comment;
    if (panel.textContent !== text) panel.textContent = text;
    if (selected && selected !== bar) selected.classList.remove("is-selected");
    bar.classList.add("is-selected");
    selected = bar;
  }

  // A tap on a touch screen, or a click.
  document.addEventListener("click", function (event) {
    var bar = barOf(event.target);
    if (bar) show(bar, event);
  });

  // Hovering with a mouse or a pen (touch has no hover; it gets the click above).
  document.addEventListener("pointerover", function (event) {
    if (event.pointerType === "touch") return;
    var bar = barOf(event.target);
    if (bar) show(bar, event);
  });
})();

/* Process diagram for staff: loads the BPMN XML and the highlighted elements from a same-origin
   JSON endpoint and shows them with the vendored bpmn-js NavigatedViewer (no inline script).
   Until the diagram is drawn the box keeps its text (the page's words for "needs JavaScript",
   "loading", "not available"), so it is never an empty box; only a drawn diagram makes it a
   labelled group, and the links to the steps in words then follow it. Done steps carry a check mark and current ones a thick dashed frame, besides
   their colour (WCAG 1.4.1); the legend under the box shows the same. The canvas, a tab stop of
   bpmn-js, is named like the box and described by the hint to its keys (Ctrl and the arrow keys). */
(function () {
  "use strict";
  var COMPLETED = "is-completed";
  var CURRENT = "is-current";

  function checkMark() {
    var badge = document.createElement("span");
    badge.className = "process-badge";
    badge.setAttribute("aria-hidden", "true");
    return badge;
  }

  function show(box, viewer, data) {
    var canvas = viewer.get("canvas");
    var registry = viewer.get("elementRegistry");
    var overlays = viewer.get("overlays");
    var current = (data.current || []).filter(function (id) { return registry.get(id); });
    // A step that runs again (a proof checked a second time) is current, not done.
    var completed = (data.completed || []).filter(function (id) { return registry.get(id) && current.indexOf(id) < 0; });
    completed.forEach(function (id) {
      canvas.addMarker(id, COMPLETED);
      // At least its own size when the diagram is zoomed out to fit, so the mark stays legible.
      overlays.add(id, "process-state", { position: { top: -9, right: 9 }, scale: { min: 1 }, html: checkMark() });
    });
    current.forEach(function (id) { canvas.addMarker(id, CURRENT); });
    // The way to the steps in words stays, under the drawn diagram (only its "why no diagram" goes).
    var fallback = box.querySelector(".process-diagram__fallback");
    if (fallback) {
      var reason = fallback.querySelector(".process-diagram__reason");
      if (reason) { reason.hidden = true; }
      box.parentNode.insertBefore(fallback, box.nextSibling);
    }
    box.textContent = "";
    box.classList.add("process-diagram--drawn");
    viewer.attachTo(box);
    canvas.zoom("fit-viewport");
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", box.getAttribute("data-label"));
    var legend = document.getElementById("process-legend");
    if (legend) { legend.hidden = false; }
    // bpmn-js makes the canvas a tab stop: it gets the diagram's name and the hint to its keys.
    var svg = box.querySelector(".djs-container > svg");
    var keys = document.getElementById("process-keys");
    if (svg) {
      svg.setAttribute("aria-label", box.getAttribute("data-label"));
      if (keys) { keys.hidden = false; svg.setAttribute("aria-describedby", keys.id); }
    }
  }

  function init() {
    var box = document.getElementById("process-diagram");
    if (!box) { return; }
    var fallback = box.querySelector(".process-diagram__fallback");
    var reason = box.querySelector(".process-diagram__reason");
    var viewer = null;
    function say(attribute) { if (reason) { reason.textContent = box.getAttribute(attribute); } }
    function fail() {
      if (viewer) { viewer.destroy(); }
      box.classList.remove("process-diagram--drawn");
      box.removeAttribute("role");
      box.removeAttribute("aria-label");
      if (fallback && fallback.parentNode !== box) { box.appendChild(fallback); }
      if (reason) { reason.hidden = false; }
      say("data-error");
    }
    if (!window.BpmnJS) { fail(); return; }
    say("data-loading");
    fetch(box.getAttribute("data-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        // Drawn off the page first: the box keeps its text until the diagram is complete.
        viewer = new window.BpmnJS();
        return viewer.importXML(data.xml).then(function () { show(box, viewer, data); });
      })
      .catch(fail);
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();

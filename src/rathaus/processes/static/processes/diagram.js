/* Process diagram for staff: loads the BPMN XML and the highlighted elements from a same-origin
   JSON endpoint and shows them with the vendored bpmn-js NavigatedViewer (no inline script). */
(function () {
  "use strict";
  function init() {
    var box = document.getElementById("process-diagram");
    if (!box || !window.BpmnJS) { return; }
    fetch(box.getAttribute("data-url"), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        var viewer = new window.BpmnJS({ container: box });
        return viewer.importXML(data.xml).then(function () {
          var canvas = viewer.get("canvas");
          var registry = viewer.get("elementRegistry");
          function mark(ids, cls) {
            ids.forEach(function (id) { if (registry.get(id)) { canvas.addMarker(id, cls); } });
          }
          mark(data.completed || [], "is-completed");
          mark(data.current || [], "is-current");
          canvas.zoom("fit-viewport");
        });
      })
      .catch(function () { box.textContent = box.getAttribute("data-error") || "Diagramm nicht verfügbar."; });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();

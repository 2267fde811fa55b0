// Map of directory offers: progressive enhancement over the result list.
// Loaded (with Leaflet) only on pages that have a #offer-map element. Without JavaScript, or if
// Leaflet or the tiles fail, the list stays the complete page. Strict CSP: no inline code or
// style attributes in markup; coordinates come from data- attributes on the list items.
(function () {
  "use strict";

  function init() {
    var container = document.getElementById("offer-map");
    if (!container || typeof window.L === "undefined") return;
    var list = document.getElementById(container.getAttribute("data-markers") || "offer-list");
    if (!list) return;

    var points = [];
    list.querySelectorAll("[data-lat][data-lon]").forEach(function (item) {
      var lat = parseFloat(item.getAttribute("data-lat"));
      var lon = parseFloat(item.getAttribute("data-lon"));
      if (isFinite(lat) && isFinite(lon)) {
        points.push({ lat: lat, lon: lon, title: item.getAttribute("data-title") || "", url: item.getAttribute("data-url") || "" });
      }
    });
    if (!points.length) return;

    // Setting the size through the CSSOM is allowed by a strict style-src (unlike style="…").
    container.hidden = false;
    container.style.height = "24rem";
    container.style.marginBottom = "1rem";
    var hint = document.getElementById("map-hint");
    if (hint) hint.hidden = false;

    var map = window.L.map(container, { scrollWheelZoom: false });
    window.L.tileLayer(container.getAttribute("data-tile-url"), {
      maxZoom: 19,
      attribution: container.getAttribute("data-attribution") || ""
    }).addTo(map);

    var bounds = [];
    points.forEach(function (p) {
      // Markers are keyboard-focusable; their title is the accessible name.
      var marker = window.L.marker([p.lat, p.lon], { title: p.title, alt: p.title, keyboard: true }).addTo(map);
      var popup = document.createElement("a");
      popup.href = p.url;
      popup.textContent = p.title;
      marker.bindPopup(popup);
      bounds.push([p.lat, p.lon]);
    });
    if (bounds.length === 1) {
      map.setView(bounds[0], 15);
    } else {
      map.fitBounds(bounds, { padding: [24, 24], maxZoom: 16 });
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

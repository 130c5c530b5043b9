// The call-taker's intake screen, made quicker: a choice of city, language or service redraws
// the screen at once (the same POST as its "Update" button), a click on the map places the
// caller's point, and the open requests of the service near it are fetched and marked as
// soon as the point or the service changes. Without this script the buttons do the same.
(function () {
  "use strict";

  var form = document.getElementById("intake-form");
  if (!form) { return; }
  var refresh = form.querySelector("[data-refresh-button]");
  var lat = document.getElementById("f-lat");
  var long = document.getElementById("f-long");
  var service = document.getElementById("f-service_code");
  var panel = document.getElementById("duplicates");
  var holder = document.getElementById("intake-map");

  // One send at a time: a double click on "File the request" must not file twice. The
  // guard lifts after a while in case the answer never came (the page stays as it was).
  var sending = false;
  form.addEventListener("submit", function (event) {
    if (sending) { event.preventDefault(); return; }
    sending = true;
    window.setTimeout(function () { sending = false; }, 8000);
  });
  window.addEventListener("pageshow", function () { sending = false; });  // back to this page

  form.querySelectorAll("select[data-refresh]").forEach(function (select) {
    select.addEventListener("change", function () {
      // Another city has another catalogue: its services are chosen afresh.
      if (select.name === "jurisdiction_id") { service.value = ""; }
      if (form.requestSubmit) { form.requestSubmit(refresh); } else { refresh.click(); }
    });
  });

  function point() {
    var y = parseFloat(lat.value), x = parseFloat(long.value);
    if (!isFinite(y) || !isFinite(x) || Math.abs(y) > 90 || Math.abs(x) > 180) { return null; }
    return [x, y];
  }

  var map = null, caller = null, nearbyMarkers = [];

  function drawNearby() {
    nearbyMarkers.forEach(function (marker) { marker.remove(); });
    nearbyMarkers = [];
    if (!map) { return; }
    panel.querySelectorAll("li.nearby").forEach(function (item, index) {
      var y = parseFloat(item.dataset.lat), x = parseFloat(item.dataset.long);
      if (!isFinite(y) || !isFinite(x)) { return; }
      var element = document.createElement("div");
      element.className = "map-marker nearby";
      element.textContent = String(index + 1);
      // The marker's name starts with its visible number, then says which request it is.
      element.setAttribute("aria-label", String(index + 1) + " · " + item.dataset.id);
      nearbyMarkers.push(new maplibregl.Marker({ element: element }).setLngLat([x, y]).addTo(map));
    });
  }

  var pending = null;
  function refreshDuplicates() {
    var at = point();
    if (!at || !service.value) { return; }
    var query = new URLSearchParams({
      jurisdiction_id: form.elements.jurisdiction_id.value,
      service_code: service.value,
      lat: at[1].toFixed(6),
      long: at[0].toFixed(6)
    });
    if (pending) { pending.abort(); }
    pending = new AbortController();
    fetch(holder.dataset.duplicatesUrl + "?" + query.toString(), {
      credentials: "same-origin", signal: pending.signal
    }).then(function (response) {
      if (!response.ok) { throw new Error("duplicates: " + response.status); }
      return response.text();
    }).then(function (html) {
      panel.innerHTML = html;  // our own page's partial, escaped by its template
      drawNearby();
    }).catch(function (error) {
      if (error.name !== "AbortError") { console.warn(error.message); }
    });
  }

  function placeCaller(at, recentre) {
    if (!map) { return; }
    if (!caller) {
      var element = document.createElement("div");
      element.className = "map-marker caller";
      element.setAttribute("aria-label", holder.dataset.callerLabel);
      caller = new maplibregl.Marker({ element: element, draggable: true }).setLngLat(at).addTo(map);
      caller.on("dragend", function () {
        var moved = caller.getLngLat();
        setPoint([moved.lng, moved.lat]);
      });
    } else {
      caller.setLngLat(at);
    }
    if (recentre) { map.jumpTo({ center: at, zoom: Math.max(map.getZoom(), 16) }); }
  }

  function setPoint(at) {
    lat.value = at[1].toFixed(6);
    long.value = at[0].toFixed(6);
    placeCaller(at, false);
    refreshDuplicates();
  }

  [lat, long].forEach(function (input) {
    input.addEventListener("change", function () {
      var at = point();
      if (at) { placeCaller(at, true); refreshDuplicates(); }
    });
  });

  if (!holder || !window.maplibregl) { return; }
  maplibregl.setWorkerUrl(holder.dataset.worker);
  var style = {
    version: 8,
    sources: {},
    layers: [{ id: "background", type: "background", paint: { "background-color": "#e8ecef" } }]
  };
  if (holder.dataset.basemap) {
    style.sources.basemap = {
      type: "raster", tiles: [holder.dataset.basemap], tileSize: 256,
      attribution: holder.dataset.attribution || ""
    };
    style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  var options = { container: holder, style: style, center: [0, 0], zoom: 1 };
  var bounds = (holder.dataset.bounds || "").split(",").map(parseFloat);
  if (bounds.length === 4 && bounds.every(isFinite)) {
    options.bounds = [[bounds[0], bounds[1]], [bounds[2], bounds[3]]];
  }
  map = new maplibregl.Map(options);
  if (holder.dataset.area) {
    map.on("load", function () {
      map.addSource("area", { type: "geojson", data: JSON.parse(holder.dataset.area) });
      map.addLayer({ id: "area-fill", type: "fill", source: "area", paint: { "fill-color": "#ffffff", "fill-opacity": 0.6 } });
      map.addLayer({ id: "area-line", type: "line", source: "area", paint: { "line-color": "#0b5cad", "line-width": 1.5 } });
    });
  }
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
  map.addControl(new maplibregl.ScaleControl());
  holder.classList.add("picking");
  map.on("click", function (event) { setPoint([event.lngLat.lng, event.lngLat.lat]); });
  var start = point();
  if (start) { placeCaller(start, true); }
  drawNearby();
})();

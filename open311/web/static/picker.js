// Maps of the filing form and of a request's page, MapLibre's CSP build, no basemap needed
// (a plain background, the city's districts from /tiles, the configured raster basemap if any).
//
// The form's picker (#picker): a click, or the "centre" button for keyboards, places the point
// and fills the form's hidden lat/long fields. Without JavaScript the map stays hidden and the
// address field is the way to say where; everything else of the form works the same.
// A request's page (#request-map): its point, on a map that only pans and zooms.
(function () {
  "use strict";

  if (typeof maplibregl === "undefined") {
    return;
  }

  function makeMap(element, center) {
    maplibregl.setWorkerUrl(element.dataset.worker);
    const style = { version: 8, sources: {}, layers: [
      { id: "background", type: "background", paint: { "background-color": "#e8ecef" } },
    ] };
    const basemap = element.dataset.basemap;
    if (basemap) {
      style.sources.basemap = {
        type: "raster", tiles: [basemap], tileSize: 256,
        attribution: element.dataset.basemapAttribution || "",
      };
      style.layers.push({ id: "basemap", type: "raster", source: "basemap" });
    }
    const districts = element.dataset.districts;
    if (districts) {
      // On this page's origin, its {z}/{x}/{y} kept as they are (URL() would escape them).
      style.sources.districts = {
        type: "vector", tiles: [window.location.origin + districts], minzoom: 0, maxzoom: 14,
      };
      style.layers.push({
        id: "district-line", type: "line", source: "districts", "source-layer": "districts",
        paint: { "line-color": "#55657a", "line-width": 1 },
      });
    }
    const options = {
      container: element, style: style, attributionControl: basemap ? { compact: true } : false,
    };
    const extent = (element.dataset.extent || "").split(",").map(Number);
    if (center) {
      options.center = center;
      options.zoom = 12;
    } else if (extent.length === 4 && extent.every(Number.isFinite)) {
      options.bounds = [[extent[0], extent[1]], [extent[2], extent[3]]];
      options.fitBoundsOptions = { padding: 20 };
    } else {
      options.center = [0, 20];
      options.zoom = 1;
    }
    const map = new maplibregl.Map(options);
    map.addControl(new maplibregl.NavigationControl({ showCompass: false }));
    return map;
  }

  function marker(lngLat, map) {
    return new maplibregl.Marker({ color: "#b3261e" }).setLngLat(lngLat).addTo(map);
  }

  function picker() {
    const box = document.getElementById("picker-box");
    const element = document.getElementById("picker");
    const lat = document.getElementById("lat");
    const long = document.getElementById("long");
    if (!box || !element || !lat || !long) {
      return;
    }
    box.hidden = false;
    const map = makeMap(element, null);
    const status = document.getElementById("picker-status");
    const saying = element.dataset.placed || "{lat}, {long}";
    let placed = null;

    function place(lngLat) {
      const latText = lngLat.lat.toFixed(6);
      const longText = lngLat.lng.toFixed(6);
      lat.value = latText;
      long.value = longText;
      if (placed === null) {
        placed = marker(lngLat, map);
      } else {
        placed.setLngLat(lngLat);
      }
      if (status) {
        status.textContent = saying.replace("{lat}", latText).replace("{long}", longText);
      }
    }

    function clear() {
      lat.value = "";
      long.value = "";
      if (placed !== null) {
        placed.remove();
        placed = null;
      }
      if (status) {
        status.textContent = "";
      }
    }

    map.on("click", function (event) { place(event.lngLat); });
    const centre = document.getElementById("picker-centre");
    if (centre) {
      centre.addEventListener("click", function () { place(map.getCenter()); });
    }
    const remove = document.getElementById("picker-clear");
    if (remove) {
      remove.addEventListener("click", clear);
    }
    // A refused form comes back with the point it had: show it again.
    if (lat.value && long.value) {
      map.once("load", function () {
        const kept = { lng: Number(long.value), lat: Number(lat.value) };
        place(kept);
        map.setCenter(kept);
      });
    }
  }

  function requestMap() {
    const element = document.getElementById("request-map");
    if (!element) {
      return;
    }
    const point = (element.dataset.point || "").split(",").map(Number);
    if (point.length !== 2 || !point.every(Number.isFinite)) {
      return;
    }
    element.hidden = false;
    const map = makeMap(element, point);
    marker(point, map);
  }

  picker();
  requestMap();
})();

/* The map at /: MapLibre GL (the CSP build, its worker a file of ours) over the vector tiles
   of /tiles. The style is built here: a plain background, an optional raster basemap
   (OPEN311_BASEMAP_URL), the districts, and the requests coloured by status (at low zooms grid cells
   sized by their count, coloured by their share of open requests). The filter form works without this script; with it, a
   change of a filter redraws the requests at once. A click on a request opens its page; on a
   cell, zooms in. The map object is element.map (the browser tests read it). */
(function () {
  "use strict";

  var element = document.getElementById("map");
  if (!element || !window.maplibregl) {
    return;
  }
  var data = element.dataset;
  var form = document.getElementById("map-filters");
  var OPEN = "#c2410c";
  var CLOSED = "#1d6b35";
  var MIXED = "#7a5a12";

  maplibregl.setWorkerUrl(data.workerUrl);

  /* The tiles' query: the form's filters as the API reads them (a day's first and last
     second, in the city's time), and the city. */
  function filterQuery() {
    var query = new URLSearchParams();
    query.set("jurisdiction_id", data.jurisdiction);
    if (form) {
      var fields = new FormData(form);
      var status = fields.get("status");
      var service = fields.get("service_code");
      var from = fields.get("start_date");
      var until = fields.get("end_date");
      if (status) { query.set("status", status); }
      if (service) { query.set("service_code", service); }
      if (from) { query.set("start_date", from + "T00:00:00"); }
      if (until) { query.set("end_date", until + "T23:59:59"); }
    }
    return query.toString();
  }

  /* An absolute URL whose {z}/{x}/{y} stay as they are (URL() would escape the braces). */
  function absolute(path) {
    return window.location.origin + path;
  }

  function requestTiles() {
    return absolute(data.requestsTiles) + "?" + filterQuery();
  }

  var sources = {
    requests: { type: "vector", tiles: [requestTiles()], minzoom: 0, maxzoom: 16 }
  };
  var layers = [
    { id: "background", type: "background", paint: { "background-color": "#eef1f4" } }
  ];
  if (data.basemapUrl) {
    sources.basemap = {
      type: "raster",
      tiles: [data.basemapUrl],
      tileSize: 256,
      attribution: data.basemapAttribution || ""
    };
    layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }
  if (data.districtsTiles) {
    sources.districts = {
      type: "vector", tiles: [absolute(data.districtsTiles)], minzoom: 0, maxzoom: 14
    };
    layers.push({
      id: "district-fill", type: "fill", source: "districts", "source-layer": "districts",
      paint: { "fill-color": "#0b5cad", "fill-opacity": data.basemapUrl ? 0.03 : 0.06 }
    });
    layers.push({
      id: "district-line", type: "line", source: "districts", "source-layer": "districts",
      paint: { "line-color": "#55657a", "line-width": ["interpolate", ["linear"], ["zoom"], 8, 0.6, 14, 1.8] }
    });
  }
  var statusColour = ["match", ["get", "status"], "open", OPEN, CLOSED];
  layers.push({
    id: "request-cells", type: "circle", source: "requests", "source-layer": "requests",
    filter: ["has", "count"],
    paint: {
      // From green (all closed) to orange (all open), by the share of open requests.
      "circle-color": ["interpolate", ["linear"], ["/", ["get", "open"], ["get", "count"]],
        0, CLOSED, 0.5, MIXED, 1, OPEN],
      "circle-opacity": 0.75,
      "circle-radius": ["interpolate", ["linear"], ["sqrt", ["get", "count"]], 1, 3, 10, 9, 40, 18, 120, 26],
      "circle-stroke-color": "#ffffff",
      "circle-stroke-width": 0.8
    }
  });
  layers.push({
    id: "request-points", type: "circle", source: "requests", "source-layer": "requests",
    filter: ["!", ["has", "count"]],
    paint: {
      "circle-color": statusColour,
      "circle-radius": ["interpolate", ["linear"], ["zoom"], 10, 3, 14, 4.5, 18, 8],
      "circle-stroke-color": "#ffffff",
      "circle-stroke-width": 1
    }
  });

  var options = {
    container: element,
    style: { version: 8, sources: sources, layers: layers },
    center: [0, 0],
    zoom: 1,
    maxZoom: 19,
    attributionControl: { compact: false }
  };
  if (data.bounds) {
    var b = data.bounds.split(",").map(Number);
    options.bounds = [[b[0], b[1]], [b[2], b[3]]];
    options.fitBoundsOptions = { padding: 16 };
  }
  var map = new maplibregl.Map(options);
  element.map = map;
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }), "top-right");

  var clickable = ["request-points", "request-cells"];
  map.on("click", clickable, function (event) {
    var feature = event.features && event.features[0];
    if (!feature) { return; }
    var id = feature.properties.service_request_id;
    if (id) {
      window.location.assign(data.requestPath + encodeURIComponent(id));
    } else {
      map.easeTo({ center: event.lngLat, zoom: Math.min(map.getZoom() + 2, 19) });
    }
  });
  clickable.forEach(function (layer) {
    map.on("mouseenter", layer, function () { map.getCanvas().style.cursor = "pointer"; });
    map.on("mouseleave", layer, function () { map.getCanvas().style.cursor = ""; });
  });

  /* Filters, live: the requests' tiles get the new query; the address bar too, so that a
     reload or a shared link shows the same. The list under the map follows on "Show". */
  if (form) {
    form.addEventListener("change", function (event) {
      if (event.target && event.target.name === "jurisdiction_id") {
        // Another city: another extent, catalogue and list; its services are not this one's.
        form.elements.service_code.value = "";
        form.submit();
        return;
      }
      map.getSource("requests").setTiles([requestTiles()]);
      var shown = new URLSearchParams(new FormData(form));
      window.history.replaceState(null, "", window.location.pathname + "?" + shown.toString());
    });
  }
})();

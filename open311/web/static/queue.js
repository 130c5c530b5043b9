// The supervisor's queue map: the work orders of the table below it (rows with data-lat and
// data-long), overdue ones in red, each opening its work order when clicked. The table stays
// the accessible version; without WebGL or without points the map is simply left out.
(function () {
  "use strict";
  const holder = document.getElementById("queue-map");
  if (!holder) return;
  const rows = Array.from(document.querySelectorAll("tr.queue-row[data-lat]"));
  if (typeof maplibregl === "undefined" || rows.length === 0) {
    holder.hidden = true;
    return;
  }
  maplibregl.setWorkerUrl(holder.dataset.worker);

  const features = rows.map(function (row) {
    return {
      type: "Feature",
      geometry: {
        type: "Point",
        coordinates: [Number(row.dataset.long), Number(row.dataset.lat)],
      },
      properties: {
        url: row.dataset.url,
        label: row.dataset.label,
        overdue: row.dataset.overdue === "true",
      },
    };
  });

  const sources = {};
  const layers = [{ id: "paper", type: "background", paint: { "background-color": "#e8ecef" } }];
  if (holder.dataset.basemap) {
    sources.basemap = {
      type: "raster",
      tiles: [holder.dataset.basemap],
      tileSize: 256,
      attribution: holder.dataset.attribution || "",
    };
    layers.push({ id: "basemap", type: "raster", source: "basemap" });
  }

  if (holder.dataset.districts) {
    sources.districts = {
      type: "vector",
      tiles: [window.location.origin + holder.dataset.districts],
      minzoom: 0,
      maxzoom: 14,
    };
    const chosen = Number(holder.dataset.district || 0);
    layers.push({
      id: "district-fill",
      type: "fill",
      source: "districts",
      "source-layer": "districts",
      paint: {
        "fill-color": "#0b5cad",
        "fill-opacity": ["case", ["==", ["get", "id"], chosen], 0.18, 0.04],
      },
    });
    layers.push({
      id: "district-line",
      type: "line",
      source: "districts",
      "source-layer": "districts",
      paint: { "line-color": "#55657a", "line-width": 1 },
    });
  }

  let map;
  try {
    map = new maplibregl.Map({
      container: holder,
      style: { version: 8, sources: sources, layers: layers },
      center: features[0].geometry.coordinates,
      zoom: 11,
      attributionControl: holder.dataset.basemap ? {} : false,
    });
  } catch (error) {
    holder.hidden = true; // no WebGL: the table says it all
    return;
  }
  map.addControl(new maplibregl.NavigationControl({ showCompass: false }));

  map.on("load", function () {
    map.addSource("queue", { type: "geojson", data: { type: "FeatureCollection", features: features } });
    map.addLayer({
      id: "queue-points",
      type: "circle",
      source: "queue",
      paint: {
        "circle-radius": 7,
        "circle-color": ["case", ["get", "overdue"], "#b3261e", "#0b5cad"],
        "circle-stroke-color": "#ffffff",
        "circle-stroke-width": 2,
      },
    });
    if (features.length > 1) {
      const bounds = new maplibregl.LngLatBounds();
      features.forEach(function (feature) {
        bounds.extend(feature.geometry.coordinates);
      });
      map.fitBounds(bounds, { padding: 40, maxZoom: 15, duration: 0 });
    }
    holder.dataset.ready = "true";
  });

  map.on("click", "queue-points", function (event) {
    const feature = event.features && event.features[0];
    if (feature) window.location.assign(feature.properties.url);
  });
  map.on("mouseenter", "queue-points", function (event) {
    map.getCanvas().style.cursor = "pointer";
    const feature = event.features && event.features[0];
    if (feature) map.getCanvas().title = feature.properties.label;
  });
  map.on("mouseleave", "queue-points", function () {
    map.getCanvas().style.cursor = "";
    map.getCanvas().title = "";
  });
})();

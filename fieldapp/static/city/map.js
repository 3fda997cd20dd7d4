/*
 * The city staff's map (/city/map).
 *
 * maps/city_map.py builds the Leaflet map, an empty marker cluster and an empty heat layer
 * with Folium, then calls CityMap.start(parts, config). Everything else happens here: the
 * filters, the layers fetched from /api/v1/layers/… and /api/v1/hotspots (sent with the
 * session cookie), the legend and the drill-down from a township to its grid cells.
 *
 * Safety: report titles, area names and every other value from the server are put into the
 * page with textContent only, never as HTML, so a title like "<img src=x onerror=…>" shows
 * as text. Leaflet's layer control inserts names as HTML, so those go through esc().
 *
 * Coordinates: the API answers WGS-84. With GCJ-02 base tiles (config.display_crs ===
 * "gcj02") every GeoJSON coordinate and marker is shifted here by toDisplay(), a port of
 * grid/crs.py wgs84_to_gcj02 (kept in step by tests/e2e/test_city_map.py). Cell vector tiles
 * are drawn on the server and shifted there.
 */
(function () {
  "use strict";

  // --- GCJ-02 (port of grid/crs.py) ------------------------------------------------------
  var A = 6378245.0;
  var EE = 0.00669342162296594323;

  function outsideChina(lon, lat) {
    return !(lon >= 72.004 && lon <= 137.8347 && lat >= 0.8293 && lat <= 55.8271);
  }

  function transformLat(x, y) {
    var ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    ret += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
    ret += (20.0 * Math.sin(y * Math.PI) + 40.0 * Math.sin(y / 3.0 * Math.PI)) * 2.0 / 3.0;
    ret += (160.0 * Math.sin(y / 12.0 * Math.PI) + 320 * Math.sin(y * Math.PI / 30.0)) * 2.0 / 3.0;
    return ret;
  }

  function transformLon(x, y) {
    var ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    ret += (20.0 * Math.sin(6.0 * x * Math.PI) + 20.0 * Math.sin(2.0 * x * Math.PI)) * 2.0 / 3.0;
    ret += (20.0 * Math.sin(x * Math.PI) + 40.0 * Math.sin(x / 3.0 * Math.PI)) * 2.0 / 3.0;
    ret += (150.0 * Math.sin(x / 12.0 * Math.PI) + 300.0 * Math.sin(x / 30.0 * Math.PI)) * 2.0 / 3.0;
    return ret;
  }

  function wgs84ToGcj02(lon, lat) {
    if (outsideChina(lon, lat)) return [lon, lat];
    var dlat = transformLat(lon - 105.0, lat - 35.0);
    var dlon = transformLon(lon - 105.0, lat - 35.0);
    var radlat = lat / 180.0 * Math.PI;
    var magic = 1 - EE * Math.sin(radlat) * Math.sin(radlat);
    var sqrtmagic = Math.sqrt(magic);
    dlat = (dlat * 180.0) / ((A * (1 - EE)) / (magic * sqrtmagic) * Math.PI);
    dlon = (dlon * 180.0) / (A / sqrtmagic * Math.cos(radlat) * Math.PI);
    return [lon + dlon, lat + dlat];
  }

  // Leaflet 1.8 dropped L.DomEvent.fakeStop, which VectorGrid 1.3 still calls on clicks.
  if (window.L && L.DomEvent && !L.DomEvent.fakeStop) {
    L.DomEvent.fakeStop = function (e) { e._stopped = true; return this; };
  }

  // --- small DOM helpers -----------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function esc(text) {
    var span = document.createElement("span");
    span.textContent = String(text);
    return span.innerHTML;
  }

  function format(template, values) {
    return String(template).replace(/%\((\w+)\)s/g, function (_m, key) {
      return values[key] === undefined ? "" : String(values[key]);
    });
  }

  function isoDay(d) { return d.toISOString().slice(0, 10); }

  // Today in China time (the server's zone, config.time_zone), whatever the computer's own.
  function chinaToday(timeZone) {
    var parts = new Intl.DateTimeFormat("en-CA", {
      timeZone: timeZone, year: "numeric", month: "2-digit", day: "2-digit"
    }).format(new Date());
    return new Date(parts + "T00:00:00Z");
  }

  function addDays(d, n) {
    var copy = new Date(d.getTime());
    copy.setUTCDate(copy.getUTCDate() + n);
    return copy;
  }

  // --- the map ---------------------------------------------------------------------------
  function CityMap(parts, config) {
    this.map = parts.map;
    this.cluster = parts.cluster;
    this.heat = parts.heat;
    this.config = config;
    this.labels = config.labels;
    this.colours = config.colours;
    this.numbers = new Intl.NumberFormat(config.locale); // fieldapp.i18n.LANGUAGE_TAGS
    this.gcj = config.display_crs === "gcj02";
    this.form = document.getElementById("map-filters");
    this.status = document.getElementById("map-status");
    this.generation = 0;
    this.ready = false;
    this.drill = null;
    this.lastChoropleth = null;

    // Fixed stacking whatever arrives first: areas (overlay pane, 400) under cell outlines,
    // hotspot outlines and report markers, so reloading the areas never covers the markers
    // (nor takes their clicks).
    this.pane("cityCells", 405);
    this.pane("cityAnalysis", 410);
    this.pane("cityReports", 450);
    // Alerts above everything, the report bubbles of the marker pane (600) included, and
    // under tooltips (650) and popups (700): always visible and clickable.
    this.pane("cityAlerts", 640);
    this.areaGroup = L.featureGroup().addTo(this.map);
    this.hotspots = L.featureGroup().addTo(this.map);
    this.tiles = null;
    this.buildControls();
    this.bindFilters();
    this.showFocus();
    var self = this;
    this.loaded = this.refresh("all").then(function () {
      // Milliseconds from the start of navigation to a usable map (the page's budget is 2 s).
      self.readyAt = window.performance ? performance.now() : null;
      self.ready = true;
      self.map.getContainer().setAttribute("data-ready", "1");
    });
  }

  CityMap.prototype.pane = function (name, zIndex) {
    var pane = this.map.getPane(name) || this.map.createPane(name);
    pane.style.zIndex = String(zIndex);
    return pane;
  };

  CityMap.prototype.toLatLng = function (lon, lat) {
    if (this.gcj) {
      var p = wgs84ToGcj02(lon, lat);
      return L.latLng(p[1], p[0]);
    }
    return L.latLng(lat, lon);
  };

  CityMap.prototype.geoJsonOptions = function (extra) {
    var self = this;
    var options = { coordsToLatLng: function (c) { return self.toLatLng(c[0], c[1]); } };
    for (var key in extra) options[key] = extra[key];
    return options;
  };

  CityMap.prototype.buildControls = function () {
    var self = this;
    this.legend = L.control({ position: "bottomright" });
    this.legend.onAdd = function () {
      var div = el("div", "map-legend");
      L.DomEvent.disableClickPropagation(div);
      L.DomEvent.disableScrollPropagation(div);
      self.legendDiv = div;
      return div;
    };
    this.legend.addTo(this.map);

    var overlays = {};
    overlays[esc(this.labels.areas)] = this.areaGroup;
    overlays[esc(this.labels.hotspots)] = this.hotspots;
    overlays[esc(this.labels.reports)] = this.cluster;
    overlays[esc(this.labels.heat)] = this.heat;
    if (this.config.urls.analysis) {
      this.analysisGi = this.analysisLayer("gi_star", GI_COLOURS, "gi_");
      this.analysisEmerging = this.analysisLayer("emerging", PATTERN_COLOURS, "pattern_");
      overlays[esc(this.labels.analysis_gi)] = this.analysisGi.group;
      overlays[esc(this.labels.analysis_emerging)] = this.analysisEmerging.group;
    }
    if (L.vectorGrid && this.config.urls.tiles) {
      this.tiles = L.vectorGrid.protobuf(this.tileUrl(), {
        vectorTileLayerStyles: { cells: function (props) { return self.tileStyle(props); } },
        interactive: true,
        pane: "cityCells",
        minZoom: 11,
        maxNativeZoom: 18,
        fetchOptions: { credentials: "same-origin" },
        getFeatureId: function (f) { return f.properties.code; }
      });
      this.tiles.on("click", function (e) {
        var props = e.layer && e.layer.properties;
        if (!props) return;
        L.popup().setLatLng(e.latlng).setContent(self.areaCard(props, false)).openOn(self.map);
      });
      overlays[esc(this.labels.cell_tiles)] = this.tiles;
    }
    L.control.layers(null, overlays, { collapsed: false, position: "topright" }).addTo(this.map);
  };

  CityMap.prototype.bindFilters = function () {
    var self = this;
    if (!this.form) return;
    this.form.addEventListener("submit", function (e) { e.preventDefault(); });
    this.form.addEventListener("change", function (e) {
      var name = e.target && e.target.name;
      if (name === "window") {
        var custom = self.form.querySelector(".custom-dates");
        var isCustom = e.target.value === "custom";
        custom.hidden = !isCustom;
        if (isCustom) {
          var today = chinaToday(self.config.time_zone);
          var to = self.form.elements.to;
          var from = self.form.elements.from;
          if (!to.value) to.value = isoDay(today);
          if (!from.value) from.value = isoDay(addDays(today, -(self.config.window_days - 1)));
        }
      }
      self.refresh(name === "level" || name === "metric" ? "areas" : "all");
    });
  };

  // The query string shared by every layer: from, to, category (and metric where it applies).
  CityMap.prototype.query = function () {
    var params = new URLSearchParams();
    var days = this.config.window_days;
    var from, to;
    if (this.form) {
      var f = this.form.elements;
      if (f.window.value === "custom") {
        from = f.from.value;
        to = f.to.value;
      } else {
        days = parseInt(f.window.value, 10) || days;
      }
      if (f.category.value) params.set("category", f.category.value);
    }
    if (!from && !to) {
      var today = chinaToday(this.config.time_zone);
      to = isoDay(today);
      from = isoDay(addDays(today, -(days - 1)));
    }
    if (from) params.set("from", from);
    if (to) params.set("to", to);
    return params;
  };

  CityMap.prototype.level = function () {
    return this.form ? this.form.elements.level.value : this.config.level;
  };

  CityMap.prototype.metric = function () {
    return this.form ? this.form.elements.metric.value : this.config.metric;
  };

  CityMap.prototype.tileUrl = function () {
    var params = this.query();
    if (this.gcj) params.set("display_crs", "gcj02");
    return this.config.urls.tiles + "?" + params.toString();
  };

  CityMap.prototype.getJson = function (url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          var error = new Error("HTTP " + response.status);
          error.status = response.status;
          throw error;
        }
        return response.json();
      });
  };

  CityMap.prototype.setStatus = function (text, isError) {
    if (!this.status) return;
    this.status.textContent = text;
    this.status.className = "map-status" + (isError ? " error" : "");
  };

  // Reload what the filters affect; answers to an older generation of filters are dropped.
  CityMap.prototype.refresh = function (what) {
    var self = this;
    var generation = ++this.generation;
    this.setStatus(this.labels.loading, false);
    var jobs = [this.loadAreas(generation)];
    if (what === "all") {
      jobs.push(this.loadReports(generation));
      jobs.push(this.loadHotspots(generation));
      if (this.tiles) this.tiles.setUrl(this.tileUrl());
    }
    return Promise.all(jobs).then(function () {
      if (generation !== self.generation) return;
      if (self.statusText) self.setStatus(self.statusText, false);
    }, function () {
      if (generation !== self.generation) return;
      self.setStatus(self.labels.load_failed, true);
    });
  };

  // --- choropleth ------------------------------------------------------------------------
  CityMap.prototype.colourOf = function (cls) {
    if (cls === null || cls === undefined) return this.colours.no_data;
    return this.colours.classes[Math.max(0, Math.min(cls, this.colours.classes.length - 1))];
  };

  CityMap.prototype.areaStyle = function (props, isCell) {
    return {
      fillColor: this.colourOf(props["class"]),
      fillOpacity: 0.75,
      color: isCell ? "#666" : "#444",
      weight: isCell ? 0.6 : 1,
      dashArray: props["class"] === null ? "3" : null
    };
  };

  CityMap.prototype.formatValue = function (value) {
    if (value === null || value === undefined) return this.labels.no_data;
    return this.numbers.format(value);
  };

  CityMap.prototype.areaCard = function (props, withRate) {
    var box = el("div", "map-tooltip");
    box.appendChild(el("strong", null, props.name));
    box.appendChild(el("span", null, this.labels.count + ": " + this.numbers.format(props.count || 0)));
    if (withRate) {
      box.appendChild(el("br"));
      box.appendChild(el("span", null, this.labels.rate + ": " + this.formatValue(props.rate)));
    }
    return box;
  };

  CityMap.prototype.loadAreas = function (generation) {
    var self = this;
    var params = this.query();
    params.set("level", this.level());
    params.set("metric", this.metric());
    return this.getJson(this.config.urls.choropleth + "?" + params.toString()).then(function (data) {
      if (generation !== self.generation) return;
      self.drill = null;
      self.lastChoropleth = data;
      self.areaGroup.clearLayers();
      var level = data.level;
      var layer = L.geoJSON(data, self.geoJsonOptions({
        style: function (f) { return self.areaStyle(f.properties, level === "cell"); },
        onEachFeature: function (f, l) {
          l.bindTooltip(self.areaCard(f.properties, true), { sticky: true });
          if (level === "township") {
            l.on("click", function () { self.drillInto(f.properties.code); });
          }
        }
      }));
      self.areaGroup.addLayer(layer);
      self.areas = layer;
      self.showLegend(data, null);
    });
  };

  CityMap.prototype.drillInto = function (code) {
    var self = this;
    var generation = this.generation;
    var params = this.query();
    params.set("metric", this.metric());
    var url = this.config.urls.township_cells.replace("__CODE__", encodeURIComponent(code));
    this.setStatus(this.labels.loading, false);
    return this.getJson(url + "?" + params.toString()).then(function (data) {
      if (generation !== self.generation) return;
      if (self.drill) self.areaGroup.removeLayer(self.drill);
      self.drill = L.geoJSON(data, self.geoJsonOptions({
        style: function (f) { return self.areaStyle(f.properties, true); },
        onEachFeature: function (f, l) {
          l.bindTooltip(self.areaCard(f.properties, true), { sticky: true });
        }
      }));
      self.areaGroup.addLayer(self.drill);
      if (self.areas) self.areas.setStyle({ fillOpacity: 0.15 });
      var bounds = self.drill.getBounds();
      if (bounds.isValid()) self.map.fitBounds(bounds, { padding: [20, 20] });
      self.showLegend(data, data.township);
      self.setStatus(self.statusText || "", false);
    }, function () {
      self.setStatus(self.labels.load_failed, true);
    });
  };

  CityMap.prototype.undrill = function () {
    if (this.drill) this.areaGroup.removeLayer(this.drill);
    this.drill = null;
    var self = this;
    if (this.areas) this.areas.eachLayer(function (l) { self.areas.resetStyle(l); });
    if (this.lastChoropleth) this.showLegend(this.lastChoropleth, null);
  };

  CityMap.prototype.showLegend = function (data, township) {
    var self = this;
    var div = this.legendDiv;
    if (!div) return;
    while (div.firstChild) div.removeChild(div.firstChild);
    var metricLabel = data.metric === "rate" ? this.labels.rate : this.labels.count;
    var title = township
      ? format(this.labels.cells_of, { name: township.name })
      : this.labels["level_" + data.level];
    div.appendChild(el("h4", null, title));
    div.appendChild(el("div", null, metricLabel));

    function row(colour, text, noData) {
      var r = el("div", "row");
      var swatch = el("span", "swatch" + (noData ? " no-data" : ""));
      if (!noData) swatch.style.background = colour;
      r.appendChild(swatch);
      r.appendChild(el("span", null, text));
      div.appendChild(r);
    }
    row(this.colourOf(0), this.labels.none);
    var ranges = (data.classes && data.classes.ranges) || [];
    ranges.forEach(function (range, i) {
      var lo = self.numbers.format(range[0]);
      var hi = self.numbers.format(range[1]);
      row(self.colourOf(i + 1), lo === hi ? lo : lo + " – " + hi);
    });
    if (data.metric === "rate") row(null, this.labels.no_data, true);
    div.appendChild(el("div", "total", format(this.labels.total, { n: this.numbers.format(data.total || 0) })));
    if (township) {
      var back = el("button", null, this.labels.back);
      back.type = "button";
      back.addEventListener("click", function () { self.undrill(); });
      div.appendChild(back);
    }
  };

  // --- reports, counted per cell on the server -----------------------------------------
  // Every report of the window is counted (no cap): one bubble per cell carrying its count;
  // the cluster bubbles add their cells' counts (see maps/city_map.py), the heat map weighs
  // each cell by its count, and the status line gives the same total as the legend.
  CityMap.prototype.casesUrl = function (codes, from, to) {
    if (!this.config.urls.cases) return null;
    var params = new URLSearchParams();
    params.set("cells", codes.join(","));
    if (from) params.set("from", from);
    if (to) params.set("to", to);
    return this.config.urls.cases + "?" + params.toString();
  };

  CityMap.prototype.link = function (href, text) {
    var a = el("a", null, text);
    a.href = href;
    return a;
  };

  CityMap.prototype.cellPopup = function (row, query) {
    var labels = this.labels;
    var box = el("div", "map-popup");
    box.appendChild(el("span", "title", row.name));
    var dl = el("dl");
    function item(term, value) {
      dl.appendChild(el("dt", null, term));
      dl.appendChild(el("dd", null, value));
    }
    item(labels.count, this.numbers.format(row.count));
    var numbers = this.numbers;
    this.config.severities.forEach(function (level) {
      item(labels["sev_" + level], numbers.format(row[level]));
    });
    box.appendChild(dl);
    var href = this.casesUrl([row.code], query.get("from"), query.get("to"));
    if (href) box.appendChild(this.link(href, labels.open_cases));
    return box;
  };

  CityMap.prototype.loadReports = function (generation) {
    var self = this;
    var query = this.query();
    return this.getJson(this.config.urls.report_cells + "?" + query.toString()).then(function (data) {
      if (generation !== self.generation) return;
      var markers = [];
      var heat = [];
      var cols = {};
      (data.columns || []).forEach(function (name, i) { cols[name] = i; });
      var severity = self.colours.severity;
      var levels = self.config.severities;
      var peak = 1;
      var sum = 0;
      (data.rows || []).forEach(function (r) {
        var row = { code: r[cols.code], name: r[cols.name], count: r[cols.count] };
        var worst = null;
        // config.severities is most urgent first (fieldapp.domain.SEVERITIES).
        levels.forEach(function (level) {
          row[level] = r[cols[level]];
          if (!worst && row[level]) worst = level;
        });
        var latlng = self.toLatLng(r[cols.lon], r[cols.lat]);
        var marker = L.circleMarker(latlng, {
          pane: "cityReports",
          radius: Math.min(6 + 2 * Math.sqrt(row.count), 22),
          color: "#333",
          weight: 1,
          fillColor: severity[worst] || "#888",
          fillOpacity: 0.85,
          count: row.count,
          code: row.code,
          row: row,
          wgs84: [r[cols.lon], r[cols.lat]]
        });
        // Built on opening, with textContent: nothing from the data is parsed as HTML.
        marker.bindPopup(function () { return self.cellPopup(row, query); });
        markers.push(marker);
        heat.push([latlng.lat, latlng.lng, row.count]);
        if (row.count > peak) peak = row.count;
        sum += row.count;
      });
      self.cluster.clearLayers();
      self.cluster.addLayers(markers);
      if (self.heat.setOptions) self.heat.setOptions({ max: peak });
      self.heat.setLatLngs(heat);
      self.reportTotal = sum;
      self.map.getContainer().setAttribute("data-report-total", String(sum));
      self.statusText = format(self.labels.shown, { n: self.numbers.format(sum) });
    });
  };

  // --- hotspot alerts: above every other layer, filled, always clickable -----------------
  var ALERT_STYLE = {
    "new": { color: "#c2185b", weight: 4, dashArray: null, fillOpacity: 0.35 },
    acknowledged: { color: "#c2185b", weight: 3, dashArray: "8 4", fillOpacity: 0.25 },
    supervised: { color: "#4a148c", weight: 4, dashArray: "2 5", fillOpacity: 0.25 },
    expired: { color: "#757575", weight: 2, dashArray: "2 4", fillOpacity: 0.1 }
  };

  CityMap.prototype.alertCard = function (alert) {
    var labels = this.labels;
    var box = el("div", "map-popup alert-popup");
    var area = alert.area || {};
    box.appendChild(el("span", "title", area.name || area.code || ""));
    var dl = el("dl");
    function item(term, value) {
      if (value === undefined || value === null || value === "") return;
      dl.appendChild(el("dt", null, term));
      dl.appendChild(el("dd", null, value));
    }
    var d = alert.display || {};
    item(labels.method, labels["method_" + alert.method] || alert.method);
    item(labels.status, labels["alert_" + alert.status] || alert.status);
    if (alert.period) item(labels.period, (alert.period.from || "") + " – " + (alert.period.to || ""));
    item(labels.cells, d.cells_text || String((alert.cells || []).length));
    if (typeof alert.observed === "number" && typeof alert.expected === "number") {
      item(labels.observed_expected, format(labels.observed_vs_expected, {
        observed: this.numbers.format(Math.round(alert.observed)),
        expected: this.numbers.format(Math.round(alert.expected * 10) / 10)
      }));
    }
    if (d.relative_risk) item(labels.relative_risk, d.relative_risk);
    if (Array.isArray(alert.categories) && alert.categories.length) {
      var names = this.config.categories || {};
      item(labels.category, alert.categories.map(function (c) {
        var code = typeof c === "string" ? c : (c && c.code) || "";
        return names[code] || (c && c.name) || code;
      }).join("、"));
    } else {
      item(labels.category, labels.all_categories);
    }
    if (d.unusual) item(labels.unusual, d.unusual);
    box.appendChild(dl);
    var period = alert.period || {};
    var href = this.casesUrl(alert.cells || [], period.from, period.to);
    if (href) box.appendChild(this.link(href, labels.open_cases));
    if (this.config.urls.alerts_page) {
      box.appendChild(el("br"));
      box.appendChild(this.link(this.config.urls.alerts_page + "#alert-" + alert.id, labels.alert_list));
    }
    return box;
  };

  CityMap.prototype.loadHotspots = function (generation) {
    var self = this;
    var url = this.config.urls.hotspots;
    if (!url) return Promise.resolve();
    // The hotspot service is optional: whatever goes wrong, the layer is simply empty.
    return this.getJson(url).then(function (data) {
      if (generation !== self.generation) return;
      self.hotspots.clearLayers();
      var alerts = (data && Array.isArray(data.alerts)) ? data.alerts : [];
      alerts.forEach(function (alert) {
        if (!alert || !alert.geometry) return;
        var style = ALERT_STYLE[alert.status] || ALERT_STYLE["new"];
        var layer = L.geoJSON({ type: "Feature", geometry: alert.geometry, properties: {} },
          self.geoJsonOptions({
            pane: "cityAlerts",
            style: function () {
              return {
                color: style.color, weight: style.weight, dashArray: style.dashArray,
                fill: true, fillColor: style.color, fillOpacity: style.fillOpacity
              };
            }
          }));
        // A pin on the alert's area, so that a hotspot of one small cell is still seen and
        // clicked at city zoom.
        var centre = layer.getBounds().getCenter();
        var pin = L.circleMarker(centre, {
          pane: "cityAlerts", radius: 11, color: "#fff", weight: 3,
          fillColor: style.color, fillOpacity: 0.95, className: "alert-pin"
        });
        var group = L.featureGroup([layer, pin]);
        group.alertId = alert.id;
        group.bindPopup(function () { return self.alertCard(alert); });
        self.hotspots.addLayer(group);
      });
      self.map.getContainer().setAttribute("data-alerts", String(alerts.length));
    }, function () {
      if (generation === self.generation) self.hotspots.clearLayers();
    });
  };

  // --- map analyses: Gi* confidence classes, emerging patterns (not alerts) ---------------
  var GI_COLOURS = {
    "3": "#d62f27", "2": "#ed7551", "1": "#fab984", "0": "#eeeeee",
    "-1": "#c0ccbe", "-2": "#849eba", "-3": "#4575b5"
  };
  var PATTERN_COLOURS = {
    "1": "#ff0000", "2": "#ff6f6f", "3": "#b30000", "4": "#e34a33", "5": "#fdbb84",
    "6": "#f4a6a6", "7": "#c51b8a", "8": "#a6611a",
    "-1": "#0000ff", "-2": "#6f6fff", "-3": "#00008b", "-4": "#3182bd", "-5": "#9ecae1",
    "-6": "#a6bddb", "-7": "#756bb1", "-8": "#018571"
  };

  // One analysis layer: fetched the first time it is switched on (it is computed on the
  // server once a day), drawn under the report bubbles, with its own legend.
  CityMap.prototype.analysisLayer = function (kind, colours, prefix) {
    var self = this;
    var group = L.featureGroup();
    var legend = L.control({ position: "bottomleft" });
    var state = { group: group, loaded: false, legend: legend, data: null };
    legend.onAdd = function () {
      var div = el("div", "map-legend analysis-legend");
      L.DomEvent.disableClickPropagation(div);
      state.div = div;
      self.fillAnalysisLegend(state, kind, colours, prefix);
      return div;
    };
    group.on("add", function () {
      legend.addTo(self.map);
      if (state.loaded) return;
      state.loaded = true;
      self.getJson(self.config.urls.analysis + kind).then(function (data) {
        state.data = data;
        var layer = L.geoJSON(data, self.geoJsonOptions({
          pane: "cityAnalysis",
          style: function (f) {
            return {
              color: "#555", weight: 0.5,
              fillColor: colours[String(f.properties["class"])] || "#999", fillOpacity: 0.75
            };
          },
          onEachFeature: function (f, l) {
            l.bindTooltip(self.labels[prefix + f.properties["class"]] || String(f.properties["class"]));
          }
        }));
        group.addLayer(layer);
        self.fillAnalysisLegend(state, kind, colours, prefix);
      }, function () {
        state.loaded = false;
        self.setStatus(self.labels.load_failed, true);
      });
    });
    group.on("remove", function () { legend.remove(); });
    return state;
  };

  CityMap.prototype.fillAnalysisLegend = function (state, kind, colours, prefix) {
    var div = state.div;
    if (!div) return;
    var self = this;
    while (div.firstChild) div.removeChild(div.firstChild);
    div.appendChild(el("h4", null, kind === "gi_star" ? this.labels.analysis_gi : this.labels.analysis_emerging));
    var counts = (state.data && state.data.classes) || {};
    var order = kind === "gi_star"
      ? ["3", "2", "1", "0", "-1", "-2", "-3"]
      : Object.keys(colours).filter(function (k) { return counts[k]; });
    order.forEach(function (k) {
      var r = el("div", "row");
      var swatch = el("span", "swatch");
      swatch.style.background = colours[k];
      r.appendChild(swatch);
      var text = self.labels[prefix + k] || k;
      if (counts[k]) text += " · " + format(self.labels.cells_count, { n: self.numbers.format(counts[k]) });
      r.appendChild(el("span", null, text));
      div.appendChild(r);
    });
    div.appendChild(el("div", "total", this.labels.analysis_note));
  };

  // --- a row of the analysis table: the map opens on its cell ---------------------------
  // (/city/map?focus=<cell code>&analysis=gi_star|emerging; the server already fitted the
  // view to the cell and its neighbours). The cell is outlined above the analysis layer,
  // which is switched on so its class is seen in context.
  CityMap.prototype.showFocus = function () {
    var focus = this.config.focus;
    if (!focus || !focus.geometry) return;
    this.pane("cityFocus", 420);
    this.focusLayer = L.geoJSON(focus.geometry, this.geoJsonOptions({
      pane: "cityFocus", interactive: false,
      style: function () { return { color: "#111", weight: 3, dashArray: "6 4", fill: false }; }
    })).addTo(this.map);
    var analysis = focus.analysis === "gi_star" ? this.analysisGi
      : focus.analysis === "emerging" ? this.analysisEmerging : null;
    if (analysis) analysis.group.addTo(this.map);
    this.map.getContainer().setAttribute("data-focus", focus.code);
  };

  // --- cell vector tiles -----------------------------------------------------------------
  CityMap.prototype.tileStyle = function (props) {
    var count = props.count || 0;
    return {
      weight: 0.7,
      color: "#555",
      fill: true,
      fillColor: count > 0 ? this.colours.classes[4] : "#ffffff",
      fillOpacity: count > 0 ? Math.min(0.15 + 0.1 * count, 0.7) : 0.05
    };
  };

  window.CityMap = {
    start: function (parts, config) {
      window.cityMap = new CityMap(parts, config);
      return window.cityMap;
    },
    wgs84ToGcj02: wgs84ToGcj02
  };
})();

/*
 * The city, county and township dashboards (/dashboard).
 *
 * The page carries its area, period, URLs and labels as JSON (#dashboard-config); this script
 * fetches the figures from /api/v1/rollups, /kpis and /campaign (with the session cookie) and
 * draws them with the vendored ECharts (no CDN). Every figure, bar and count links to the
 * case list (/cases) with the same filters, so the total there equals the figure; an area's
 * name or bar opens that area's dashboard (/dashboard?area=<code>&period=…).
 *
 * Safety: area names and category names come from imported data. They are put into the page
 * with textContent only, never as HTML; chart labels are drawn on the canvas and tooltips are
 * rendered as rich text on the canvas as well, so "<script>" in a name stays text.
 */
(function () {
  "use strict";

  var cfg = JSON.parse(document.getElementById("dashboard-config").textContent);
  var L = cfg.labels;
  var P = cfg.period;
  var area = cfg.area;
  var zh = cfg.language === "zh";
  var locale = cfg.locale; // fieldapp.i18n.LANGUAGE_TAGS
  var numberFmt = new Intl.NumberFormat(locale);
  var pctFmt = new Intl.NumberFormat(locale, {
    style: "percent", minimumFractionDigits: 1, maximumFractionDigits: 1,
  });
  var monthFmt = new Intl.DateTimeFormat(locale, { year: "numeric", month: "short", timeZone: "UTC" });
  var dayFmt = new Intl.DateTimeFormat(locale, { month: "short", day: "numeric", timeZone: "UTC" });
  var KPI_KEYS = ["resolution", "acceptance_on_time", "closed_on_time", "satisfaction", "checkin_compliance"];
  var SEVERITY_COLOURS = cfg.severity_colours; // fieldapp.domain.SEVERITY_COLOURS

  var state = { ready: false, failed: false, charts: {}, data: {}, figures: {} };
  window.dashboard = state;

  // --- helpers -----------------------------------------------------------------------------
  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function link(href, text, className) {
    var a = el("a", className, text);
    a.href = href;
    return a;
  }

  function extend() {
    var out = {};
    for (var i = 0; i < arguments.length; i++) {
      var src = arguments[i] || {};
      Object.keys(src).forEach(function (k) { out[k] = src[k]; });
    }
    return out;
  }

  function query(params) {
    var q = new URLSearchParams();
    Object.keys(params).forEach(function (k) {
      var v = params[k];
      if (v !== null && v !== undefined && v !== "") q.set(k, String(v));
    });
    return q.toString();
  }

  function fmtNum(n) { return n === null || n === undefined ? "—" : numberFmt.format(n); }
  function fmtPct(v) { return v === null || v === undefined ? "—" : pctFmt.format(v); }

  function parseDay(iso) {
    var p = iso.split("-");
    return new Date(Date.UTC(+p[0], +p[1] - 1, +p[2]));
  }

  function isoDay(d) { return d.toISOString().slice(0, 10); }

  function bucketLabel(key) {
    return P.bucket === "month" ? monthFmt.format(parseDay(key)) : dayFmt.format(parseDay(key));
  }

  function bucketEnd(key) {
    var d = parseDay(key);
    if (P.bucket === "day") return key;
    if (P.bucket === "week") { d.setUTCDate(d.getUTCDate() + 6); return isoDay(d); }
    return isoDay(new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)));
  }

  function casesUrl(extra, withoutPeriod) {
    var base = withoutPeriod ? { within: area.code } : { within: area.code, from: P.from, to: P.to };
    return cfg.urls.cases + "?" + query(extend(base, extra));
  }

  function dashboardUrl(code) {
    return cfg.urls.dashboard + "?" + query(extend({ area: code }, cfg.period_args));
  }

  function getJSON(url, params) {
    return fetch(url + "?" + query(params), {
      credentials: "same-origin", headers: { Accept: "application/json" },
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          var message = body && body.error ? body.error.message : String(response.status);
          throw new Error(message);
        }
        return body;
      });
    });
  }

  function sumKpis(rows) {
    var out = {};
    KPI_KEYS.forEach(function (key) {
      var num = 0, den = 0;
      rows.forEach(function (row) {
        var k = row.kpis[key];
        if (k && k.denominator) { num += k.numerator || 0; den += k.denominator; }
      });
      out[key] = { numerator: num, denominator: den, value: den ? num / den : null };
    });
    return out;
  }

  // --- headline figures --------------------------------------------------------------------
  function figure(key, label, value, href, sub) {
    var box = el("div", "figure");
    box.dataset.key = key;
    box.appendChild(el("span", "label", label));
    var v = href ? link(href, value, "value") : el("span", "value", value);
    box.appendChild(v);
    if (sub) box.appendChild(sub);
    document.getElementById("figures").appendChild(box);
    state.figures[key] = { text: value, href: href || null };
    return box;
  }

  function help(box, text) {
    box.title = text;
    box.appendChild(el("span", "help", text));
    return box;
  }

  function fraction(num, den, numHref, denHref) {
    var sub = el("span", "sub");
    var parts = L.fraction.split(/(%\(num\)s|%\(den\)s)/);
    parts.forEach(function (part) {
      if (part === "%(num)s") sub.appendChild(numHref ? link(numHref, fmtNum(num), "num") : el("span", "num", fmtNum(num)));
      else if (part === "%(den)s") sub.appendChild(denHref ? link(denHref, fmtNum(den), "den") : el("span", "den", fmtNum(den)));
      else if (part) sub.appendChild(document.createTextNode(part));
    });
    return sub;
  }

  function drawFigures(d) {
    var counts = d.status.totals.counts;
    var open = cfg.open_states.reduce(function (n, s) { return n + (counts[s] || 0); }, 0);
    figure("reports", L.reports, fmtNum(d.status.totals.total), casesUrl({}));
    figure("open", L.open, fmtNum(open), casesUrl({ status: cfg.open_states.join(",") }));
    // Two different "overdue" sets, named and explained apart: this period's reports that
    // are overdue now, and every open overdue case in the area whenever it was filed (the
    // set of the overdue page, /triage/overdue).
    help(figure("overdue", L.overdue_period, fmtNum(cfg.overdue), casesUrl({ overdue: 1 })),
      L.overdue_period_help).classList.add("warn");
    help(figure("overdue_now", L.overdue_now, fmtNum(cfg.overdue_now), casesUrl({ overdue: 1 }, true)),
      L.overdue_now_help).classList.add("warn");
    figure("closed", L.closed, fmtNum(counts.closed || 0), casesUrl({ status: "closed" }));
    if (d.headline) {
      var k = sumKpis(d.headline.rows);
      var links = {
        resolution: [casesUrl({ status: "closed", outcome: "resolved" }), casesUrl({ status: "closed" })],
        satisfaction: [
          casesUrl({ satisfaction: "satisfied,basically_satisfied" }),
          casesUrl({ satisfaction: "satisfied,basically_satisfied,dissatisfied" }),
        ],
      };
      KPI_KEYS.forEach(function (key) {
        var pair = links[key] || [null, null];
        figure(key, L[key], fmtPct(k[key].value), pair[1],
          fraction(k[key].numerator, k[key].denominator, pair[0], pair[1])).classList.add("rate");
      });
    } else {
      var note = el("p", "figure-note", L.no_kpis);
      document.getElementById("figures").appendChild(note);
    }
    if (d.campaign) {
      var s = d.campaign.summary;
      var box = figure("campaign", L.campaign, fmtNum(s.assigned), casesUrl({ key: 1 }, true));
      box.classList.add("campaign");
      var sub = el("span", "sub");
      if (s.assigned) {
        L.campaign_text.split(/(%\(n\)s|%\(pct\)s)/).forEach(function (part) {
          if (part === "%(n)s") {
            sub.appendChild(link(casesUrl({ key: 1 }, true), fmtNum(s.assigned), "num"));
          } else if (part === "%(pct)s") {
            sub.appendChild(link(casesUrl({ key: 1, status: "closed", outcome: "resolved" }, true),
              fmtPct(s.resolved_rate), "pct"));
          } else if (part) {
            sub.appendChild(document.createTextNode(part));
          }
        });
      } else {
        sub.textContent = L.campaign_none;
      }
      box.appendChild(sub);
    }
  }

  // --- charts ------------------------------------------------------------------------------
  function chart(id, option, onClick) {
    var node = document.getElementById(id);
    if (!node) return null;
    var c = echarts.init(node, null, { locale: zh ? "ZH" : "EN", renderer: "canvas" });
    c.setOption(extend({
      animation: false,
      // Rich text on the canvas: names from imported data are never parsed as HTML.
      tooltip: { trigger: "axis", renderMode: "richText" },
      grid: { left: 8, right: 48, top: 16, bottom: 8, containLabel: true },
    }, option));
    if (onClick) {
      c.on("click", function (params) { onClick(params); });
      node.classList.add("clickable");
    }
    state.charts[id] = c;
    return c;
  }

  function go(url) { window.location.assign(url); }

  function drawTrend(d) {
    // Buckets that start after today have no reports yet, not zero reports: leave them out
    // rather than draw the line dropping to 0 at the end of a running month.
    var keys = d.trend.keys.filter(function (k) { return k <= cfg.today; });
    var counts = d.trend.totals.counts;
    chart("chart-trend", {
      xAxis: { type: "category", data: keys.map(bucketLabel), boundaryGap: false },
      yAxis: { type: "value", minInterval: 1 },
      series: [{
        name: L.reports, type: "line", data: keys.map(function (k) { return counts[k] || 0; }),
        symbolSize: 6, areaStyle: { opacity: 0.12 }, itemStyle: { color: "#b71c1c" },
      }],
    }, function (p) {
      var key = keys[p.dataIndex];
      var first = key < P.from ? P.from : key;
      var last = bucketEnd(key) > P.to ? P.to : bucketEnd(key);
      go(casesUrl({ from: first, to: last }));
    });
  }

  function barChart(id, keys, names, values, colours, onClick, horizontal) {
    var data = values.map(function (v, i) {
      return colours ? { value: v, itemStyle: { color: colours[i] } } : v;
    });
    var cat = { type: "category", data: names, axisLabel: { interval: 0 } };
    var val = { type: "value", minInterval: 1 };
    return chart(id, {
      tooltip: { trigger: "item", renderMode: "richText" },
      xAxis: horizontal ? val : extend(cat, { axisLabel: { interval: 0, rotate: names.length > 6 ? 30 : 0 } }),
      yAxis: horizontal ? extend(cat, { inverse: true }) : val,
      series: [{ type: "bar", data: data, itemStyle: { color: "#c62828" }, barMaxWidth: 28,
        label: { show: true, position: horizontal ? "right" : "top",
          formatter: function (p) { return fmtNum(p.value); } } }],
    }, function (p) { onClick(keys[p.dataIndex]); });
  }

  function drawBreakdowns(d) {
    var cats = d.category.keys.slice().sort(function (a, b) {
      return (d.category.totals.counts[b] || 0) - (d.category.totals.counts[a] || 0);
    });
    barChart("chart-categories", cats, cats.map(function (c) { return cfg.categories[c] || c; }),
      cats.map(function (c) { return d.category.totals.counts[c] || 0; }), null,
      function (code) { go(casesUrl({ category: code })); }, true);
    var sev = d.severity.keys;
    barChart("chart-severity", sev, sev.map(function (s) { return L.severities[s] || s; }),
      sev.map(function (s) { return d.severity.totals.counts[s] || 0; }),
      sev.map(function (s) { return SEVERITY_COLOURS[s] || "#888"; }),
      function (s) { go(casesUrl({ severity: s })); }, true);
    var st = d.status.keys;
    barChart("chart-status", st, st.map(function (s) { return L.statuses[s] || s; }),
      st.map(function (s) { return d.status.totals.counts[s] || 0; }), null,
      function (s) { go(casesUrl({ status: s })); }, true);
  }

  // --- child areas -------------------------------------------------------------------------
  function cell(row, content, className) {
    var td = el("td", className);
    if (content instanceof Node) td.appendChild(content); else td.textContent = content;
    row.appendChild(td);
    return td;
  }

  function rankChange(n) {
    if (n === null || n === undefined) return el("span", "muted", "—");
    if (n > 0) return el("span", "up", "▲" + fmtNum(n));
    if (n < 0) return el("span", "down", "▼" + fmtNum(-n));
    return el("span", "muted", "＝");
  }

  function drawChildren(d) {
    if (!d.children) return;
    var totals = {};
    d.children.rows.forEach(function (r) { totals[r.code] = r.total; });
    var rows;
    if (d.table) {
      rows = d.table.rows;
    } else {
      rows = d.children.rows.slice().sort(function (a, b) { return b.total - a.total || (a.code < b.code ? -1 : 1); });
    }
    var head = document.querySelector("#child-table thead");
    var body = document.querySelector("#child-table tbody");
    var tr = el("tr");
    var columns = d.table
      ? [L.rank, L.area, L.reports].concat(KPI_KEYS.map(function (k) { return L[k]; }), [L.score, L.rank_change])
      : [L.area, L.code, L.reports];
    columns.forEach(function (c) { tr.appendChild(el("th", null, c)); });
    head.appendChild(tr);
    rows.forEach(function (r) {
      var row = el("tr", "child-row");
      row.dataset.code = r.code;
      row.dataset.href = dashboardUrl(r.code);
      if (d.table) cell(row, r.rank === null ? "—" : fmtNum(r.rank), "num");
      cell(row, link(dashboardUrl(r.code), r.name, "drill"));
      if (!d.table) cell(row, r.code, "muted");
      cell(row, link(casesUrl({ within: r.code }), fmtNum(totals[r.code] || 0), "count"), "num");
      if (d.table) {
        KPI_KEYS.forEach(function (k) {
          var td = cell(row, fmtPct(r.kpis[k].value), "num");
          var delta = r.delta.kpis[k];
          if (delta !== null && delta !== undefined) {
            td.title = L.previous + ": " + fmtPct(r.previous.kpis[k].value);
          }
        });
        // No report in the period: no score and no rank (无数据), listed after the ranked.
        if (r.score === null) {
          var none = cell(row, L.no_data, "num muted no-data");
          none.title = L.no_data_help;
        } else {
          cell(row, r.score.toFixed(1), "num");
        }
        cell(row, rankChange(r.delta.rank_change), "num");
      }
      row.addEventListener("click", function (e) {
        if (e.target.closest("a")) return;
        go(row.dataset.href);
      });
      body.appendChild(row);
    });
    var byTotal = d.children.rows.slice().sort(function (a, b) { return b.total - a.total; }).slice(0, 30);
    // Horizontal bars, the top-ranked first: village names are long, and rotated labels under
    // vertical bars ran off the chart's left edge (the first, top-ranked one was cut off).
    // One row per area, so the chart grows with their number.
    var node = document.getElementById("chart-children");
    if (node) node.style.height = Math.max(240, 26 * byTotal.length + 40) + "px";
    barChart("chart-children", byTotal.map(function (r) { return r.code; }),
      byTotal.map(function (r) { return r.name; }), byTotal.map(function (r) { return r.total; }), null,
      function (code) { go(dashboardUrl(code)); }, true);
  }

  // --- loading -----------------------------------------------------------------------------
  var status = document.getElementById("dash-status");
  var base = { level: area.level, within: area.code, from: P.from, to: P.to };
  var kpiPeriod = P.kind === "range" ? { from: P.from, to: P.to } : { period: P.label };
  var jobs = {
    category: getJSON(cfg.urls.rollups, extend(base, { by: "category" })),
    severity: getJSON(cfg.urls.rollups, extend(base, { by: "severity" })),
    status: getJSON(cfg.urls.rollups, extend(base, { by: "status" })),
    trend: getJSON(cfg.urls.rollups, extend(base, { by: "period", bucket: P.bucket })),
  };
  if (cfg.child_level) {
    jobs.children = getJSON(cfg.urls.rollups, { level: cfg.child_level, within: area.code, from: P.from, to: P.to });
  }
  if (cfg.headline_kpi_level) {
    jobs.headline = getJSON(cfg.urls.kpis, extend(kpiPeriod, { level: cfg.headline_kpi_level, within: area.code }));
  }
  if (cfg.table_kpi_level) {
    jobs.table = cfg.table_kpi_level === cfg.headline_kpi_level
      ? jobs.headline
      : getJSON(cfg.urls.kpis, extend(kpiPeriod, { level: cfg.table_kpi_level, within: area.code }));
  }
  if (cfg.campaign) jobs.campaign = getJSON(cfg.urls.campaign, { within: area.code });

  var names = Object.keys(jobs);
  Promise.all(names.map(function (n) { return jobs[n]; })).then(function (answers) {
    var d = {};
    names.forEach(function (n, i) { d[n] = answers[i]; });
    state.data = d;
    drawFigures(d);
    drawTrend(d);
    drawBreakdowns(d);
    drawChildren(d);
    status.textContent = "";
    status.hidden = true;
    state.ready = true;
  }).catch(function (err) {
    state.failed = true;
    status.textContent = L.load_failed + " (" + err.message + ")";
    status.classList.add("error");
  });

  window.addEventListener("resize", function () {
    Object.keys(state.charts).forEach(function (k) { state.charts[k].resize(); });
  });

  // The period selector: a date range shows its two fields; any other choice applies at once.
  var select = document.getElementById("period-select");
  var range = document.getElementById("period-range");
  if (select && range) {
    select.addEventListener("change", function () {
      range.hidden = select.value !== "range";
      if (select.value !== "range") select.form.submit();
    });
    select.form.addEventListener("submit", function () {
      // Only the fields that apply go into the URL (a bookmark stays short and exact).
      if (select.value !== "range") range.querySelectorAll("input").forEach(function (i) { i.disabled = true; });
      else select.disabled = true;
    });
  }
})();

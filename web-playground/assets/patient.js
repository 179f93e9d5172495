// The patient view: a reference client of the Patient Portal Results API.
//
// Everything it shows comes from the public GraphQL API, as any frontend would get it:
//  1. one query (`PatientResults`) for the patient's results with their observations,
//     reference ranges and correction history — one round trip, no N+1;
//  2. one subscription (`resultReady`, protocol graphql-transport-ws on the same path) that
//     says when a new or corrected result is released; the view then runs the query again;
//  3. the token in `Authorization: Bearer …` on every HTTP request, and in the
//     `connection_init` payload of the WebSocket.
// In development, the picker lists the demo patients from /playground/tokens (that endpoint
// does not exist in production; a real client gets its token from the identity provider).
// No framework, no chart library: the trend is an SVG drawn below. Served from
// /playground/patient with the page's Content-Security-Policy (no inline script).
(function () {
  "use strict";

  var config = JSON.parse(document.getElementById("patient-config").textContent);
  var httpUrl = new URL(config.graphqlPath, location.href);
  var wsUrl = new URL(httpUrl.href);
  wsUrl.protocol = httpUrl.protocol === "https:" ? "wss:" : "ws:";
  var $ = function (id) { return document.getElementById(id); };

  // What the view needs, in one query. `results` lists the current version of each result
  // (released ones only, for a patient); `history` holds every version the viewer may see.
  var RESULTS = "query PatientResults {\n" +
    "  viewer { patient { id givenName familyName\n" +
    "    results(first: 50) { edges { node {\n" +
    "      id status issuedAt isCorrected correctionReason test { code displayName }\n" +
    "      observations { code displayName valueNumeric displayValue unit interpretation\n" +
    "        referenceRange { low high text } }\n" +
    "      history { id status issuedAt correctionReason observations { code displayValue } }\n" +
    "    } } } } }\n}";
  var LIVE = "subscription Live($patientId: ID!) { resultReady(patientId: $patientId) { eventId } }";

  var state = { token: null, results: [], selected: null, analyte: null, socket: null };

  // POST /graphql. GraphQL errors (e.g. UNAUTHENTICATED) come back with a 200 and an
  // `errors` list whose `extensions.code` is stable: show the message, keep the code.
  function graphql(query, variables) {
    return fetch(httpUrl.href, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/graphql-response+json, application/json;q=0.9",
        authorization: "Bearer " + state.token,
      },
      body: JSON.stringify({ query: query, variables: variables || {} }),
    }).then(function (response) { return response.json(); }).then(function (answer) {
      if (answer.errors) {
        var e = answer.errors[0];
        throw new Error(e.message + " (" + ((e.extensions || {}).code || "ERROR") + ")");
      }
      return answer.data;
    });
  }

  // The live part: graphql-transport-ws in a dozen lines. connection_init carries the token;
  // every `next` means a result was released, so the list is loaded again.
  function listen(patientId) {
    if (state.socket) {
      state.socket.close(1000);
    }
    var socket = new WebSocket(wsUrl.href, "graphql-transport-ws");
    state.socket = socket;
    socket.onopen = function () {
      socket.send(JSON.stringify({ type: "connection_init", payload: { Authorization: "Bearer " + state.token } }));
    };
    socket.onmessage = function (event) {
      var message = JSON.parse(event.data);
      if (message.type === "connection_ack") {
        socket.send(JSON.stringify({ id: "live", type: "subscribe", payload: { query: LIVE, variables: { patientId: patientId } } }));
        $("live").textContent = "live: new results appear as they are released";
      } else if (message.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      } else if (message.type === "next") {
        load();
      }
    };
    socket.onclose = function () {
      if (state.socket === socket) {
        $("live").textContent = "not listening";
      }
    };
  }

  function load() {
    return graphql(RESULTS).then(function (data) {
      var patient = data.viewer.patient;
      if (!patient) {
        throw new Error("this token is not a patient's");
      }
      state.results = patient.results.edges.map(function (e) { return e.node; });
      $("error").hidden = true;
      render();
      return patient;
    }).catch(showError);
  }

  function showError(error) {
    $("error").textContent = String(error.message || error);
    $("error").hidden = false;
  }

  // --- rendering -------------------------------------------------------------------------

  function el(tag, text, className) {
    var node = document.createElement(tag);
    if (text != null) node.textContent = text;
    if (className) node.className = className;
    return node;
  }
  function day(iso) {
    return new Date(iso).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
  }
  // HIGH, LOW, CRITICAL_* and ABNORMAL are flags; NORMAL is not.
  function flags(result) {
    return result.observations.map(function (o) { return o.interpretation; })
      .filter(function (f, i, all) { return f && f !== "NORMAL" && all.indexOf(f) === i; });
  }
  function range(r, unit) {
    if (!r) return "—";
    if (r.low != null && r.high != null) return r.low + "–" + r.high + (unit ? " " + unit : "");
    if (r.low != null) return "≥ " + r.low + (unit ? " " + unit : "");
    if (r.high != null) return "≤ " + r.high + (unit ? " " + unit : "");
    return r.text || "—";
  }

  function render() {
    renderList();
    renderDetail();
    renderAnalytes();
    renderTrend();
  }

  // Newest first; each result is a button (keyboard: Tab, Enter) that opens its detail.
  function renderList() {
    var sorted = state.results.slice().sort(function (a, b) { return b.issuedAt.localeCompare(a.issuedAt); });
    $("results").replaceChildren.apply($("results"), sorted.map(function (result) {
      var button = el("button", null, "result");
      button.type = "button";
      button.setAttribute("aria-pressed", String(state.selected === result.id));
      button.appendChild(el("span", result.test ? result.test.displayName : "Result", "name"));
      button.appendChild(el("span", day(result.issuedAt), "date"));
      button.appendChild(el("span", result.status, "status status-" + result.status));
      flags(result).forEach(function (f) { button.appendChild(el("span", f, "flag")); });
      if (result.isCorrected) button.appendChild(el("span", "corrected", "corrected"));
      button.addEventListener("click", function () {
        state.selected = result.id;
        render();
        $("detail-title").focus();
      });
      var li = el("li");
      li.appendChild(button);
      return li;
    }));
  }

  function renderDetail() {
    var result = state.results.filter(function (r) { return r.id === state.selected; })[0];
    $("detail").hidden = !result;
    if (!result) return;
    $("detail-title").textContent = result.test ? result.test.displayName : "Result";
    $("detail-meta").textContent = result.status + " · issued " + day(result.issuedAt) +
      (result.correctionReason ? " · corrected: " + result.correctionReason : "");
    $("observations").replaceChildren.apply($("observations"), result.observations.map(function (o) {
      var row = el("tr");
      row.appendChild(el("th", o.displayName)).scope = "row";
      row.appendChild(el("td", o.displayValue));
      row.appendChild(el("td", range(o.referenceRange, o.unit)));
      var flag = o.interpretation && o.interpretation !== "NORMAL";
      row.appendChild(el("td", o.interpretation || "", flag ? "flag" : null));
      return row;
    }));
    // The correction history, oldest first: what the patient was shown before, and why it changed.
    var versions = result.history.length > 1 ? result.history : [];
    $("history").replaceChildren.apply($("history"), versions.map(function (v) {
      var values = v.observations.map(function (o) { return o.displayValue; }).join(", ");
      return el("li", v.status + " · " + day(v.issuedAt) + " · " + values +
        (v.correctionReason ? " — " + v.correctionReason : ""));
    }));
  }

  // The analytes with at least one numeric value, by display name.
  function numericSeries() {
    var series = {};
    state.results.forEach(function (result) {
      result.observations.forEach(function (o) {
        if (o.valueNumeric == null) return;
        var s = series[o.code] || (series[o.code] = { name: o.displayName, unit: o.unit, range: o.referenceRange, points: [] });
        s.points.push({ at: new Date(result.issuedAt), value: o.valueNumeric, label: o.displayValue, corrected: result.isCorrected });
      });
    });
    return series;
  }

  function renderAnalytes() {
    var series = numericSeries();
    var codes = Object.keys(series).sort(function (a, b) {
      return series[b].points.length - series[a].points.length || series[a].name.localeCompare(series[b].name);
    });
    if (!state.analyte || !series[state.analyte]) state.analyte = codes[0] || null;
    $("analyte").replaceChildren.apply($("analyte"), codes.map(function (code) {
      var option = el("option", series[code].name + " (" + series[code].points.length + ")");
      option.value = code;
      option.selected = code === state.analyte;
      return option;
    }));
  }

  // The trend: values over time on a line, the reference range as a band, each point with
  // its value. Drawn as SVG elements (no innerHTML), sized by its viewBox.
  var SVG = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text != null) node.textContent = text;
    return node;
  }
  function renderTrend() {
    var figure = $("trend");
    var old = figure.querySelector("svg");
    if (old) old.remove();
    var s = numericSeries()[state.analyte];
    if (!s) {
      $("trend-caption").textContent = "No numeric results to chart yet.";
      return;
    }
    var points = s.points.sort(function (a, b) { return a.at - b.at; });
    var W = 640, H = 240, L = 48, R = 24, T = 16, B = 32;
    var values = points.map(function (p) { return p.value; });
    if (s.range && s.range.low != null) values.push(s.range.low);
    if (s.range && s.range.high != null) values.push(s.range.high);
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    var pad = (hi - lo) * 0.15 || 1;
    lo -= pad; hi += pad;
    var t0 = points[0].at.getTime(), t1 = points[points.length - 1].at.getTime();
    var x = function (t) { return t1 === t0 ? (L + W - R) / 2 : L + (t - t0) / (t1 - t0) * (W - L - R); };
    var y = function (v) { return T + (hi - v) / (hi - lo) * (H - T - B); };

    var chart = svg("svg", { viewBox: "0 0 " + W + " " + H, role: "img", "aria-labelledby": "trend-caption" });
    if (s.range && s.range.low != null && s.range.high != null) {
      chart.appendChild(svg("rect", { class: "band", x: L, width: W - L - R, y: y(s.range.high), height: y(s.range.low) - y(s.range.high) }));
      chart.appendChild(svg("text", { class: "band-label", x: W - R - 4, y: y(s.range.high) + 12, "text-anchor": "end" }, "reference range"));
    }
    [lo + pad, (lo + hi) / 2, hi - pad].forEach(function (v) {
      chart.appendChild(svg("text", { class: "tick", x: L - 6, y: y(v) + 4, "text-anchor": "end" }, v.toFixed(1)));
    });
    chart.appendChild(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    chart.appendChild(svg("polyline", { class: "line", points: points.map(function (p) { return x(p.at.getTime()) + "," + y(p.value); }).join(" ") }));
    // Labels: one value and one date per day (the day's last value), anchored inside the plot.
    var anchor = function (px) { return px < L + 40 ? "start" : px > W - R - 40 ? "end" : "middle"; };
    points.forEach(function (p, i) {
      var px = x(p.at.getTime());
      var dot = svg("circle", { class: "point" + (p.corrected ? " point-corrected" : ""), cx: px, cy: y(p.value), r: 5, "data-value": p.value });
      dot.appendChild(svg("title", {}, p.label + " on " + day(p.at) + (p.corrected ? " (corrected)" : "")));
      chart.appendChild(dot);
      var next = points[i + 1];
      if (next && day(next.at) === day(p.at)) return;
      chart.appendChild(svg("text", { class: "value", x: px, y: y(p.value) - 10, "text-anchor": anchor(px) }, String(p.value)));
      chart.appendChild(svg("text", { class: "tick", x: px, y: H - B + 16, "text-anchor": anchor(px) }, day(p.at)));
    });
    figure.appendChild(chart);
    // The caption is the chart's accessible text: every value, in words.
    $("trend-caption").textContent = s.name + (s.unit ? " (" + s.unit + ")" : "") + ", reference range " +
      range(s.range, s.unit) + ": " + points.map(function (p) { return p.label + " on " + day(p.at); }).join("; ") + ".";
  }

  // --- who is signed in --------------------------------------------------------------------

  function signIn(token) {
    state.token = token;
    state.selected = null;
    load().then(function (patient) {
      if (patient) listen(patient.id);
    });
  }

  $("analyte").addEventListener("change", function () {
    state.analyte = $("analyte").value;
    renderTrend();
  });
  $("who").addEventListener("submit", function (e) { e.preventDefault(); });

  if (config.tokensPath) {
    fetch(config.tokensPath).then(function (r) { return r.json(); }).then(function (answer) {
      var patients = answer.users.filter(function (u) { return u.patientId; });
      patients.forEach(function (u) {
        var option = el("option", u.label);
        option.value = u.token;
        $("user").appendChild(option);
      });
      $("user").addEventListener("change", function () { signIn($("user").value); });
      if (patients[0]) signIn(patients[0].token);
    }).catch(showError);
  } else {
    // No demo tokens (production): paste one.
    $("user").hidden = true;
    $("user").previousElementSibling.hidden = true;
    $("token").hidden = false;
    $("token").previousElementSibling.hidden = false;
    $("token").addEventListener("change", function () { signIn($("token").value.trim()); });
  }
})();

// Dashboard polling: every few seconds, ask /api/dashboard and refresh the figures, the
// charts (SVG drawn by the server) and the live feed. Text goes in with textContent only.
(function () {
  "use strict";
  var PERIOD_MS = Number(document.getElementById("dashboard").dataset.pollMs) || 5000;
  function cell(row, text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    td.textContent = text;
    row.appendChild(td);
    return td;
  }
  function set(id, text) {
    var el = document.getElementById(id);
    if (el) { el.textContent = text; }
  }
  function feedRow(t) {
    var tr = document.createElement("tr");
    var link = document.createElement("a");
    link.href = "/txns/" + encodeURIComponent(t.id);
    link.textContent = t.time;
    cell(tr, "").appendChild(link);
    cell(tr, t.tid);
    cell(tr, t.txn_type);
    cell(tr, t.pan_masked || "");
    cell(tr, t.amount, "num");
    cell(tr, t.response_code);
    var badge = document.createElement("span");
    badge.className = "badge s-" + t.status;
    badge.textContent = t.status;
    cell(tr, "").appendChild(badge);
    return tr;
  }
  function show(d) {
    set("dash-now", d.now);
    set("tile-approved", d.approved_last_minute);
    set("tile-declined", d.declined_last_minute);
    set("tile-online", d.terminals_online + "/" + d.terminals_total);
    set("tile-alerts", d.alerts_open);
    set("tile-held", d.held_open);
    document.getElementById("chart-minutes").innerHTML = d.charts.minutes;
    document.getElementById("chart-reasons").innerHTML = d.charts.reasons;
    var body = document.querySelector("#feed tbody");
    var rows = d.feed.map(feedRow);
    body.replaceChildren.apply(body, rows);
  }
  function poll() {
    fetch("/api/dashboard", {headers: {"X-Kassa-Poll": "1"}, credentials: "same-origin"})
      .then(function (r) {
        if (r.status === 401) { window.location = "/login?expired=1"; return null; }
        return r.ok ? r.json() : null;
      })
      .then(function (d) { if (d) { show(d); } })
      .catch(function () { /* the next poll tries again */ });
  }
  window.setInterval(poll, PERIOD_MS);
})();

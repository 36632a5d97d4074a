// The built-in dashboard: polls the control API once a second with the
// secret (from #token=... in the address, or the field, kept in
// localStorage) as a Bearer token, and draws what it reads.
"use strict";

const $ = (id) => document.getElementById(id);
const HISTORY = 300; // seconds of traffic the chart keeps
const COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];
const traffic = {}; // outbound -> {last: total bytes, rates: [bytes/s, ...]}

const fromHash = /(?:^#|&)token=([^&]*)/.exec(location.hash);
if (fromHash) localStorage.setItem("switchyard-token", decodeURIComponent(fromHash[1]));
$("token").value = localStorage.getItem("switchyard-token") || "";

// What a click did stays on the status line for a few seconds before the
// once-a-second "updated" takes it over again.
const NOTICE_MS = 5000;
let noticeUntil = 0;

function status(text, error) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

function notice(text, error) {
  status(text, error);
  noticeUntil = Date.now() + NOTICE_MS;
}

async function api(method, path) {
  const token = localStorage.getItem("switchyard-token");
  const headers = token ? { Authorization: "Bearer " + token } : {};
  const r = await fetch(path, { method, headers });
  const text = await r.text();
  const body = text && path !== "/metrics" ? JSON.parse(text) : text;
  if (!r.ok) throw new Error((body && body.message) || r.status + " " + r.statusText);
  return body;
}

function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + " " + units[i];
}

function age(start) {
  const s = Math.max(0, Math.round((Date.now() - Date.parse(start)) / 1000));
  return s < 60 ? s + "s" : s < 3600 ? Math.floor(s / 60) + "m" + (s % 60) + "s"
                                    : Math.floor(s / 3600) + "h" + Math.floor((s % 3600) / 60) + "m";
}

// One table row of text cells; `num` marks the columns aligned right.
function row(cells, num) {
  const tr = document.createElement("tr");
  cells.forEach((c, i) => {
    const td = document.createElement("td");
    if (c instanceof Node) td.appendChild(c); else td.textContent = c;
    if (num && num.includes(i)) td.className = "num";
    tr.appendChild(td);
  });
  return tr;
}

function hostPort(ip, port) {
  return (ip.includes(":") ? "[" + ip + "]" : ip) + ":" + port;
}

async function refreshConnections() {
  const d = await api("GET", "/connections");
  const rows = d.connections.map((c) => {
    const m = c.metadata;
    const close = document.createElement("button");
    close.textContent = "close";
    close.onclick = () => api("DELETE", "/connections/" + c.id)
      .then(() => { notice("connection " + c.id + " closed"); return tick(); },
            (e) => notice("close failed: " + e.message, true));
    return row([c.id, m.inbound || m.type, hostPort(m.sourceIP, m.sourcePort),
                hostPort(m.destinationIP, m.destinationPort), m.host, c.rule, c.chains.join(" "),
                bytes(c.upload), bytes(c.download), age(c.start), close], [7, 8, 9]);
  });
  $("connections").replaceChildren(...rows);
  $("count").textContent = "(" + rows.length + ")";
}

// The metrics lines this page reads: rule hits and bytes by outbound.
function parseMetrics(text) {
  const hits = {}, out = {};
  for (const line of text.split("\n")) {
    let m = /^switchyard_rule_hits_total\{rule="(\d+)"\} (\d+)/.exec(line);
    if (m) hits[m[1]] = Number(m[2]);
    m = /^switchyard_bytes_total\{outbound="([^"]*)",direction="\w+"\} (\d+)/.exec(line);
    if (m) out[m[1]] = (out[m[1]] || 0) + Number(m[2]);
  }
  return { hits, out };
}

async function refreshRules() {
  const [rules, metrics] = await Promise.all([api("GET", "/rules"), api("GET", "/metrics")]);
  const { hits, out } = parseMetrics(metrics);
  $("rules").replaceChildren(...rules.rules.map((r, i) => {
    const n = r.type === "Match" ? 0 : i + 1;
    return row([r.payload, r.proxy, hits[n] || 0], [2]);
  }));
  for (const [name, total] of Object.entries(out)) {
    const t = traffic[name] || (traffic[name] = { last: total, rates: [] });
    t.rates.push(Math.max(0, total - t.last));
    t.last = total;
    if (t.rates.length > HISTORY) t.rates.shift();
  }
  drawChart();
}

function drawChart() {
  const canvas = $("chart"), g = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 4;
  g.clearRect(0, 0, w, h);
  const names = Object.keys(traffic);
  const max = Math.max(1, ...names.flatMap((n) => traffic[n].rates));
  names.forEach((name, k) => {
    const rates = traffic[name].rates;
    g.strokeStyle = COLOURS[k % COLOURS.length];
    g.lineWidth = 2;
    g.beginPath();
    rates.forEach((r, i) => {
      const x = w - (rates.length - 1 - i) * (w / HISTORY);
      const y = h - pad - (r / max) * (h - 2 * pad);
      i ? g.lineTo(x, y) : g.moveTo(x, y);
    });
    g.stroke();
  });
  g.fillStyle = "#666";
  g.fillText("max " + bytes(max) + "/s", 6, 14);
  $("legend").replaceChildren(...names.map((name, k) => {
    const span = document.createElement("span"), swatch = document.createElement("i");
    swatch.style.background = COLOURS[k % COLOURS.length];
    const rates = traffic[name].rates;
    span.append(swatch, name + " " + bytes(rates[rates.length - 1] || 0) + "/s, peak " +
                bytes(Math.max(0, ...rates)) + "/s");
    return span;
  }));
}

async function refreshPolicy() {
  const [c, v] = await Promise.all([api("GET", "/configs"), api("GET", "/version")]);
  $("version").textContent = v.version;
  const keys = ["path", "mode", "log-level", "redir-port", "tproxy-port", "socks-port", "port", "routing-mark"];
  $("policy").replaceChildren(...keys.filter((k) => c[k] !== undefined && c[k] !== 0)
    .map((k) => row([k, c[k]])));
}

async function tick() {
  try {
    await Promise.all([refreshConnections(), refreshRules()]);
    if ($("status").className !== "error" && Date.now() > noticeUntil)
      status("updated " + new Date().toLocaleTimeString());
  } catch (e) {
    status(e.message, true);
  }
}

$("save").onclick = () => {
  localStorage.setItem("switchyard-token", $("token").value);
  status("");
  refreshPolicy().catch((e) => status(e.message, true));
  tick();
};

$("reload").onclick = async () => {
  try {
    await api("PUT", "/configs");
    notice("policy reloaded");
    await refreshPolicy();
  } catch (e) {
    notice("reload failed: " + e.message, true);
  }
};

refreshPolicy().catch((e) => status(e.message, true));
tick();
setInterval(tick, 1000);

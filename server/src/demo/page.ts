/**
 * The demo page (`GET /demo` when EDITION_DEMO_PAGE=1): a SimplePush client in the browser.
 * It connects to the node that served it, says hello (keeping its UAID and channel in
 * localStorage, so a reload is the same client), registers one channel, shows its endpoint
 * and a ready `curl` line, and lists notifications as they arrive, acking each.
 *
 * Kept as a string in a module so that `tsc` carries it into dist/ and the image with the
 * rest of the node; no build step for assets. Versions are shown exactly (u64): the JSON
 * reviver reads their source text where the browser offers it.
 */
export const DEMO_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Edition demo client</title>
<style>
  body { font: 15px/1.45 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  h1 { font-size: 1.4rem; margin-bottom: .2rem; }
  code, pre { font: 13px/1.4 ui-monospace, monospace; background: #f4f4f4; border-radius: 4px; }
  pre { padding: .6rem .8rem; white-space: pre-wrap; word-break: break-all; }
  #status[data-state="ready"] { color: #176b2c; }
  #status[data-state="error"] { color: #a4161a; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: .25rem .5rem; border-bottom: 1px solid #ddd; font-size: 14px; }
  button { font: inherit; margin-left: .5rem; }
  .muted { color: #666; font-size: 13px; }
</style>
</head>
<body>
<h1>Edition demo client</h1>
<p class="muted">A SimplePush client running in this page, connected to the node that served it.
Anyone with the endpoint below can wake it: that is the point of an endpoint.</p>
<p>Status: <span id="status" data-state="connecting">connecting…</span></p>
<p>UAID: <code id="uaid">–</code></p>
<p>Endpoint:</p>
<pre id="endpoint">–</pre>
<p>Send it a notification from a terminal:<button id="copy" type="button">copy</button></p>
<pre id="curl">–</pre>
<p class="muted">\`data\` reaches a connected client only; an update sent while this page is closed
is kept (the PUT answers 202) and shown here, without its data, when the page comes back.</p>
<h2 style="font-size:1.1rem">Notifications</h2>
<table><thead><tr><th>received</th><th>version</th><th>data</th><th>channel</th></tr></thead>
<tbody id="notifications"></tbody></table>
<p><button id="forget" type="button" style="margin:0">forget this client</button>
<span class="muted">(a new UAID and endpoint on reload)</span></p>
<script>
"use strict";
const KEY = "edition-demo-client";
const $ = (id) => document.getElementById(id);
const saved = JSON.parse(localStorage.getItem(KEY) || "{}");
let uaid = typeof saved.uaid === "string" ? saved.uaid : "";
let channelID = typeof saved.channelID === "string" ? saved.channelID : "";
let endpoint = typeof saved.endpoint === "string" ? saved.endpoint : "";

function status(text, state) { $("status").textContent = text; $("status").dataset.state = state; }
function save() { localStorage.setItem(KEY, JSON.stringify({ uaid, channelID, endpoint })); }
function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
}
// Versions are unsigned 64-bit: keep their digits (JSON.parse source text where supported).
function parse(text) {
  return JSON.parse(text, function (key, value, context) {
    return key === "version" && context && typeof context.source === "string" ? context.source : value;
  });
}
function showEndpoint() {
  $("endpoint").textContent = endpoint || "–";
  $("curl").textContent = endpoint ? "curl -X PUT -d version=5 " + endpoint : "–";
}

let attempt = 0;
function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/", ["push-notification"]);
  const send = (o) => ws.send(JSON.stringify(o));
  ws.onopen = () => send({ messageType: "hello", uaid, channelIDs: channelID ? [channelID] : [] });
  ws.onmessage = (ev) => {
    let m;
    try { m = parse(ev.data); } catch { return; }
    if (m.messageType === "hello") {
      if (m.status === 307 && typeof m.redirect === "string") { status("redirected to " + m.redirect + " (open the demo page there)", "error"); return; }
      if (m.status !== 200) { status("hello refused: " + ev.data, "error"); return; }
      attempt = 0;
      if (m.uaid !== uaid) { uaid = m.uaid; channelID = ""; endpoint = ""; }
      $("uaid").textContent = uaid;
      if (channelID && endpoint) { showEndpoint(); status("connected, waiting for notifications", "ready"); }
      else { channelID = uuid(); send({ messageType: "register", channelID }); }
      save();
    } else if (m.messageType === "register") {
      if (m.status !== 200) { status("register refused: " + ev.data, "error"); return; }
      endpoint = m.pushEndpoint; save(); showEndpoint();
      status("connected, waiting for notifications", "ready");
    } else if (m.messageType === "notification" && Array.isArray(m.updates)) {
      for (const u of m.updates) {
        const tr = document.createElement("tr");
        tr.className = "notification";
        for (const v of [new Date().toLocaleTimeString(), String(u.version), u.data === undefined ? "" : String(u.data), String(u.channelID)]) {
          const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
        }
        $("notifications").prepend(tr);
      }
      send({ messageType: "ack", updates: m.updates.map((u) => ({ channelID: u.channelID, version: String(u.version) })) });
    }
  };
  ws.onclose = (ev) => {
    attempt = Math.min(attempt + 1, 6);
    const delay = Math.round(500 * 2 ** (attempt - 1) * (0.5 + Math.random() / 2));
    status("disconnected (code " + ev.code + "); reconnecting in " + (delay / 1000).toFixed(1) + " s", "error");
    setTimeout(connect, delay);
  };
}

$("copy").onclick = () => navigator.clipboard && navigator.clipboard.writeText($("curl").textContent);
$("forget").onclick = () => { localStorage.removeItem(KEY); location.reload(); };
showEndpoint();
connect();
</script>
</body>
</html>
`;

// The well-behaved client, on its own thread so that the attackers' work in the test
// process never delays its clock: says hello, then pings (`{}`) every `everyMs` and keeps
// each round trip. Messages from the parent: "take" → replies with the samples so far
// (and clears them); "stop" → closes and exits.
import { parentPort, workerData } from "node:worker_threads";
import WebSocket from "ws";

const { url, everyMs } = workerData;
const ws = new WebSocket(url, [], { perMessageDeflate: false, localAddress: "127.0.0.1" });
let samples = [];
let sentAt = 0;
let waiting = false;
let helloed = false;
let closedCode;
let slow = 0;
ws.on("error", () => {});
ws.on("close", (code) => {
  closedCode = code;
});
ws.on("open", () => ws.send(JSON.stringify({ messageType: "hello", uaid: "", channelIDs: [] })));
ws.on("message", (d) => {
  const text = d.toString();
  if (!helloed) {
    helloed = true;
    parentPort.postMessage({ ready: true });
    return;
  }
  if (text === "{}" && waiting) {
    samples.push(performance.now() - sentAt);
    waiting = false;
  }
});
const timer = setInterval(() => {
  if (!helloed || ws.readyState !== WebSocket.OPEN) return;
  if (waiting) {
    if (performance.now() - sentAt > 5000) slow++;
    return;
  }
  waiting = true;
  sentAt = performance.now();
  ws.send("{}");
}, everyMs);
parentPort.on("message", (m) => {
  if (m === "take") {
    parentPort.postMessage({ samples, closedCode, slow });
    samples = [];
  } else if (m === "stop") {
    clearInterval(timer);
    ws.terminate();
    parentPort.close();
  }
});

#!/usr/bin/env node
/**
 * A small SimplePush client for people: connects, says hello, registers N channels, prints
 * their endpoints, then prints every notification as it arrives and acks it.
 *
 *   npm run client -- [--url ws://localhost:8080] [--channels 1] [--state FILE]
 *   npm run client -- --webpush …   (Web Push mode: webpush.ts)
 *
 * With --state, the UAID and channels are saved to FILE and reused next time, so updates
 * PUT while the client was away are flushed when it comes back.
 */
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { parseJson } from "../protocol/json.js";
import { runIfWebPush } from "./webpush.js";

// `--webpush`: the Web Push mode (webpush.ts) takes over the process; it never returns.
await runIfWebPush(process.argv.slice(2));

interface State {
  uaid: string;
  channels: Record<string, string>;
}

const { values } = parseArgs({
  options: {
    url: { type: "string", default: "ws://localhost:8080" },
    channels: { type: "string", default: "1" },
    state: { type: "string" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  process.stdout.write(
    "usage: edition-client [--url ws://host:port] [--channels N] [--state FILE]\n",
  );
  process.exit(0);
}
const wanted = Number(values.channels);
if (!Number.isInteger(wanted) || wanted < 0 || wanted > 1000) {
  process.stderr.write("--channels must be an integer from 0 to 1000\n");
  process.exit(2);
}
let state: State = { uaid: "", channels: {} };
if (values.state !== undefined && existsSync(values.state)) {
  state = JSON.parse(readFileSync(values.state, "utf8")) as State;
}
const save = () => {
  if (values.state !== undefined)
    writeFileSync(values.state, `${JSON.stringify(state, null, 2)}\n`);
};

let ws: WebSocket;
let redirects = 0;
const send = (o: unknown) => ws.send(JSON.stringify(o));
const keepalive = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send("{}"), 60_000);

function open(url: string): void {
  ws = new WebSocket(url, ["push-notification"]);
  ws.on("open", () => {
    send({ messageType: "hello", uaid: state.uaid, channelIDs: Object.keys(state.channels) });
  });
  ws.on("message", (raw) => onMessage(raw.toString()));
  ws.on("close", (code, reason) => {
    clearInterval(keepalive);
    console.log(`disconnected (code ${code}${reason.length ? `, ${reason}` : ""})`);
  });
  ws.on("error", (err) => {
    console.error(`cannot connect to ${url}: ${err.message}`);
    process.exitCode = 1;
  });
}

function onMessage(raw: string): void {
  const m = parseJson(raw) as Record<string, unknown>;
  switch (m.messageType) {
    case "hello": {
      if (m.status === 307 && typeof m.redirect === "string" && redirects < 5) {
        // A balancer, or a node with no room, sends us to a node that has some.
        redirects++;
        console.log(`redirected to ${m.redirect}`);
        ws.removeAllListeners("close");
        ws.close();
        open(m.redirect);
        return;
      }
      if (m.status !== 200) {
        fail(`hello refused: ${raw}`);
        return;
      }
      if (m.uaid !== state.uaid) state = { uaid: String(m.uaid), channels: {} };
      console.log(`connected as uaid ${state.uaid}`);
      const have = Object.keys(state.channels).length;
      for (const [id, endpoint] of Object.entries(state.channels))
        console.log(`channel ${id}\n  endpoint ${endpoint}`);
      for (let i = have; i < wanted; i++)
        send({ messageType: "register", channelID: randomUUID() });
      if (have >= wanted) ready();
      save();
      return;
    }
    case "register": {
      if (m.status !== 200) {
        fail(`register refused: ${raw}`);
        return;
      }
      state.channels[String(m.channelID)] = String(m.pushEndpoint);
      console.log(`channel ${m.channelID}\n  endpoint ${m.pushEndpoint}`);
      save();
      if (Object.keys(state.channels).length >= wanted) ready();
      return;
    }
    case "notification": {
      const updates = m.updates as { channelID: string; version: number | bigint; data?: string }[];
      for (const u of updates) {
        const data = u.data === undefined ? "" : ` data=${JSON.stringify(u.data)}`;
        console.log(
          `${new Date().toISOString()} notification channel=${u.channelID} version=${u.version}${data}`,
        );
      }
      // Echo the versions as strings: exact for every u64.
      send({
        messageType: "ack",
        updates: updates.map((u) => ({ channelID: u.channelID, version: String(u.version) })),
      });
      return;
    }
    default:
      if (m.status !== undefined && m.status !== 200) fail(`server said: ${raw}`);
  }
}

let announced = false;
function ready(): void {
  if (announced) return;
  announced = true;
  const first = Object.values(state.channels)[0];
  if (first !== undefined)
    console.log(`\nwaiting for notifications; try:\n  curl -X PUT -d version=5 ${first}\n`);
}

function fail(msg: string): void {
  console.error(msg);
  process.exitCode = 1;
  ws.close();
}

process.on("SIGINT", () => ws.close(1000));
open(values.url);

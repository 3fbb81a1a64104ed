/**
 * The Web Push mode of `npm run client` (`--webpush`): a user agent like Firefox's push
 * client. It says hello with `use_webpush`, subscribes, makes its own P-256 key pair and
 * auth secret, prints a subscription JSON any Web Push library can send to, then decrypts
 * (aes128gcm, `ece.ts`) and prints every message and acks it by message id.
 *
 *   npm run client -- --webpush [--url wss://host:port] [--key <VAPID public key>]
 *                      [--ca ca.pem] [--state FILE]
 *
 * `--key` subscribes with an application server key (only pushes signed by it are
 * accepted); `--ca` trusts a private CA for wss://; `--state` keeps the UAID, subscription
 * and keys across runs, so messages pushed while the client was away arrive when it is back.
 */
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import WebSocket from "ws";
import { decryptAes128gcm, restoreUserAgentKeys, type UserAgentKeys } from "./ece.js";

interface State {
  uaid: string;
  channelID: string;
  endpoint: string;
  privateKey: string;
  auth: string;
}

const USAGE =
  "usage: edition-client --webpush [--url wss://host:port] [--key VAPID_PUBLIC_KEY] [--ca FILE] [--state FILE]\n";

/** Runs the Web Push client when `--webpush` is among `args`; otherwise returns at once. */
export async function runIfWebPush(args: readonly string[]): Promise<void> {
  if (!args.includes("--webpush")) return;
  // Never settles: the client owns the process and exits by itself.
  await new Promise<never>(() => main(args));
}

function main(args: readonly string[]): void {
  let parsed: ReturnType<typeof parseWebPushArgs>;
  try {
    parsed = parseWebPushArgs(args);
  } catch (err) {
    // A usage mistake is one line and exit 2, as in the SimplePush mode (cli.ts).
    process.stderr.write(`edition-client: ${(err as Error).message} (see --webpush --help)\n`);
    process.exit(2);
  }
  run(parsed.values);
}

function parseWebPushArgs(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    options: {
      webpush: { type: "boolean" },
      url: { type: "string", default: "ws://localhost:8080" },
      key: { type: "string" },
      ca: { type: "string" },
      state: { type: "string" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
}

function run(values: ReturnType<typeof parseWebPushArgs>["values"]): void {
  if (values.help) {
    process.stdout.write(USAGE);
    process.exit(0);
  }
  let state: State | undefined;
  if (values.state !== undefined && existsSync(values.state))
    state = JSON.parse(readFileSync(values.state, "utf8")) as State;
  let keys: UserAgentKeys = restoreUserAgentKeys(
    state?.privateKey,
    state
      ? Buffer.from(state.auth, "base64url")
      : Buffer.from(randomUUID().replaceAll("-", ""), "hex"),
  );
  const save = () => {
    if (values.state !== undefined && state !== undefined)
      writeFileSync(values.state, `${JSON.stringify(state, null, 2)}\n`);
  };

  const ws = new WebSocket(values.url, ["push-notification"], {
    ca: values.ca === undefined ? undefined : readFileSync(values.ca),
  });
  const send = (o: unknown) => ws.send(JSON.stringify(o));
  const keepalive = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send("{}"), 60_000);
  let channelID = state?.channelID ?? randomUUID();

  ws.on("open", () => {
    send({
      messageType: "hello",
      broadcasts: {},
      use_webpush: true,
      ...(state ? { uaid: state.uaid } : {}),
    });
  });
  ws.on("message", (raw) => {
    const m = JSON.parse(raw.toString()) as Record<string, unknown>;
    if (m.messageType === "hello") {
      if (m.status !== 200 || m.use_webpush !== true) return fail(`hello refused: ${raw}`);
      if (state !== undefined && m.uaid === state.uaid) {
        console.log(`connected as uaid ${state.uaid}`);
        announce(state.endpoint);
        return;
      }
      // A new UAID: the server forgot us (or first run): subscribe afresh with new keys.
      keys = restoreUserAgentKeys(undefined, keys.authSecret);
      state = undefined;
      channelID = randomUUID();
      console.log(`connected as uaid ${m.uaid}`);
      send({
        messageType: "register",
        channelID,
        ...(values.key === undefined ? {} : { key: values.key }),
      });
      (ws as unknown as { uaid: string }).uaid = String(m.uaid);
      return;
    }
    if (m.messageType === "register") {
      if (m.status !== 200) return fail(`register refused: ${raw}`);
      state = {
        uaid: (ws as unknown as { uaid: string }).uaid,
        channelID,
        endpoint: String(m.pushEndpoint),
        privateKey: keys.ecdh.getPrivateKey().toString("base64url"),
        auth: keys.authSecret.toString("base64url"),
      };
      save();
      announce(state.endpoint);
      return;
    }
    if (m.messageType === "notification") {
      let code = 100;
      let text = "(no payload)";
      if (typeof m.data === "string") {
        const encoding = (m.headers as { encoding?: string } | undefined)?.encoding;
        try {
          if (encoding !== "aes128gcm") throw new Error(`cannot decrypt ${encoding} here`);
          text = JSON.stringify(
            decryptAes128gcm(keys, Buffer.from(m.data, "base64url")).toString("utf8"),
          );
        } catch (err) {
          code = 101;
          text = `(undecryptable: ${(err as Error).message})`;
        }
      }
      console.log(`${new Date().toISOString()} push ${m.version} ${text}`);
      send({ messageType: "ack", updates: [{ channelID: m.channelID, version: m.version, code }] });
    }
  });
  ws.on("close", (code, reason) => {
    clearInterval(keepalive);
    console.log(`disconnected (code ${code}${reason.length ? `, ${reason}` : ""})`);
    process.exit(process.exitCode ?? 0);
  });
  ws.on("error", (err) => {
    console.error(`cannot connect to ${values.url}: ${err.message}`);
    process.exitCode = 1;
  });
  process.on("SIGINT", () => ws.close(1000));

  function announce(endpoint: string): void {
    const subscription = {
      endpoint,
      keys: {
        p256dh: keys.publicKey.toString("base64url"),
        auth: keys.authSecret.toString("base64url"),
      },
    };
    console.log(`subscription ${JSON.stringify(subscription)}`);
    console.log("\nwaiting for pushes; send one with the web-push library, e.g.:");
    console.log(
      `  npx web-push send-notification --endpoint=${endpoint} --key=${subscription.keys.p256dh} --auth=${subscription.keys.auth} --payload=hello --ttl=60${values.key === undefined ? "" : " --vapid-subject=mailto:you@example.com --vapid-pubkey=<public> --vapid-pvtkey=<private>"}\n`,
    );
  }

  function fail(msg: string): void {
    console.error(msg);
    process.exitCode = 1;
    ws.close();
  }
}

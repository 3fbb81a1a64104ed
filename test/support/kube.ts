/**
 * A real Kubernetes control plane for tests, the envtest way: `etcd` + `kube-apiserver` on
 * ephemeral loopback ports, no kubelet, no controller-manager. `startKube()` resolves once
 * `/readyz` answers ok (polled with a deadline) and the `default` namespace exists.
 *
 *   const kube = await startKube({ t });          // stopped when the test ends
 *   kc.loadFromFile(kube.kubeconfigPath);         // @kubernetes/client-node
 *   await kube.kubectl(["get", "ns"]);            // kubectl against this server only
 *   await applyCrds(kube, "charts/edition/crds"); // server-side apply + wait Established
 *
 * What the server is: authentication by a static bearer token (user `edition-admin`, group
 * `system:masters`, so full access), authorization RBAC (so tests can check least privilege
 * with `--as`/SubjectAccessReview), service-account tokens signed by a generated key, serving
 * certificate self-signed by the apiserver into its cert dir. Admission: the defaults minus
 * `ServiceAccount` (no controller-manager creates the `default` ServiceAccounts it demands).
 * Nothing runs pods: Deployments and StatefulSets are stored, never scheduled.
 *
 * Binaries come from `scripts/install-kube-tools.sh` (tools dir: $EDITION_TOOLS_DIR or
 * ~/.cache/edition/tools), else from PATH (etcd: Debian's etcd-server). `kubeSkip()` gives a
 * `skip` reason when they are missing on a developer machine; under CI (`CI` set) it never
 * skips, so a missing binary fails the run loudly instead of passing it silently.
 *
 * Cleanup is layered like `node.ts`: `t.after`, `stop()`, a SIGKILL of survivors on exit,
 * and a shell watchdog around each server that kills it when the test process's pipe to it
 * closes (the test process died without running exit hooks).
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { accessSync, constants } from "node:fs";
import { readFile, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";
import { scratchDir } from "./scratch.js";

export type KubeTool = "kube-apiserver" | "etcd" | "kubectl" | "helm";

export interface KubeOptions {
  /** Stop the control plane when this test ends (node:test `TestContext` or anything with `after`). */
  readonly t?: { after(fn: () => unknown): void };
  /** Deadline for etcd + apiserver to become ready. */
  readonly startTimeoutMs?: number;
  /** Extra `--flag=value` arguments for kube-apiserver (appended; later flags win). */
  readonly apiserverArgs?: readonly string[];
}

export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface Kube {
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** A kubeconfig (context `edition-test`) holding the server, its CA and the admin token. */
  readonly kubeconfigPath: string;
  /** Bearer token of `edition-admin` (group `system:masters`). */
  readonly token: string;
  /** PEM of the CA that signed the serving certificate. */
  readonly caData: string;
  readonly caPath: string;
  /** Temp dir holding certs, etcd data and kubectl's cache; removed by `stop()`. */
  readonly dir: string;
  /**
   * Runs kubectl against this server only (own kubeconfig and discovery cache). Rejects on a
   * non-zero exit unless `allowFailure`; the error message carries kubectl's stderr.
   */
  kubectl(
    args: readonly string[],
    opts?: { input?: string; allowFailure?: boolean; timeoutMs?: number },
  ): Promise<RunResult>;
  /** SIGTERM apiserver then etcd (SIGKILL past a deadline), then removes `dir`. Idempotent. */
  stop(): Promise<void>;
}

const INSTALL_HINT = "run scripts/install-kube-tools.sh (etcd: scripts/install-system-deps.sh)";

/** Where install-kube-tools.sh puts the binaries. */
export function toolsDir(): string {
  return process.env.EDITION_TOOLS_DIR || join(homedir(), ".cache", "edition", "tools");
}

/** The tool's path: the tools dir first (the pinned version), then PATH; undefined if absent. */
export function findTool(name: KubeTool): string | undefined {
  const dirs = [toolsDir(), ...(process.env.PATH ?? "").split(delimiter).filter(Boolean)];
  for (const dir of dirs) {
    const p = join(dir, name);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function requireTool(name: KubeTool): string {
  const p = findTool(name);
  if (p === undefined)
    throw new Error(`${name} not found in ${toolsDir()} or PATH: ${INSTALL_HINT}`);
  return p;
}

/**
 * For node:test's `skip` option: a reason when one of `tools` is missing, else `false`.
 * Never skips under CI, where the tools are installed first: the test then fails with the
 * missing tool's name instead.
 */
export function kubeSkip(
  tools: readonly KubeTool[] = ["kube-apiserver", "etcd", "kubectl"],
): string | false {
  const missing = tools.filter((t) => findTool(t) === undefined);
  if (missing.length === 0 || process.env.CI) return false;
  return `${missing.join(", ")} not installed: ${INSTALL_HINT}`;
}

const running = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

/*
 * Runs "$@" under a watchdog: SIGTERM is passed on to it, and when our stdin (a pipe held by
 * the test process) reaches EOF because the test process is gone, the server is SIGKILLed.
 * fd 3 keeps that pipe: an asynchronous list's stdin is /dev/null unless redirected.
 */
export const WATCHDOG = `
exec 3<&0 </dev/null
"$@" &
child=$!
trap 'kill -TERM "$child" 2>/dev/null' TERM INT
{ cat <&3 >/dev/null; kill -KILL "$child" 2>/dev/null; } &
status=0
while kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done
exit "$status"
`;

/** A server process whose output is kept (the tail goes into error messages). */
class Server {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private output = "";
  private done = false;

  constructor(
    readonly name: string,
    bin: string,
    args: readonly string[],
  ) {
    this.child = spawn("sh", ["-c", WATCHDOG, name, bin, ...args], {
      stdio: ["pipe", "pipe", "pipe"],
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? "/" },
    });
    running.add(this.child);
    const keep = (chunk: Buffer) => {
      // Bounded: the tail is what explains a failure.
      this.output = (this.output + chunk.toString()).slice(-64 * 1024);
    };
    this.child.stdout!.on("data", keep);
    this.child.stderr!.on("data", keep);
    this.exited = new Promise((resolve) => {
      this.child.once("close", (code, signal) => {
        this.done = true;
        running.delete(this.child);
        this.child.stdin?.destroy();
        resolve({ code, signal });
      });
    });
  }

  get hasExited(): boolean {
    return this.done;
  }

  tail(lines = 40): string {
    return this.output.split("\n").slice(-lines).join("\n");
  }

  async stop(timeoutMs = 15_000): Promise<void> {
    if (this.done) return;
    this.child.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<"late">((r) => {
      timer = setTimeout(() => r("late"), timeoutMs);
    });
    const r = await Promise.race([this.exited, late]);
    clearTimeout(timer);
    if (r === "late") {
      this.child.stdin?.destroy(); // the watchdog SIGKILLs the server
      this.child.kill("SIGKILL");
      await this.exited;
    }
  }
}

/** A port free right now on 127.0.0.1 (the servers cannot be told to pick their own). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() =>
        typeof addr === "object" && addr !== null
          ? resolve(addr.port)
          : reject(new Error("no port")),
      );
    });
  });
}

/** Polls `probe` until it returns true, the server exits, or the deadline passes. */
async function until(
  what: string,
  deadline: number,
  servers: readonly Server[],
  probe: () => Promise<boolean>,
): Promise<void> {
  for (;;) {
    for (const s of servers) {
      if (s.hasExited) throw new Error(`${s.name} exited before ${what}; output:\n${s.tail()}`);
    }
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) {
      const tails = servers.map((s) => `--- ${s.name}:\n${s.tail()}`).join("\n");
      throw new Error(`no ${what} before the deadline; output:\n${tails}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** GET `url`; true on a 200. Any error or other status is "not yet". */
function httpGetOk(url: string, opts: { ca?: string; token?: string } = {}): Promise<boolean> {
  return new Promise((resolve) => {
    const headers: Record<string, string> = opts.token
      ? { authorization: `Bearer ${opts.token}` }
      : {};
    const get = url.startsWith("https:") ? httpsRequest : httpRequest;
    const req = get(url, { method: "GET", headers, ca: opts.ca, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end();
  });
}

/**
 * Starts a server on ports picked by `freePort`, again on fresh ports (at most 3 times) when
 * another process took one in between; any other failure is thrown at once.
 */
async function withFreshPorts<T>(start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (attempt >= 3 || !/address already in use/.test(String(err))) throw err;
    }
  }
}

function startEtcd(dir: string, deadline: number): Promise<{ etcd: Server; url: string }> {
  const bin = requireTool("etcd");
  return withFreshPorts(async () => {
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    const url = `http://127.0.0.1:${clientPort}`;
    const peer = `http://127.0.0.1:${peerPort}`;
    const etcd = new Server("etcd", bin, [
      "--name=edition-test",
      `--data-dir=${join(dir, `etcd-${clientPort}`)}`,
      `--listen-client-urls=${url}`,
      `--advertise-client-urls=${url}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=edition-test=${peer}`,
      "--log-level=warn",
      "--logger=zap",
    ]);
    try {
      await until("etcd /health", deadline, [etcd], () => httpGetOk(`${url}/health`));
    } catch (err) {
      await etcd.stop(2000);
      throw err;
    }
    return { etcd, url };
  });
}

function kubeconfig(server: string, caData: string, token: string): string {
  // JSON is YAML: every kubeconfig reader accepts it.
  return JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "edition-test",
          cluster: { server, "certificate-authority-data": Buffer.from(caData).toString("base64") },
        },
      ],
      users: [{ name: "edition-admin", user: { token } }],
      contexts: [
        {
          name: "edition-test",
          context: { cluster: "edition-test", user: "edition-admin", namespace: "default" },
        },
      ],
      "current-context": "edition-test",
    },
    null,
    2,
  );
}

/** Starts etcd and kube-apiserver; see the module comment. */
export async function startKube(opts: KubeOptions = {}): Promise<Kube> {
  const apiserverBin = requireTool("kube-apiserver");
  const deadline = Date.now() + (opts.startTimeoutMs ?? 90_000);
  const dir = scratchDir("edition-kube-");
  const servers: Server[] = [];
  let stopped: Promise<void> | undefined;
  const stop = () => {
    stopped ??= (async () => {
      for (const s of [...servers].reverse()) await s.stop();
      await rm(dir, { recursive: true, force: true });
    })();
    return stopped;
  };
  opts.t?.after(stop);

  try {
    const { etcd, url: etcdUrl } = await startEtcd(dir, deadline);
    servers.push(etcd);

    const token = randomBytes(24).toString("hex");
    await writeFile(
      join(dir, "tokens.csv"),
      `${token},edition-admin,edition-admin,"system:masters"\n`,
      {
        mode: 0o600,
      },
    );
    const sa = generateKeyPairSync("rsa", { modulusLength: 2048 });
    await writeFile(join(dir, "sa.key"), sa.privateKey.export({ type: "pkcs8", format: "pem" }), {
      mode: 0o600,
    });
    await writeFile(join(dir, "sa.pub"), sa.publicKey.export({ type: "spki", format: "pem" }));

    const certDir = join(dir, "pki");
    const crtPath = join(certDir, "apiserver.crt");
    let caData = "";
    const { server, apiserver } = await withFreshPorts(async () => {
      const port = await freePort();
      const server = `https://127.0.0.1:${port}`;
      const apiserver = new Server("kube-apiserver", apiserverBin, [
        `--etcd-servers=${etcdUrl}`,
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        `--secure-port=${port}`,
        // No --tls-cert-file: the apiserver writes a self-signed pair (CA + serving cert for
        // 127.0.0.1/localhost) into --cert-dir; its .crt is the kubeconfig's CA.
        `--cert-dir=${certDir}`,
        `--token-auth-file=${join(dir, "tokens.csv")}`,
        "--authorization-mode=RBAC",
        "--anonymous-auth=false",
        `--service-account-key-file=${join(dir, "sa.pub")}`,
        `--service-account-signing-key-file=${join(dir, "sa.key")}`,
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        "--service-cluster-ip-range=10.0.0.0/24",
        // No controller-manager creates the `default` ServiceAccounts this plugin demands.
        "--disable-admission-plugins=ServiceAccount",
        "--allow-privileged=true",
        ...(opts.apiserverArgs ?? []),
      ]);
      servers.push(apiserver);
      // The certificate is read again on every probe: one read while the apiserver is still
      // writing it would otherwise fail every later TLS handshake.
      try {
        await until("kube-apiserver /readyz", deadline, [etcd, apiserver], async () => {
          caData = await readFile(crtPath, "utf8").catch(() => "");
          return caData !== "" && httpGetOk(`${server}/readyz`, { ca: caData, token });
        });
      } catch (err) {
        await apiserver.stop(2000);
        servers.pop();
        throw err;
      }
      return { server, apiserver };
    });
    // The system namespaces controller creates `default` just after start-up; tests (and
    // kubectl's default context) expect it.
    await until("namespace default", deadline, [etcd, apiserver], () =>
      httpGetOk(`${server}/api/v1/namespaces/default`, { ca: caData, token }),
    );

    const caPath = join(dir, "ca.crt");
    await writeFile(caPath, caData);
    const kubeconfigPath = join(dir, "kubeconfig");
    await writeFile(kubeconfigPath, kubeconfig(server, caData, token), { mode: 0o600 });

    const kubectlBin = findTool("kubectl");
    const cacheDir = join(dir, "kubectl-cache");
    return {
      server,
      kubeconfigPath,
      token,
      caData,
      caPath,
      dir,
      kubectl: (args, o = {}) => {
        if (kubectlBin === undefined) {
          return Promise.reject(new Error(`kubectl not found: ${INSTALL_HINT}`));
        }
        return run(
          kubectlBin,
          // A cache per server: discovery cached for another run on the same port would hide CRDs.
          [`--kubeconfig=${kubeconfigPath}`, `--cache-dir=${cacheDir}`, ...args],
          o,
        );
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Runs a command to completion; rejects on a non-zero exit unless `allowFailure`. */
export function run(
  bin: string,
  args: readonly string[],
  opts: {
    input?: string;
    allowFailure?: boolean;
    timeoutMs?: number;
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      bin,
      args,
      {
        timeout: opts.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
        env: opts.env ?? process.env,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
        if (code !== 0 && !opts.allowFailure) {
          reject(new Error(`${bin} ${args.join(" ")} exited ${code}:\n${stderr || stdout}`));
        } else {
          resolve({ code, stdout, stderr });
        }
      },
    );
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

/**
 * Creates (server-side apply) every CRD in `paths` (files or directories) and waits until
 * each is Established, so its resources can be used at once. Uses kubectl because a CRD
 * sent through @kubernetes/client-node's typed models loses `default` and
 * `x-kubernetes-list-*` (docs/contributing.md).
 */
export async function applyCrds(kube: Kube, ...paths: string[]): Promise<string[]> {
  const files = paths.flatMap((p) => ["-f", p]);
  const applied = await kube.kubectl(["apply", "--server-side", "-o", "name", ...files]);
  const names = applied.stdout.split("\n").filter((l) => l.startsWith("customresourcedefinition"));
  if (names.length > 0) {
    await kube.kubectl(["wait", "--for=condition=Established", "--timeout=30s", ...names]);
  }
  return names;
}

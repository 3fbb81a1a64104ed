/**
 * Kube port adapter over the API server's REST interface. Authentication and TLS come from
 * a @kubernetes/client-node KubeConfig (`applyToHTTPSOptions`); requests are plain JSON, so
 * nothing passes through the typed models (which drop fields such as CRD defaults).
 */
import { request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";
import { type Kube, KubeError, type ListResult, type Ref, refOf, resourcePath } from "./kube.js";
import type { KubeObject } from "./model.js";

export interface HttpKubeOptions {
  readonly fieldManager: string;
  readonly timeoutMs?: number;
}

export class HttpKube implements Kube {
  private readonly served = new Map<string, boolean>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly opts: HttpKubeOptions,
  ) {}

  async get(ref: Ref): Promise<KubeObject | undefined> {
    try {
      return await this.call<KubeObject>("GET", path(ref));
    } catch (e) {
      if (e instanceof KubeError && e.status === 404) return undefined;
      throw e;
    }
  }

  async list(
    apiVersion: string,
    kind: string,
    namespace: string | undefined,
    labelSelector?: string,
  ): Promise<ListResult> {
    const q = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : "";
    const r = await this.call<{ items: KubeObject[]; metadata: { resourceVersion: string } }>(
      "GET",
      resourcePath(apiVersion, kind, namespace) + q,
    );
    // List items carry no apiVersion/kind.
    const items = r.items.map((i) => ({ ...i, apiVersion, kind }));
    return { items, resourceVersion: r.metadata.resourceVersion };
  }

  apply(obj: KubeObject): Promise<KubeObject> {
    const q = `?fieldManager=${encodeURIComponent(this.opts.fieldManager)}&force=true`;
    return this.call("PATCH", path(refOf(obj)) + q, obj, "application/apply-patch+yaml");
  }

  async create(obj: KubeObject): Promise<boolean> {
    const ref = refOf(obj);
    const q = `?fieldManager=${encodeURIComponent(this.opts.fieldManager)}`;
    try {
      await this.call("POST", resourcePath(ref.apiVersion, ref.kind, ref.namespace) + q, obj);
      return true;
    } catch (e) {
      if (e instanceof KubeError && e.status === 409) return false;
      throw e;
    }
  }

  replace(obj: KubeObject): Promise<KubeObject> {
    const q = `?fieldManager=${encodeURIComponent(this.opts.fieldManager)}`;
    return this.call("PUT", path(refOf(obj)) + q, obj);
  }

  mergePatch(ref: Ref, patch: unknown, subresource?: "status"): Promise<KubeObject> {
    const q = `?fieldManager=${encodeURIComponent(this.opts.fieldManager)}`;
    return this.call(
      "PATCH",
      path(ref) + (subresource ? `/${subresource}` : "") + q,
      patch,
      "application/merge-patch+json",
    );
  }

  async delete(
    ref: Ref,
    opts: { uid?: string; gracePeriodSeconds?: number } = {},
  ): Promise<boolean> {
    const body: Record<string, unknown> = {
      kind: "DeleteOptions",
      apiVersion: "v1",
      propagationPolicy: "Background",
    };
    if (opts.uid) body.preconditions = { uid: opts.uid };
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    try {
      await this.call("DELETE", path(ref), body);
      return true;
    } catch (e) {
      // 409 on a uid precondition: the object of that name is a newer one; leave it.
      if (e instanceof KubeError && (e.status === 404 || e.status === 409)) return false;
      throw e;
    }
  }

  async serves(apiVersion: string, kind: string): Promise<boolean> {
    const key = `${apiVersion}/${kind}`;
    const known = this.served.get(key);
    if (known !== undefined) return known;
    const base = apiVersion === "v1" ? "/api/v1" : `/apis/${apiVersion}`;
    let found = false;
    try {
      const r = await this.call<{ resources: { kind: string }[] }>("GET", base);
      found = r.resources.some((x) => x.kind === kind);
    } catch (e) {
      if (!(e instanceof KubeError && e.status === 404)) throw e;
    }
    // Cached only when present: a CRD installed later is picked up on a later pass.
    if (found) this.served.set(key, true);
    return found;
  }

  private async call<T>(
    method: string,
    p: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<T> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    const url = new URL(cluster.server.replace(/\/+$/, "") + p);
    const opts: RequestOptions = {
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      headers: { accept: "application/json" },
      timeout: this.opts.timeoutMs ?? 15_000,
    };
    await this.kc.applyToHTTPSOptions(opts);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    if (payload !== undefined) {
      opts.headers = {
        ...opts.headers,
        "content-type": contentType,
        "content-length": Buffer.byteLength(payload),
      };
    }
    const send = url.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise<T>((resolve, reject) => {
      const req = send(opts, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            try {
              resolve((text ? JSON.parse(text) : {}) as T);
            } catch (e) {
              reject(e);
            }
            return;
          }
          let reason = "Unknown";
          let message = text.slice(0, 500);
          try {
            const s = JSON.parse(text) as { reason?: string; message?: string };
            reason = s.reason ?? reason;
            message = s.message ?? message;
          } catch {
            // not a Status object
          }
          reject(new KubeError(status, reason, `${method} ${url.pathname}: ${status} ${message}`));
        });
      });
      req.on("timeout", () => req.destroy(new Error(`${method} ${url.pathname}: timed out`)));
      req.on("error", reject);
      req.end(payload);
    });
  }
}

function path(ref: Ref): string {
  return resourcePath(ref.apiVersion, ref.kind, ref.namespace, ref.name);
}

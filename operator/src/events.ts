/**
 * Kubernetes Events about a PushCluster. The event name is derived from (object, reason,
 * message), so repeating the same action — e.g. after an operator restart — updates the
 * existing Event's lastTimestamp instead of adding a new one.
 */
import { createHash } from "node:crypto";
import type { Kube } from "./kube.js";
import type { KubeObject } from "./model.js";

export type EventType = "Normal" | "Warning";

export interface EventRecorder {
  record(about: KubeObject, type: EventType, reason: string, message: string): Promise<void>;
}

export class KubeEventRecorder implements EventRecorder {
  constructor(
    private readonly kube: Kube,
    private readonly component: string,
    private readonly instance: string,
    private readonly now: () => Date = () => new Date(),
  ) {}

  async record(about: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const m = about.metadata;
    const ns = m.namespace ?? "default";
    const hash = createHash("sha256")
      .update(`${m.uid}|${reason}|${message}`)
      .digest("hex")
      .slice(0, 16);
    const name = `${m.name}.${hash}`;
    const ts = this.now().toISOString();
    const ref = { apiVersion: "v1", kind: "Event", namespace: ns, name };
    const body = {
      ...ref,
      metadata: { name, namespace: ns },
      involvedObject: {
        apiVersion: about.apiVersion,
        kind: about.kind,
        name: m.name,
        namespace: ns,
        uid: m.uid,
        resourceVersion: m.resourceVersion,
      },
      type,
      reason,
      message: message.slice(0, 1024),
      source: { component: this.component },
      reportingComponent: this.component,
      reportingInstance: this.instance,
      firstTimestamp: ts,
      lastTimestamp: ts,
      count: 1,
    };
    // Create first; an existing Event of that name gets its lastTimestamp bumped (RBAC:
    // create + patch on events, no get needed).
    if (!(await this.kube.create(body))) await this.kube.mergePatch(ref, { lastTimestamp: ts });
  }
}

/** Keeps events in memory: for unit tests and dry runs. */
export class MemoryEventRecorder implements EventRecorder {
  readonly events: { name: string; type: EventType; reason: string; message: string }[] = [];
  async record(about: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    this.events.push({ name: about.metadata.name, type, reason, message });
  }
}

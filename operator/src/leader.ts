/**
 * Leader election on a coordination.k8s.io/v1 Lease, like client-go's: the holder renews
 * every `retryMs`; others take over once `renewTime + leaseDurationSeconds` has passed.
 * Every write carries the read resourceVersion, so two candidates can never both win.
 * The decision is pure (`decideLease`); `LeaderElector` does the I/O.
 */
import { isConflict, type Kube, type Ref } from "./kube.js";
import type { Logger } from "./log.js";
import type { KubeObject } from "./model.js";

export interface LeaseSpec {
  readonly holderIdentity?: string;
  readonly leaseDurationSeconds?: number;
  readonly acquireTime?: string;
  readonly renewTime?: string;
  readonly leaseTransitions?: number;
}

/** The lease spec to write to hold the lease, or undefined when another holder is still valid. */
export function decideLease(
  current: LeaseSpec | undefined,
  me: string,
  now: Date,
  durationS: number,
): LeaseSpec | undefined {
  const iso = toMicroTime(now);
  if (current?.holderIdentity === me)
    return { ...current, renewTime: iso, leaseDurationSeconds: durationS };
  const held = current?.holderIdentity && current.renewTime !== undefined;
  const expiresAt = held
    ? Date.parse(current.renewTime!) + (current.leaseDurationSeconds ?? durationS) * 1000
    : 0;
  if (held && expiresAt > now.getTime()) return undefined;
  return {
    holderIdentity: me,
    leaseDurationSeconds: durationS,
    acquireTime: iso,
    renewTime: iso,
    leaseTransitions: (current?.leaseTransitions ?? -1) + 1,
  };
}

/** Lease times are MicroTime: RFC 3339 with microseconds. */
const toMicroTime = (d: Date) => d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");

export interface LeaderOptions {
  readonly kube: Kube;
  readonly log: Logger;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationSeconds?: number;
  readonly retryMs?: number;
  /** Give up leadership when renewals keep failing this long. */
  readonly renewDeadlineMs?: number;
  readonly now?: () => Date;
  readonly onChange: (leading: boolean) => void;
}

export class LeaderElector {
  private leading = false;
  private lastRenew = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly o: LeaderOptions) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  /** Stops campaigning; a leader releases the lease so a standby takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    if (!this.leading) return;
    this.set(false);
    try {
      const lease = await this.o.kube.get(this.ref());
      const spec = lease?.spec as LeaseSpec | undefined;
      if (lease && spec?.holderIdentity === this.o.identity) {
        await this.o.kube.replace({
          ...lease,
          spec: { ...spec, holderIdentity: "", leaseDurationSeconds: 1 },
        });
      }
    } catch (err) {
      this.o.log.warn(
        { event: "lease_release_failed", err: String(err) },
        "could not release the lease",
      );
    }
  }

  private ref(): Ref {
    return {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      namespace: this.o.namespace,
      name: this.o.name,
    };
  }

  private set(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    this.o.log.info(
      {
        event: leading ? "leader_acquired" : "leader_lost",
        lease: this.o.name,
        identity: this.o.identity,
      },
      leading ? "became leader" : "stopped leading",
    );
    this.o.onChange(leading);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const now = (this.o.now ?? (() => new Date()))();
    const duration = this.o.leaseDurationSeconds ?? 15;
    try {
      const lease = await this.o.kube.get(this.ref());
      const next = decideLease(
        lease?.spec as LeaseSpec | undefined,
        this.o.identity,
        now,
        duration,
      );
      if (next === undefined) {
        this.set(false);
      } else if (lease === undefined) {
        const created = await this.o.kube.create({
          ...this.ref(),
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: next,
        } as KubeObject);
        if (created) this.renewed(now);
      } else {
        await this.o.kube.replace({ ...lease, spec: next });
        this.renewed(now);
      }
    } catch (err) {
      if (!isConflict(err))
        this.o.log.warn({ event: "lease_error", err: String(err) }, "lease update failed");
      // Still leading until the renew deadline: a transient error must not flap the leader.
      if (this.leading && now.getTime() - this.lastRenew > (this.o.renewDeadlineMs ?? 10_000))
        this.set(false);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.o.retryMs ?? 2000);
  }

  private renewed(now: Date): void {
    this.lastRenew = now.getTime();
    if (!this.stopped) this.set(true);
  }
}

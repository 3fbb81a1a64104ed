/**
 * Directory: who in the cluster holds a UAID's socket. Socket-free — it knows UAIDs, the
 * `since` of each local claim and node ids, never a socket. The local socket registry is
 * owned by `Connections` (delivery/local-sockets.ts); delivery asks the directory *where*
 * and sends itself (routing/cluster-route.ts, routing/local-route.ts).
 *
 * The contract a holder relies on: after `announce(uaid, since)` the directory calls
 * `confirmed(uaid, since)` once the owner of the UAID's slot has recorded the claim, and
 * again after each later re-announcement (slot moved, owner restarted, announcement
 * retried). Every PUT whose route reached the owner before that moment was answered
 * "absent" after its update was stored, so one store read started at `confirmed` sees it:
 * the holder's flush starts there and nowhere else.
 */

export interface DirectoryEvents {
  /** The owner knows `(uaid, since)` holds the UAID: read and send what is stored. */
  confirmed(uaid: string, since: number): void;
  /** A newer connection replaced the claim `(uaid, ≤ since)` here: close that socket. */
  evicted(uaid: string, since: number): void;
}

export interface Directory {
  /** This node's socket claimed `uaid` at `since` (unique per node, increasing). */
  announce(uaid: string, since: number): void;
  /** The claim `(uaid, since)` ended (its socket closed). */
  withdraw(uaid: string, since: number): void;
  /** Where the events go; set once by the owner of the sockets. */
  listen(events: DirectoryEvents): void;
}

/** A single self-contained node: every claim is confirmed at once. */
export class LocalDirectory implements Directory {
  private events: DirectoryEvents | undefined;

  announce(uaid: string, since: number): void {
    this.events?.confirmed(uaid, since);
  }

  withdraw(): void {}

  listen(events: DirectoryEvents): void {
    this.events = events;
  }
}

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ClusterPresence, type PresenceRequest } from "./cluster-presence.js";

interface Sock {
  id: string;
  since: number;
  frames: string[];
  evicted: boolean;
  flushed: number;
}

/** Nodes wired together in memory: requests are handled by the addressed node's presence. */
function region(ids: string[], slots = 16) {
  const nodes = new Map<string, ClusterPresence<Sock>>();
  const down = new Set<string>();
  const make = (self: string) =>
    new ClusterPresence<Sock>({
      self,
      slots,
      slotKey: "cluster-presence-test-secret",
      request: async (node, req: PresenceRequest) => {
        if (down.has(node)) throw new Error(`${node} unreachable`);
        await Promise.resolve();
        return nodes.get(node)!.handle(req);
      },
      overloaded: () => false,
      since: (s) => s.since,
      send: (s, f) => {
        s.frames.push(f);
        return true;
      },
      evict: (s) => {
        s.evicted = true;
      },
      confirmed: (_u, s) => {
        s.flushed++;
      },
      onError: () => {},
    });
  for (const self of ids) nodes.set(self, make(self));
  /** A new process under the same id: empty presence. */
  const restart = (id: string) => {
    const n = make(id);
    nodes.set(id, n);
    return n;
  };
  return { nodes, down, restart, p: (id: string) => nodes.get(id)! };
}

const sock = (id: string, sinceMs: number): Sock => ({
  id,
  since: sinceMs * 1000,
  frames: [],
  evicted: false,
  flushed: 0,
});
const settle = () => new Promise((r) => setImmediate(r));
// The tests give every slot to one owner (the slot hash is keyed, see slot-table.ts).
const UAID = `00000001${"a".repeat(24)}`;

describe("cluster presence", () => {
  it("routes endpoint → owner → holder and reports absence", async () => {
    const r = region(["a", "b", "c"]);
    const owners = Array.from({ length: 16 }, () => "b");
    for (const n of r.nodes.values()) n.setOwners(owners);
    assert.equal(await r.p("a").route(UAID, "f0"), "absent");
    const s = sock("s", Date.now());
    r.p("c").claim(UAID, s);
    await settle();
    assert.equal(await r.p("a").route(UAID, "f1"), "delivered");
    assert.deepEqual(s.frames, ["f1"]);
    r.down.add("b");
    assert.equal(await r.p("a").route(UAID, "f2"), "unreachable");
  });

  it("keeps the newest connection cluster-wide and evicts the older one", async () => {
    const r = region(["a", "b", "c"]);
    for (const n of r.nodes.values()) n.setOwners(Array.from({ length: 16 }, () => "b"));
    const now = Date.now();
    const older = sock("old", now);
    const newer = sock("new", now + 5);
    r.p("a").claim(UAID, older);
    await settle();
    r.p("c").claim(UAID, newer);
    await settle();
    await settle();
    assert.equal(older.evicted, true);
    assert.equal(newer.evicted, false);
    assert.equal(await r.p("b").route(UAID, "x"), "delivered");
    assert.deepEqual(newer.frames, ["x"]);
  });

  it("asks the holder to flush again only when a PUT was answered absent after its claim", async () => {
    const r = region(["a", "b", "c"]);
    for (const n of r.nodes.values()) n.setOwners(Array.from({ length: 16 }, () => "b"));
    // An update for an offline client: "absent" long before any claim → no second flush.
    assert.equal(await r.p("a").route(UAID, "offline"), "absent");
    const first = sock("first", Date.now() + 1);
    r.p("c").claim(UAID, first);
    await settle();
    await settle();
    assert.equal(first.flushed, 0, "the hello flush already covered it");
    // A PUT racing the announcement: absent at the owner after the claim → flush again.
    const other = `00000002${"b".repeat(24)}`;
    const claimAt = Date.now() - 2;
    assert.equal(await r.p("a").route(other, "raced"), "absent");
    const second = sock("second", claimAt);
    r.p("c").claim(other, second);
    await settle();
    await settle();
    assert.equal(second.flushed, 1, "the raced update is flushed");
  });

  it("forwards a route for a moved slot once to the owner in the receiver's table", async () => {
    const r = region(["a", "b", "c"]);
    const toB = Array.from({ length: 16 }, () => "b");
    const toC = Array.from({ length: 16 }, () => "c");
    r.p("a").setOwners(toB); // a still has the old table
    r.p("b").setOwners(toC);
    r.p("c").setOwners(toC);
    const s = sock("s", Date.now());
    r.p("c").claim(UAID, s);
    await settle();
    assert.equal(await r.p("a").route(UAID, "late"), "delivered");
    assert.deepEqual(s.frames, ["late"]);
  });

  it("flushes UAIDs whose slot moved once the new owner confirms", async () => {
    const r = region(["a", "b", "c"]);
    for (const n of r.nodes.values()) n.setOwners(Array.from({ length: 16 }, () => "b"));
    const s = sock("s", Date.now());
    r.p("c").claim(UAID, s);
    await settle();
    assert.equal(s.flushed, 0);
    for (const n of r.nodes.values()) n.setOwners(Array.from({ length: 16 }, () => "a"));
    await settle();
    await settle();
    assert.equal(s.flushed, 1, "updates stored while the slot moved reach the open socket");
    assert.equal(await r.p("b").route(UAID, "after"), "delivered");
  });
});

describe("cluster presence when an owner restarts under the same id", () => {
  it("re-announces to the new incarnation and flushes what was stored meanwhile", async () => {
    const r = region(["a", "b", "c"]);
    const owners = Array.from({ length: 16 }, () => "b");
    for (const n of r.nodes.values()) n.setOwners(owners);
    const s = sock("s", Date.now());
    r.p("c").claim(UAID, s);
    await settle();
    assert.equal(await r.p("a").route(UAID, "before"), "delivered");

    // b is replaced by a new process with the same id (a StatefulSet pod): same slot
    // table, empty presence. Without a re-announcement every PUT is stored, never routed.
    r.restart("b").setOwners(owners);
    assert.equal(await r.p("a").route(UAID, "stored"), "absent");
    assert.equal(s.flushed, 0);

    r.p("c").ownerRestarted("b");
    r.p("a").ownerRestarted("b"); // a holds nothing in b's slots: nothing to do
    await settle();
    await settle();
    assert.equal(s.flushed, 1, "the update stored while b knew nothing reaches the open socket");
    assert.equal(await r.p("a").route(UAID, "after"), "delivered");
    assert.deepEqual(s.frames, ["before", "after"]);
  });
});

describe("cluster presence when the old holder died", () => {
  it("flushes a reconnected client whose update raced its announcement to a dead holder", async () => {
    const r = region(["a", "b", "c", "d"]);
    for (const n of r.nodes.values()) n.setOwners(Array.from({ length: 16 }, () => "b"));
    const old = sock("old", Date.now() - 10);
    r.p("d").claim(UAID, old);
    await settle();
    r.down.add("d"); // the holder is killed; the owner still names it
    const fresh = sock("fresh", Date.now() - 1);
    // The PUT reaches the owner before the new connection's announcement does.
    assert.notEqual(await r.p("a").route(UAID, "raced"), "delivered");
    r.p("c").claim(UAID, fresh);
    await settle();
    await settle();
    assert.equal(fresh.flushed, 1, "the update stored meanwhile is flushed to the new socket");
  });
});

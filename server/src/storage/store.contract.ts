/**
 * The contract every `MessageStore` adapter passes (docs/contributing.md: one suite, every adapter).
 * Each test builds a fresh store with `make()` and uses fresh random UAIDs, so adapters
 * that share a backend between tests (one Redis) still see independent data.
 *
 * Time: TTL tests work with either clock.
 * - When `make()` returns `now`, the store reads an injected clock and the tests move it
 *   (`advance`): exact boundaries are checked and nothing waits.
 * - Without `now` (a real Redis, whose TTLs run on its own clock), the expiry test saves
 *   with a TTL of 1 s and polls `pending()` until the update disappears, failing at a
 *   deadline; tests that need to hold time still (a boundary, a TTL restarted by a later
 *   save) are skipped, because real time cannot be held still without sleeping.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, it, type TestContext } from "node:test";
import type { MessageStore, PendingUpdate } from "./store.js";

interface StoreUnderTest {
  readonly store: MessageStore;
  /** Moves the store's clock forward; absent when the adapter runs on real time. */
  readonly now?: { advance(ms: number): void };
  readonly cleanup?: () => Promise<void>;
}

const MAX_U64 = 18446744073709551615n;
/** Long enough that no test run reaches it. */
const DAY = 24 * 3600;

/** A fresh normalised id (32 lower-case hex). */
function id(): string {
  return randomUUID().replaceAll("-", "");
}

/** The client's spelling of a normalised id: upper case, dashed. */
function dashedUpper(norm: string): string {
  const u = norm.toUpperCase();
  return `${u.slice(0, 8)}-${u.slice(8, 12)}-${u.slice(12, 16)}-${u.slice(16, 20)}-${u.slice(20)}`;
}

/** Pending updates sorted by channelID, for order-free comparison. */
async function pendingOf(store: MessageStore, uaid: string): Promise<PendingUpdate[]> {
  const list = await store.pending(uaid);
  return [...list]
    .map((u) => ({ channelID: u.channelID, version: u.version }))
    .sort((a, b) => (a.channelID < b.channelID ? -1 : a.channelID > b.channelID ? 1 : 0));
}

function sorted(list: PendingUpdate[]): PendingUpdate[] {
  return [...list].sort((a, b) =>
    a.channelID < b.channelID ? -1 : a.channelID > b.channelID ? 1 : 0,
  );
}

/** Polls `cond` until it holds; fails at `deadlineMs`. Not a sleep: it ends as soon as it holds. */
async function eventually(
  cond: () => Promise<boolean>,
  deadlineMs: number,
  what: string,
): Promise<void> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > end) assert.fail(`${what}: not within ${deadlineMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function storeContract(
  name: string,
  make: () => Promise<{
    store: MessageStore;
    now?: { advance(ms: number): void };
    cleanup?: () => Promise<void>;
  }>,
): void {
  describe(name, () => {
    let sut: StoreUnderTest;
    let store: MessageStore;

    beforeEach(async () => {
      sut = await make();
      store = sut.store;
    });
    afterEach(async () => {
      await sut.cleanup?.();
    });

    /** A UAID with a record and the given channels registered. */
    async function user(...channels: string[]): Promise<string> {
      const uaid = id();
      await store.addUser(uaid);
      for (const c of channels) await store.register(uaid, c);
      return uaid;
    }

    describe("users", () => {
      it("hasUser is false for an unknown UAID and true after addUser", async () => {
        const uaid = id();
        assert.equal(await store.hasUser(uaid), false);
        await store.addUser(uaid);
        assert.equal(await store.hasUser(uaid), true);
        assert.equal(await store.channelCount(uaid), 0);
      });

      it("addUser on an existing UAID keeps its registrations and pending updates", async () => {
        const ch = id();
        const uaid = await user(ch);
        assert.equal(await store.savePending(uaid, ch, ch, 7n, DAY), "stored");
        await store.addUser(uaid);
        assert.equal(await store.channelCount(uaid), 1);
        assert.deepEqual(await pendingOf(store, uaid), [{ channelID: ch, version: 7n }]);
      });

      it("register creates the UAID record when absent", async () => {
        const uaid = id();
        const ch = id();
        await store.register(uaid, ch);
        assert.equal(await store.hasUser(uaid), true);
        assert.equal(await store.channelCount(uaid), 1);
        assert.equal(await store.savePending(uaid, ch, ch, 1n, DAY), "stored");
      });

      it("dropUser removes the record, its registrations and its pending updates", async () => {
        const a = id();
        const b = id();
        const uaid = await user(a, b);
        await store.savePending(uaid, a, a, 1n, DAY);
        await store.savePending(uaid, b, b, 2n, DAY);
        await store.dropUser(uaid);
        assert.equal(await store.hasUser(uaid), false);
        assert.equal(await store.channelCount(uaid), 0);
        assert.deepEqual(await store.pending(uaid), []);
        assert.equal(await store.savePending(uaid, a, a, 3n, DAY), "gone");
      });

      it("a UAID re-created after dropUser does not get its old state back", async () => {
        const ch = id();
        const uaid = await user(ch);
        await store.savePending(uaid, ch, ch, 1n, DAY);
        await store.dropUser(uaid);
        await store.addUser(uaid);
        assert.equal(await store.hasUser(uaid), true);
        assert.equal(await store.channelCount(uaid), 0);
        assert.deepEqual(await store.pending(uaid), []);
        assert.equal(await store.savePending(uaid, ch, ch, 2n, DAY), "unregistered");
      });

      it("dropUser of an unknown UAID is a no-op", async () => {
        const uaid = id();
        await store.dropUser(uaid);
        assert.equal(await store.hasUser(uaid), false);
      });
    });

    describe("registrations", () => {
      it("channelCount is 0 for an unknown UAID", async () => {
        assert.equal(await store.channelCount(id()), 0);
      });

      it("register is idempotent", async () => {
        const ch = id();
        const uaid = await user(ch);
        await store.register(uaid, ch);
        await store.register(uaid, ch);
        assert.equal(await store.channelCount(uaid), 1);
        assert.equal(await store.savePending(uaid, ch, ch, 1n, DAY), "stored");
      });

      it("registering again keeps the pending update of that channel", async () => {
        const ch = id();
        const uaid = await user(ch);
        await store.savePending(uaid, ch, ch, 4n, DAY);
        await store.register(uaid, ch);
        assert.deepEqual(await pendingOf(store, uaid), [{ channelID: ch, version: 4n }]);
      });

      it("channelCount counts distinct channels", async () => {
        const chans = [id(), id(), id()];
        const uaid = await user(...chans, chans[0]!);
        assert.equal(await store.channelCount(uaid), 3);
        await store.unregister(uaid, chans[1]!);
        assert.equal(await store.channelCount(uaid), 2);
      });

      it("unregister removes the registration: a later save is `unregistered`", async () => {
        const ch = id();
        const keep = id();
        const uaid = await user(ch, keep);
        await store.unregister(uaid, ch);
        assert.equal(await store.savePending(uaid, ch, ch, 1n, DAY), "unregistered");
        assert.equal(await store.savePending(uaid, keep, keep, 1n, DAY), "stored");
        assert.equal(await store.hasUser(uaid), true);
      });

      it("unregister deletes the channel's pending update, and only that one", async () => {
        const ch = id();
        const keep = id();
        const uaid = await user(ch, keep);
        await store.savePending(uaid, ch, ch, 5n, DAY);
        await store.savePending(uaid, keep, keep, 6n, DAY);
        await store.unregister(uaid, ch);
        assert.deepEqual(await pendingOf(store, uaid), [{ channelID: keep, version: 6n }]);
      });

      it("registering a channel again after unregister does not bring its update back", async () => {
        const ch = id();
        const uaid = await user(ch);
        await store.savePending(uaid, ch, ch, 5n, DAY);
        await store.unregister(uaid, ch);
        await store.register(uaid, ch);
        assert.deepEqual(await store.pending(uaid), []);
      });

      it("unregister of an unknown channel, or twice, is a no-op", async () => {
        const ch = id();
        const uaid = await user(ch);
        await store.unregister(uaid, id());
        assert.equal(await store.channelCount(uaid), 1);
        await store.unregister(uaid, ch);
        await store.unregister(uaid, ch);
        assert.equal(await store.channelCount(uaid), 0);
        assert.equal(await store.hasUser(uaid), true);
      });

      it("unregister on an unknown UAID does not create it", async () => {
        const uaid = id();
        await store.unregister(uaid, id());
        assert.equal(await store.hasUser(uaid), false);
      });
    });

    describe("savePending", () => {
      it("is `gone` for a UAID without a record", async () => {
        const ch = id();
        const uaid = id();
        assert.equal(await store.savePending(uaid, ch, ch, 1n, DAY), "gone");
        assert.equal(await store.hasUser(uaid), false);
        assert.deepEqual(await store.pending(uaid), []);
      });

      it("is `unregistered` for a channel the UAID never registered, and stores nothing", async () => {
        const uaid = await user(id());
        const other = id();
        assert.equal(await store.savePending(uaid, other, other, 1n, DAY), "unregistered");
        assert.deepEqual(await store.pending(uaid), []);
        assert.equal(await store.channelCount(uaid), 1);
      });

      it("is `stored` for a registered channel, and pending() returns it", async () => {
        const ch = id();
        const uaid = await user(ch);
        assert.equal(await store.savePending(uaid, ch, ch, 42n, DAY), "stored");
        assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: 42n }]);
      });

      it("keeps only the latest PUT per channel, even when its version is lower", async () => {
        const ch = id();
        const uaid = await user(ch);
        await store.savePending(uaid, ch, ch, 10n, DAY);
        await store.savePending(uaid, ch, ch, 20n, DAY);
        assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: 20n }]);
        await store.savePending(uaid, ch, ch, 3n, DAY);
        assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: 3n }]);
      });

      it("keeps the stamp of the PUT that stored the update, and of the latest one only", async () => {
        const ch = id();
        const uaid = await user(ch);
        await store.savePending(uaid, ch, ch, 5n, DAY, "n1.a");
        assert.deepEqual(await store.pending(uaid), [
          { channelID: ch, version: 5n, stamp: "n1.a" },
        ]);
        await store.savePending(uaid, ch, ch, 5n, DAY, "n2.b");
        assert.deepEqual(await store.pending(uaid), [
          { channelID: ch, version: 5n, stamp: "n2.b" },
        ]);
        await store.savePending(uaid, ch, ch, 6n, DAY);
        assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: 6n }]);
      });

      it("keeps one pending update per channel", async () => {
        const [a, b, c] = [id(), id(), id()];
        const uaid = await user(a, b, c);
        await store.savePending(uaid, a, a, 1n, DAY);
        await store.savePending(uaid, b, b, 2n, DAY);
        await store.savePending(uaid, a, a, 3n, DAY);
        assert.deepEqual(
          await pendingOf(store, uaid),
          sorted([
            { channelID: a, version: 3n },
            { channelID: b, version: 2n },
          ]),
        );
      });

      it("returns the channelID spelling given to savePending, keyed by the normalised channel", async () => {
        const ch = id();
        const spelled = dashedUpper(ch);
        const uaid = await user(ch);
        assert.equal(await store.savePending(uaid, ch, spelled, 9n, DAY), "stored");
        assert.deepEqual(await store.pending(uaid), [{ channelID: spelled, version: 9n }]);
        // The same channel under the other spelling replaces it (one update per channel).
        await store.savePending(uaid, ch, ch.toUpperCase(), 10n, DAY);
        assert.deepEqual(await store.pending(uaid), [
          { channelID: ch.toUpperCase(), version: 10n },
        ]);
        // ack is keyed by the normalised channel.
        await store.ack(uaid, [{ channel: ch, version: 10n }]);
        assert.deepEqual(await store.pending(uaid), []);
      });

      it("keeps all 64 bits of a version exactly", async () => {
        const [a, b, c] = [id(), id(), id()];
        const uaid = await user(a, b, c);
        await store.savePending(uaid, a, a, MAX_U64, DAY);
        await store.savePending(uaid, b, b, 9007199254740993n, DAY); // 2^53 + 1
        await store.savePending(uaid, c, c, 0n, DAY);
        assert.deepEqual(
          await pendingOf(store, uaid),
          sorted([
            { channelID: a, version: MAX_U64 },
            { channelID: b, version: 9007199254740993n },
            { channelID: c, version: 0n },
          ]),
        );
        for (const u of await store.pending(uaid)) assert.equal(typeof u.version, "bigint");
      });

      it("pending() is empty for an unknown UAID and for one with nothing pending", async () => {
        assert.deepEqual(await store.pending(id()), []);
        assert.deepEqual(await store.pending(await user(id())), []);
      });

      it("reading pending updates does not consume them", async () => {
        const ch = id();
        const uaid = await user(ch);
        await store.savePending(uaid, ch, ch, 1n, DAY);
        await store.pending(uaid);
        assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: 1n }]);
      });
    });

    describe("ack", () => {
      it("deletes a pending update acked with the same version", async () => {
        const ch = id();
        const uaid = await user(ch);
        await store.savePending(uaid, ch, ch, 5n, DAY);
        await store.ack(uaid, [{ channel: ch, version: 5n }]);
        assert.deepEqual(await store.pending(uaid), []);
      });

      it("deletes a pending update acked with a higher version", async () => {
        const ch = id();
        const uaid = await user(ch);
        await store.savePending(uaid, ch, ch, 5n, DAY);
        await store.ack(uaid, [{ channel: ch, version: MAX_U64 }]);
        assert.deepEqual(await store.pending(uaid), []);
      });

      it("keeps a pending update acked with a lower version (a newer PUT arrived)", async () => {
        const ch = id();
        const uaid = await user(ch);
        await store.savePending(uaid, ch, ch, MAX_U64, DAY);
        await store.ack(uaid, [{ channel: ch, version: MAX_U64 - 1n }]);
        assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: MAX_U64 }]);
        await store.ack(uaid, [{ channel: ch, version: MAX_U64 }]);
        assert.deepEqual(await store.pending(uaid), []);
      });

      it("handles several channels at once: deletes the acked, keeps the rest, ignores unknown ones", async () => {
        const [a, b, c, d] = [id(), id(), id(), id()];
        const uaid = await user(a, b, c, d);
        await store.savePending(uaid, a, a, 1n, DAY);
        await store.savePending(uaid, b, b, 2n, DAY);
        await store.savePending(uaid, c, c, 30n, DAY);
        await store.savePending(uaid, d, d, 4n, DAY);
        await store.ack(uaid, [
          { channel: a, version: 1n },
          { channel: b, version: 7n },
          { channel: c, version: 29n },
          { channel: id(), version: 100n },
        ]);
        assert.deepEqual(
          await pendingOf(store, uaid),
          sorted([
            { channelID: c, version: 30n },
            { channelID: d, version: 4n },
          ]),
        );
        // The registrations are untouched by acks.
        assert.equal(await store.channelCount(uaid), 4);
        assert.equal(await store.savePending(uaid, a, a, 8n, DAY), "stored");
      });

      it("of a channel with nothing pending, of an unknown UAID, or of nothing, is a no-op", async () => {
        const ch = id();
        const uaid = await user(ch);
        await store.ack(uaid, [{ channel: ch, version: 1n }]);
        await store.ack(uaid, []);
        await store.ack(id(), [{ channel: ch, version: 1n }]);
        assert.deepEqual(await store.pending(uaid), []);
        assert.equal(await store.savePending(uaid, ch, ch, 2n, DAY), "stored");
        await store.ack(uaid, []);
        assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: 2n }]);
      });
    });

    describe("independence of UAIDs", () => {
      it("many UAIDs with the same channel ids do not see each other's data", async () => {
        const ch = id();
        const other = id();
        const users = await Promise.all(Array.from({ length: 20 }, () => user(ch)));
        await Promise.all(users.map((u, i) => store.savePending(u, ch, ch, BigInt(i + 1), DAY)));
        for (const [i, u] of users.entries()) {
          assert.deepEqual(await store.pending(u), [{ channelID: ch, version: BigInt(i + 1) }]);
        }
        const [first, second, third] = users as [string, string, string];
        await store.ack(first, [{ channel: ch, version: 100n }]);
        await store.unregister(second, ch);
        await store.dropUser(third);
        await store.register(users[3]!, other);
        assert.deepEqual(await store.pending(first), []);
        assert.equal(await store.savePending(second, ch, ch, 1n, DAY), "unregistered");
        assert.equal(await store.savePending(third, ch, ch, 1n, DAY), "gone");
        assert.equal(await store.channelCount(users[3]!), 2);
        for (const [i, u] of users.entries()) {
          if (i < 3) continue;
          assert.equal(await store.hasUser(u), true);
          assert.equal(await store.channelCount(u), i === 3 ? 2 : 1);
          assert.deepEqual(await store.pending(u), [{ channelID: ch, version: BigInt(i + 1) }]);
        }
      });
    });

    describe("TTL", () => {
      it("an update expires after its TTL; others on the same UAID stay", async () => {
        const short = id();
        const long = id();
        const uaid = await user(short, long);
        await store.savePending(uaid, short, short, 1n, 1);
        await store.savePending(uaid, long, long, 2n, DAY);
        assert.equal((await store.pending(uaid)).length, 2);
        if (sut.now) sut.now.advance(1000);
        else {
          await eventually(
            async () => (await store.pending(uaid)).length < 2,
            5000,
            "the 1 s update to expire",
          );
        }
        assert.deepEqual(await store.pending(uaid), [{ channelID: long, version: 2n }]);
        // Expiry removes the update, not the registration.
        assert.equal(await store.channelCount(uaid), 2);
        assert.equal(await store.savePending(uaid, short, short, 3n, DAY), "stored");
      });

      it("an update is kept until its TTL is reached (injected clock only)", async (t: TestContext) => {
        const now = sut.now;
        if (!now) return t.skip("needs an injected clock to hold time still");
        const ch = id();
        const uaid = await user(ch);
        await store.savePending(uaid, ch, ch, 1n, 60);
        now.advance(59_999);
        assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: 1n }]);
        now.advance(1);
        assert.deepEqual(await store.pending(uaid), []);
      });

      it("a later save restarts the TTL (injected clock only)", async (t: TestContext) => {
        const now = sut.now;
        if (!now) return t.skip("needs an injected clock to hold time still");
        const ch = id();
        const uaid = await user(ch);
        await store.savePending(uaid, ch, ch, 1n, 60);
        now.advance(40_000);
        await store.savePending(uaid, ch, ch, 2n, 60);
        now.advance(40_000);
        assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: 2n }]);
        now.advance(20_000);
        assert.deepEqual(await store.pending(uaid), []);
      });

      it("an expired update is not returned and a save after it is stored fresh (injected clock only)", async (t: TestContext) => {
        const now = sut.now;
        if (!now) return t.skip("needs an injected clock to hold time still");
        const ch = id();
        const uaid = await user(ch);
        await store.savePending(uaid, ch, ch, 1n, 10);
        now.advance(10_000);
        assert.deepEqual(await store.pending(uaid), []);
        await store.savePending(uaid, ch, ch, 2n, 10);
        assert.deepEqual(await store.pending(uaid), [{ channelID: ch, version: 2n }]);
      });
    });

    describe("bounds (docs/limits.md)", () => {
      it("register refuses a new channel past maxChannels, writing nothing, and stays idempotent", async () => {
        const uaid = await user();
        const chans = [id(), id(), id()];
        for (const c of chans) assert.equal(await store.register(uaid, c, 3), "registered");
        const extra = id();
        assert.equal(await store.register(uaid, extra, 3), "full");
        assert.equal(await store.channelCount(uaid), 3);
        assert.equal(await store.savePending(uaid, extra, extra, 1n, DAY), "unregistered");
        // Re-registering a channel it has is not a new one.
        assert.equal(await store.register(uaid, chans[1]!, 3), "registered");
        // Room again after an unregister.
        await store.unregister(uaid, chans[0]!);
        assert.equal(await store.register(uaid, extra, 3), "registered");
        assert.equal(await store.register(uaid, id(), 1), "full");
      });

      it("pending() returns every update of a UAID with many (more than one read page)", async () => {
        const channels = Array.from({ length: 1300 }, id);
        const uaid = await user();
        await Promise.all(channels.map((c) => store.register(uaid, c)));
        await Promise.all(channels.map((c, i) => store.savePending(uaid, c, c, BigInt(i), DAY)));
        const got = await store.pending(uaid);
        assert.equal(got.length, channels.length);
        assert.equal(new Set(got.map((u) => u.channelID)).size, channels.length);
      });

      it("a UAID created again after it was dropped starts without pending updates", async () => {
        const ch = id();
        const uaid = await user(ch);
        await store.savePending(uaid, ch, ch, 5n, DAY);
        await store.dropUser(uaid);
        await store.addUser(uaid);
        assert.deepEqual(await store.pending(uaid), []);
      });
    });

    it("healthy() is true for a reachable backend", async () => {
      assert.equal(await store.healthy(), true);
    });
  });
}

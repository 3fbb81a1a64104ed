import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { decideUaid, type HelloRequest } from "./hello.js";
import { mintUaid } from "./ids.js";
import { helloReply } from "./replies.js";
import { helloDone, newSession, Phase, type Step, step } from "./session.js";

const KNOWN = "9f8e7d6c5b4a49382716a5b4c3d2e1f0";
const DASHED_UPPER = "9F8E7D6C-5B4A-4938-2716-A5B4C3D2E1F0";
const MINTED = "0123456789ab4def8123456789abcdef";
const MAX = 3;

function counter(): { mint: () => string; calls: () => number } {
  let n = 0;
  return {
    mint: () => {
      n++;
      return MINTED;
    },
    calls: () => n,
  };
}

function req(requested: string | undefined, echo: string | undefined, channelCount: number) {
  return { requested, echo, channelCount } satisfies HelloRequest;
}

describe("decideUaid", () => {
  it("empty uaid → mints a new one", () => {
    const c = counter();
    assert.deepEqual(decideUaid(req(undefined, undefined, 0), false, MAX, c.mint), {
      uaid: MINTED,
      echo: MINTED,
      fresh: true,
      drop: undefined,
    });
    assert.equal(c.calls(), 1);
  });

  it("empty uaid with channels → mints (channels are not validated)", () => {
    const c = counter();
    assert.equal(decideUaid(req(undefined, undefined, 2), false, MAX, c.mint).uaid, MINTED);
  });

  it("known uaid → keeps it, echoes the client's spelling, does not mint", () => {
    const c = counter();
    for (const count of [0, 1, MAX]) {
      assert.deepEqual(decideUaid(req(KNOWN, DASHED_UPPER, count), true, MAX, c.mint), {
        uaid: KNOWN,
        echo: DASHED_UPPER,
        fresh: false,
        drop: undefined,
      });
    }
    assert.equal(c.calls(), 0);
  });

  it("unknown uaid with no channels → keeps it and echoes it exactly as sent", () => {
    const c = counter();
    assert.deepEqual(decideUaid(req(KNOWN, DASHED_UPPER, 0), false, MAX, c.mint), {
      uaid: KNOWN,
      echo: DASHED_UPPER,
      fresh: true,
      drop: undefined,
    });
    assert.equal(c.calls(), 0);
  });

  it("unknown uaid with channels → mints a new one and drops nothing", () => {
    const c = counter();
    assert.deepEqual(decideUaid(req(KNOWN, KNOWN, 1), false, MAX, c.mint), {
      uaid: MINTED,
      echo: MINTED,
      fresh: true,
      drop: undefined,
    });
    assert.equal(c.calls(), 1);
  });

  it("more channels than the maximum on a known uaid → mints and drops the old one", () => {
    const c = counter();
    assert.deepEqual(decideUaid(req(KNOWN, DASHED_UPPER, MAX + 1), true, MAX, c.mint), {
      uaid: MINTED,
      echo: MINTED,
      fresh: true,
      drop: KNOWN,
    });
  });

  it("more channels than the maximum on an unknown uaid → mints, nothing to drop", () => {
    const c = counter();
    assert.deepEqual(decideUaid(req(KNOWN, KNOWN, MAX + 1), false, MAX, c.mint), {
      uaid: MINTED,
      echo: MINTED,
      fresh: true,
      drop: undefined,
    });
  });

  it("exactly the maximum is allowed", () => {
    const c = counter();
    assert.equal(decideUaid(req(KNOWN, KNOWN, MAX), true, MAX, c.mint).uaid, KNOWN);
    assert.equal(c.calls(), 0);
  });

  it("a minted uaid is a fresh v4 UUID each time", () => {
    const rand = (n: number) => crypto.getRandomValues(new Uint8Array(n));
    const a = decideUaid(req(undefined, undefined, 0), false, MAX, () => mintUaid(rand));
    const b = decideUaid(req(undefined, undefined, 0), false, MAX, () => mintUaid(rand));
    assert.match(a.uaid, /^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$/);
    assert.notEqual(a.uaid, b.uaid);
  });
});

describe("hello through session and decideUaid", () => {
  const limits = { pingMinIntervalMs: 1000, pingBurst: 5 };

  function helloStep(text: string): Extract<Step, { do: "hello" }> {
    const s = newSession(0, limits.pingBurst);
    const st = step(s, text, 0, limits);
    assert.equal(st.do, "hello");
    return st as Extract<Step, { do: "hello" }>;
  }

  it("an unknown dashed upper-case uaid with no channels is echoed exactly, kept normalised", () => {
    const st = helloStep(`{"messageType":"hello","uaid":"${DASHED_UPPER}","channelIDs":[]}`);
    const d = decideUaid(st, false, MAX, counter().mint);
    assert.equal(
      helloReply(d.echo),
      `{"messageType":"hello","uaid":"${DASHED_UPPER}","status":200}`,
    );
    assert.equal(d.uaid, KNOWN);
  });

  it("an unknown uaid with channels gets a new uaid in the reply", () => {
    const st = helloStep(`{"messageType":"hello","uaid":"${KNOWN}","channelIDs":["x","y"]}`);
    assert.equal(st.channelCount, 2);
    const d = decideUaid(st, false, MAX, counter().mint);
    assert.equal(helloReply(d.echo), `{"messageType":"hello","uaid":"${MINTED}","status":200}`);
  });

  it("too many channels on a known uaid: new uaid, old one dropped", () => {
    const ids = JSON.stringify(Array.from({ length: MAX + 1 }, (_, i) => String(i)));
    const st = helloStep(`{"messageType":"hello","uaid":"${KNOWN}","channelIDs":${ids}}`);
    const d = decideUaid(st, true, MAX, counter().mint);
    assert.equal(d.uaid, MINTED);
    assert.equal(d.drop, KNOWN);
  });

  it("after the shell finishes, a second hello in the other spelling gets 200", () => {
    const s = newSession(0, limits.pingBurst);
    const st = step(
      s,
      `{"messageType":"hello","uaid":"${DASHED_UPPER}","channelIDs":[]}`,
      0,
      limits,
    );
    assert.equal(st.do, "hello");
    const d = decideUaid(st as Extract<Step, { do: "hello" }>, true, MAX, counter().mint);
    helloDone(s, d.uaid);
    assert.equal(s.phase, Phase.Ready);
    assert.deepEqual(
      step(s, `{"messageType":"hello","uaid":"${KNOWN}","channelIDs":[]}`, 1, limits),
      {
        do: "reply",
        text: helloReply(KNOWN),
      },
    );
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Member } from "../routing/members.js";
import { chooseRedirect } from "./redirect.js";

const member = (nodeId: string, connections: number, capacity = 100, draining = false): Member => ({
  nodeId,
  wsUrl: `ws://${nodeId}:8080`,
  routerUrl: `${nodeId}:8081`,
  capacity,
  connections,
  draining,
  updatedAt: 0,
  startedAt: 0,
});

describe("chooseRedirect", () => {
  it("keeps the client while the node is under its threshold", () => {
    assert.deepEqual(
      chooseRedirect(
        { nodeId: "a", connections: 89, capacity: 100 },
        [member("b", 0)],
        90,
        Math.random,
      ),
      {
        kind: "stay",
      },
    );
  });

  it("redirects to a node with room when over the threshold, never to itself or a draining node", () => {
    const members = [member("a", 95), member("b", 10, 100, true), member("c", 50)];
    for (let i = 0; i < 50; i++) {
      const d = chooseRedirect(
        { nodeId: "a", connections: 95, capacity: 100 },
        members,
        90,
        Math.random,
      );
      assert.deepEqual(d, { kind: "redirect", url: "ws://c:8080" });
    }
  });

  it("weights the choice by free room", () => {
    const members = [member("b", 80), member("c", 0)]; // free under 90%: b 10, c 90
    let toC = 0;
    for (let i = 0; i < 1000; i++) {
      const d = chooseRedirect(
        { nodeId: "a", connections: 95, capacity: 100 },
        members,
        90,
        () => i / 1000,
      );
      if (d.kind === "redirect" && d.url === "ws://c:8080") toC++;
    }
    assert.equal(toC, 900);
  });

  it("keeps the client above the threshold when no other node has room but it still does", () => {
    const d = chooseRedirect(
      { nodeId: "a", connections: 95, capacity: 100 },
      [member("b", 95)],
      90,
      Math.random,
    );
    assert.deepEqual(d, { kind: "stay" });
  });

  it("answers full when the whole region is at capacity", () => {
    const d = chooseRedirect(
      { nodeId: "a", connections: 100, capacity: 100 },
      [member("b", 100)],
      90,
      Math.random,
    );
    assert.deepEqual(d, { kind: "full" });
  });

  it("as a balancer, always sends the client to a node; full when none has room", () => {
    assert.equal(chooseRedirect(undefined, [member("b", 10)], 90, Math.random).kind, "redirect");
    assert.deepEqual(chooseRedirect(undefined, [member("b", 95)], 90, Math.random), {
      kind: "redirect",
      url: "ws://b:8080",
    });
    assert.deepEqual(chooseRedirect(undefined, [member("b", 100)], 90, Math.random), {
      kind: "full",
    });
    assert.deepEqual(chooseRedirect(undefined, [], 90, Math.random), { kind: "full" });
  });

  it("reads members given as a one-shot iterator (a Map's values) as fully as an array", () => {
    // Every node above its threshold, one still under capacity: the balancer's fallback.
    const members = new Map([
      ["a", member("a", 100)],
      ["b", member("b", 95)],
    ]);
    assert.deepEqual(chooseRedirect(undefined, members.values(), 90, Math.random), {
      kind: "redirect",
      url: "ws://b:8080",
    });
  });
});

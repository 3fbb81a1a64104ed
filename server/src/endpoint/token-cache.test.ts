import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { TokenCache } from "./token-cache.js";

describe("TokenCache (frequency admission)", () => {
  it("keeps hot tokens through a flood of tokens asked for once", () => {
    const cap = 1000;
    const cache = new TokenCache<number>(cap);
    const ask = (k: string, v: number) => {
      if (cache.get(k) === undefined) cache.offer(k, v);
    };
    // App servers PUT to 1000 endpoints, again and again.
    for (let round = 0; round < 8; round++) for (let i = 0; i < cap; i++) ask(`hot-${i}`, i);
    // An attacker mints 20,000 fresh endpoints and PUTs to each once, while the app
    // servers go on (each hot endpoint once more during the flood).
    for (let i = 0; i < 20_000; i++) {
      ask(`fresh-${i}`, i);
      if (i % 20 === 0) ask(`hot-${(i / 20) % cap}`, i);
    }
    let hits = 0;
    for (let i = 0; i < cap; i++) if (cache.get(`hot-${i}`) !== undefined) hits++;
    assert.ok(hits >= 0.95 * cap, `${hits} of ${cap} hot tokens still cached`);
    assert.ok(cache.size <= cap);
  });

  it("admits a newcomer once it is asked for more often than the entry it would evict", () => {
    const cache = new TokenCache<string>(2);
    const ask = (k: string) => {
      if (cache.get(k) === undefined) cache.offer(k, k);
    };
    ask("a");
    ask("b");
    ask("c"); // asked once, like the LRU entry "a": not admitted
    assert.equal(cache.get("c"), undefined);
    for (let i = 0; i < 3; i++) ask("c");
    assert.equal(cache.get("c"), "c");
    assert.equal(cache.size, 2);
  });
});

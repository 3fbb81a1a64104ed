import assert from "node:assert/strict";
import { test } from "node:test";
import { beginRotation, finishRotation, formatKeys, nextId, parseKeys } from "./token-keys.js";

test("rotation appends an accept-only key, then promotes it and trims to keep", () => {
  const start = parseKeys("2:BBB,1:AAA");
  const { keys, id } = beginRotation(start, "CCC");
  assert.equal(id, 3);
  assert.equal(formatKeys(keys), "2:BBB,1:AAA,3:CCC", "the minting key stays first during phase 1");
  assert.equal(formatKeys(finishRotation(keys, 3, 2)), "3:CCC,2:BBB");
  assert.equal(
    formatKeys(finishRotation(keys, 9, 2)),
    "2:BBB,1:AAA,3:CCC",
    "unknown id: unchanged",
  );
});

test("ids wrap at 256 and skip ones in use", () => {
  assert.equal(nextId([]), 1);
  assert.equal(nextId(parseKeys("255:A,0:B")), 1);
});

/**
 * The bench's CPU-profile breakdown (bench/profile.ts), on a hand-made V8 profile: samples
 * are put in their category by their own frame and its callers, only the window counts,
 * idle time does not, and a missing profile (a node killed with SIGKILL) is skipped.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { profileBreakdown } from "../../bench/profile.js";

const dir = mkdtempSync(join(tmpdir(), "edition-profile-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const frame = (functionName: string, url = "", lineNumber = 0) => ({
  functionName,
  url,
  lineNumber,
});

describe("profileBreakdown", () => {
  it("sums the window's samples by category, by caller for socket writes", () => {
    const profile = {
      startTime: 1_000_000,
      nodes: [
        { id: 1, callFrame: frame("(root)"), children: [2, 3, 4, 7] },
        { id: 2, callFrame: frame("(idle)") },
        {
          id: 3,
          callFrame: frame("sendCommand", "file:///x/node_modules/ioredis/built/Redis.js"),
          children: [5],
        },
        {
          id: 4,
          callFrame: frame("flush", "file:///x/server/dist/transport/router.js"),
          children: [6],
        },
        { id: 5, callFrame: frame("writeUtf8String") },
        { id: 6, callFrame: frame("writeBuffer") },
        { id: 7, callFrame: frame("deliver", "file:///x/server/dist/delivery/deliver.js") },
      ],
      // 1 ms apart: samples at 1, 2, … 8 ms after the start.
      samples: [2, 5, 5, 6, 7, 2, 5, 7],
      timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
    };
    const file = join(dir, "node-0.cpuprofile");
    writeFileSync(file, JSON.stringify(profile));
    // The window 2..7 ms: samples at 2, 3, 4, 5, 6 ms (5, 5, 6, 7, idle).
    const b = profileBreakdown([file, join(dir, "killed.cpuprofile")], 2, 7);
    assert.equal(b.profiles, 1);
    assert.equal(b.busyMs, 4);
    assert.deepEqual(b.shares, [
      ["socket writes: Redis", 0.5],
      ["socket writes: router", 0.25],
      ["Edition (other JS)", 0.25],
    ]);
  });
});

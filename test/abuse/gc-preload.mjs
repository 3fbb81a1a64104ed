// Test harness only (preloaded into a node under test with NODE_OPTIONS=--import=…): on
// SIGUSR2 run a full garbage collection and print a JSON line, so a test can read the
// node's heap from /metrics with no garbage left in it. Product code never loads this.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc");
let n = 0;
process.on("SIGUSR2", () => {
  gc();
  gc();
  n++;
  process.stdout.write(`${JSON.stringify({ event: "test_gc", n })}\n`);
});

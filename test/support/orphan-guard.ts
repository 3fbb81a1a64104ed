/**
 * Preloaded (`--import`) into every node the tests spawn: the test process holds the write
 * end of this child's stdin, so when the test process dies — even by SIGKILL or a runner
 * timeout, when no exit hook runs — stdin ends and the node kills itself instead of
 * lingering on its ports. Not part of the server; never loaded in production.
 */
process.stdin.on("end", () => process.kill(process.pid, "SIGKILL"));
process.stdin.on("error", () => process.kill(process.pid, "SIGKILL"));
process.stdin.resume();
// Do not keep the event loop alive on our account: the node decides when it is done.
(process.stdin as unknown as { unref?: () => void }).unref?.();

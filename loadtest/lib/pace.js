// Load shaping inside one VU: start work at a rate, with a bound on what is in flight and a
// deadline, without ever blocking the event loop that the VU's sockets run on.
import { delay } from "./env.js";

const TICK_MS = 10;

/**
 * Calls `fn(i)` for i in 0..count-1, starting at most `perSecond` a second (Infinity: as
 * fast as `maxInFlight` allows) and never more than `maxInFlight` at once. Stops starting
 * new ones at `deadline` (epoch ms). Resolves when every started call has settled, with the
 * number started.
 */
export async function paced(count, perSecond, maxInFlight, deadline, fn) {
  const t0 = Date.now();
  let started = 0;
  let inFlight = 0;
  let wake = null;
  const settled = () => {
    inFlight--;
    if (wake) {
      const w = wake;
      wake = null;
      w();
    }
  };
  while (started < count && Date.now() < deadline) {
    const due =
      perSecond === Infinity ? count : Math.floor(((Date.now() - t0) / 1000) * perSecond) + 1;
    while (started < Math.min(due, count) && inFlight < maxInFlight) {
      const i = started++;
      inFlight++;
      fn(i).then(settled, settled);
    }
    if (started >= count) break;
    if (inFlight >= maxInFlight) {
      // Woken by the next settle, or by the tick (to notice the deadline).
      await Promise.race([new Promise((r) => (wake = r)), delay(TICK_MS * 10)]);
    } else {
      await delay(TICK_MS);
    }
  }
  while (inFlight > 0) {
    await Promise.race([new Promise((r) => (wake = r)), delay(TICK_MS * 10)]);
  }
  return started;
}

/** Waits until `done()` is true or `deadline` (epoch ms) passes; returns done(). */
export async function until(done, deadline, pollMs = 20) {
  while (!done() && Date.now() < deadline) await delay(pollMs);
  return done();
}

/**
 * Calls `fn()` `perSecond` times a second, evenly in 10 ms ticks, until `endAt` (epoch ms)
 * or until `stop()` is true. `fn` must not block (it starts asynchronous work and returns).
 * Resolves with the number of calls.
 */
export async function atRate(perSecond, endAt, fn, stop = () => false) {
  const t0 = Date.now();
  let fired = 0;
  while (Date.now() < endAt && !stop()) {
    const due = Math.floor(((Date.now() - t0) / 1000) * perSecond);
    while (fired < due) {
      fired++;
      fn();
    }
    await delay(TICK_MS);
  }
  return fired;
}

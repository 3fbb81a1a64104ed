/**
 * Lets an event through at most once per key per interval: a flood of failed handshakes
 * from one address logs one line per interval, not one per attempt. The key table is
 * bounded; when full it is cleared (a burst of fresh keys may then log again, never more
 * than `maxKeys` lines per interval).
 */
export function oncePerInterval(
  intervalMs: number,
  maxKeys = 1024,
  now: () => number = Date.now,
): (key: string) => boolean {
  const last = new Map<string, number>();
  return (key) => {
    const t = now();
    const at = last.get(key);
    if (at !== undefined && t - at < intervalMs) return false;
    if (last.size >= maxKeys) last.clear();
    last.set(key, t);
    return true;
  };
}

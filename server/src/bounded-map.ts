/**
 * The one eviction rule of the node's small memories (holder cache, incarnations, missed
 * deliveries, adopted UAIDs, decoded Web Push tokens, VAPID keys): a `Map` in insertion
 * order, the entry set last is the newest, and past `max` entries the oldest goes. Bounded
 * whatever clients or peers send.
 */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  if (max <= 0) return;
  map.set(key, value);
  if (map.size > max) map.delete(map.keys().next().value as K);
}

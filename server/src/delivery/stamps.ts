/**
 * Stamps: the identity a PUT gives the update it stores (`PendingUpdate.stamp`), carried
 * with its direct frame, so a socket tells "the update I got from the flush" from "a new
 * PUT with the same version". Unique across the cluster without coordination: a random
 * per-process prefix and a counter, a few bytes each.
 */
import { randomBytes } from "node:crypto";

export function stamps(): () => string {
  const prefix = randomBytes(6).toString("base64url");
  let n = 0;
  return () => `${prefix}.${(n++).toString(36)}`;
}

/**
 * The WebSocket side of the error catalogue (`errors/catalogue.ts`, where every code and its
 * answers are defined), in the shapes the protocol code uses: close codes by name, the error
 * replies by kind, and the errno of limits.
 */
import { CloseCodes, type CloseName, replyOf, type WsReply } from "../errors/catalogue.js";

/** WebSocket close codes used by the server, by name (numbers from the catalogue). */
export const Close = Object.fromEntries(
  Object.entries(CloseCodes).map(([name, c]) => [name, c.code]),
) as { readonly [K in CloseName]: (typeof CloseCodes)[K]["code"] };

/**
 * `errno` added to an error reply that a configured limit caused (docs/protocol.md allows
 * a numeric errno), so a client or an operator can tell it from a malformed command.
 */
export const LimitErrno = {
  /** register: the UAID has `EDITION_MAX_CHANNELS` channels already. */
  tooManyChannels: replyOf("TOO_MANY_CHANNELS").errno!,
} as const;

/** Error reply statuses and their fixed `error` strings (docs/protocol.md "Error reply"). */
export const ReplyError = {
  invalidCommand: replyOf("INVALID_COMMAND"),
  /**
   * The store failed (unreachable, timed out): the same answer wherever it happens — hello,
   * register, unregister — and the same status a PUT gets (503): nothing was done; retry.
   */
  storage: replyOf("STORE_UNAVAILABLE"),
  /** hello: a UAID that is not a UUID, or a second hello naming another UAID. */
  unavailable: replyOf("BAD_UAID"),
  regionFull: replyOf("REGION_FULL"),
} as const satisfies Record<string, WsReply>;

export type ReplyErrorKind = keyof typeof ReplyError;

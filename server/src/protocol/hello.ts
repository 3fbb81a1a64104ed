/**
 * The UAID rules of hello (docs/protocol.md "hello"), as a pure decision over what the store
 * knows about the requested UAID.
 */

export interface HelloDecision {
  /** The normalised UAID the socket gets. */
  readonly uaid: string;
  /** The text to put in the reply's `uaid` (the client's own spelling when kept). */
  readonly echo: string;
  /** Whether `uaid` is new to the store (create its record). */
  readonly fresh: boolean;
  /** A known UAID the client gave up on (too many channels): drop it so its endpoints 410. */
  readonly drop: string | undefined;
}

export interface HelloRequest {
  readonly requested: string | undefined;
  readonly echo: string | undefined;
  readonly channelCount: number;
}

/**
 * - empty UAID → mint;
 * - more channels than `maxChannels` → mint (and drop the old UAID if the store knew it);
 * - known UAID → keep;
 * - unknown UAID, no channels → keep, echo exactly as sent;
 * - unknown UAID with channels → mint (the client drops its registrations and re-registers).
 */
export function decideUaid(
  req: HelloRequest,
  known: boolean,
  maxChannels: number,
  mint: () => string,
): HelloDecision {
  const { requested, echo } = req;
  if (requested === undefined || echo === undefined) return minted(mint, undefined);
  if (req.channelCount > maxChannels) return minted(mint, known ? requested : undefined);
  if (known) return { uaid: requested, echo, fresh: false, drop: undefined };
  if (req.channelCount === 0) return { uaid: requested, echo, fresh: true, drop: undefined };
  return minted(mint, undefined);
}

function minted(mint: () => string, drop: string | undefined): HelloDecision {
  const uaid = mint();
  return { uaid, echo: uaid, fresh: true, drop };
}

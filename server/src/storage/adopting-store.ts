/**
 * The store of a node that may serve another region's UAIDs (docs/multi-region.md): this
 * region's store, plus the promoted replica of each failed region adopted here.
 *
 * - `hasUser` (hello): a UAID unknown here is looked up in the other regions' replicas.
 *   Held by a region adopted here: it is served from that region's promoted store, and
 *   remembered so its later operations (register, flush, ack) go there too. Held by a
 *   region not adopted here (it is serving, or its failover is still in progress): a
 *   StoreError, so the hello is refused as unavailable and the client retries with its
 *   UAID, rather than being handed a new one and losing its channels.
 * - everything else goes to the store the UAID was found in (default: this region's). A
 *   remembered UAID whose region is no longer adopted here (handed back) fails with
 *   StoreError: nothing is written to the wrong region while those clients are moved home.
 */

import { setBounded } from "../bounded-map.js";
import type {
  AckUpdate,
  MessageStore,
  PendingUpdate,
  RegisterOutcome,
  SaveOutcome,
} from "./store.js";
import { StoreError } from "./store.js";

export interface AdoptedRegions {
  adopted(region: string): boolean;
  adoptedStore(region: string): MessageStore | undefined;
  /** The other region whose replica holds `uaid`, if any. */
  locate(uaid: string): Promise<string | undefined>;
}

/** Remembered adopted UAIDs at most (about one per adopted connection); oldest forgotten first. */
const MAX_REMEMBERED = 2_000_000;

export class AdoptingStore implements MessageStore {
  private readonly regionOfUaid = new Map<string, string>();

  constructor(
    private readonly local: MessageStore,
    private readonly regions: AdoptedRegions,
  ) {}

  /** The other region `uaid` is served for here, if it is one. */
  regionOf(uaid: string | undefined): string | undefined {
    return uaid === undefined ? undefined : this.regionOfUaid.get(uaid);
  }

  private storeOf(uaid: string): MessageStore {
    const region = this.regionOfUaid.get(uaid);
    if (region === undefined) return this.local;
    const s = this.regions.adoptedStore(region);
    if (s === undefined)
      throw new StoreError(`uaid of region ${region}, which is no longer served here`);
    return s;
  }

  async hasUser(uaid: string): Promise<boolean> {
    const remembered = this.regionOfUaid.get(uaid);
    if (remembered !== undefined) {
      const s = this.regions.adoptedStore(remembered);
      if (s !== undefined) return s.hasUser(uaid);
      this.regionOfUaid.delete(uaid);
    }
    if (await this.local.hasUser(uaid)) return true;
    const region = await this.regions.locate(uaid);
    if (region === undefined) return false;
    const s = this.regions.adoptedStore(region);
    if (s === undefined)
      throw new StoreError(`uaid of region ${region}, not adopted here: the client should retry`);
    setBounded(this.regionOfUaid, uaid, region, MAX_REMEMBERED);
    return s.hasUser(uaid);
  }

  addUser(uaid: string): Promise<void> {
    return this.call(() => this.storeOf(uaid).addUser(uaid));
  }

  async dropUser(uaid: string): Promise<void> {
    await this.call(() => this.storeOf(uaid).dropUser(uaid));
    this.regionOfUaid.delete(uaid);
  }

  register(uaid: string, channel: string, maxChannels?: number): Promise<RegisterOutcome> {
    return this.call(() => this.storeOf(uaid).register(uaid, channel, maxChannels));
  }

  unregister(uaid: string, channel: string): Promise<void> {
    return this.call(() => this.storeOf(uaid).unregister(uaid, channel));
  }

  channelCount(uaid: string): Promise<number> {
    return this.call(() => this.storeOf(uaid).channelCount(uaid));
  }

  /** Every argument passed on as is (the port may grow optional ones). */
  savePending(...args: Parameters<MessageStore["savePending"]>): Promise<SaveOutcome> {
    return this.call(() => this.storeOf(args[0]).savePending(...args));
  }

  pending(uaid: string): Promise<PendingUpdate[]> {
    return this.call(() => this.storeOf(uaid).pending(uaid));
  }

  ack(uaid: string, updates: readonly AckUpdate[]): Promise<void> {
    return this.call(() => this.storeOf(uaid).ack(uaid, updates));
  }

  healthy(): Promise<boolean> {
    return this.local.healthy();
  }

  close(): Promise<void> {
    return this.local.close();
  }

  /** A synchronous throw (from `storeOf`) becomes a rejection, as callers expect of a store. */
  private async call<T>(f: () => Promise<T>): Promise<T> {
    return f();
  }
}

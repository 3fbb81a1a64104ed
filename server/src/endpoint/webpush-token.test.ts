import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { randomTokenKey, TokenCodec } from "./token.js";
import { keyHash, WebPushTokens } from "./webpush-token.js";

const UAID = "9f8e7d6c5b4a49382716a5b4c3d2e1f0";
const CHID = "0F1E2D3C-4B5A-4697-8877-665544332211";

describe("WebPushTokens", () => {
  const codec = new TokenCodec([randomTokenKey(3)]);
  const tokens = new WebPushTokens(codec);

  it("round-trips a subscription with and without a key hash, keeping the channelID's spelling", () => {
    const hash = keyHash(Buffer.alloc(65, 4));
    const keyed = tokens.decodeSubscription(
      tokens.subscription({ region: "eu", uaid: UAID, channelID: CHID, keyHash: hash }),
    );
    assert.deepEqual(keyed, {
      region: "eu",
      uaid: UAID,
      channel: "0f1e2d3c4b5a46978877665544332211",
      channelID: CHID,
      keyHash: hash,
    });
    const open = tokens.decodeSubscription(
      tokens.subscription({ region: "eu", uaid: UAID, channelID: CHID, keyHash: undefined }),
    );
    assert.equal(open?.keyHash, undefined);
  });

  it("never opens a SimplePush token, another key's, or a tampered one", () => {
    const sub = tokens.subscription({
      region: "eu",
      uaid: UAID,
      channelID: CHID,
      keyHash: undefined,
    });
    const simple = codec.encode({ region: "eu", uaid: UAID, channelID: CHID });
    assert.equal(tokens.decodeSubscription(simple), undefined);
    assert.equal(codec.decode(sub), undefined);
    const stranger = new WebPushTokens(new TokenCodec([randomTokenKey(3)]));
    assert.equal(stranger.decodeSubscription(sub), undefined);
    const flipped = `${sub.slice(0, 20)}${sub[20] === "A" ? "B" : "A"}${sub.slice(21)}`;
    assert.equal(tokens.decodeSubscription(flipped), undefined);
  });
});

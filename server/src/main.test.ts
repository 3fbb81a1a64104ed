import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "./config.js";
import { createLogger } from "./log.js";
import { clusterSeeds, redisOptions } from "./main.js";

describe("Redis options: the password is honoured in every mode", () => {
  const log = createLogger("silent");
  const ttl = 3600;

  it("cluster seeds given as URLs keep their password (it used to become part of the host)", () => {
    assert.deepEqual(clusterSeeds("redis://:s3cret@10.0.0.1:7000, redis://:s3cret@10.0.0.2:7001"), {
      nodes: [
        { host: "10.0.0.1", port: 7000 },
        { host: "10.0.0.2", port: 7001 },
      ],
      username: undefined,
      password: "s3cret",
    });
    assert.deepEqual(clusterSeeds("a:1,b:2").nodes, [
      { host: "a", port: 1 },
      { host: "b", port: 2 },
    ]);
    const c = loadConfig({
      EDITION_REDIS_MODE: "cluster",
      EDITION_REDIS_URL: "redis://user:p%40ss@r-0:6379,redis://user:p%40ss@r-1:6379",
    });
    const o = redisOptions(c.redis!, log, ttl);
    assert.equal(o.mode, "cluster");
    assert.equal(o.password, "p@ss");
    assert.equal(o.username, "user");
  });

  it("EDITION_REDIS_PASSWORD wins in every mode", () => {
    for (const env of [
      { EDITION_REDIS_URL: "redis://r:6379" },
      { EDITION_REDIS_MODE: "cluster", EDITION_REDIS_URL: "redis://:other@r-0:6379" },
      {
        EDITION_REDIS_MODE: "sentinel",
        EDITION_REDIS_SENTINELS: "s-0:26379",
        EDITION_REDIS_SENTINEL_NAME: "m",
      },
    ]) {
      const c = loadConfig({ ...env, EDITION_REDIS_PASSWORD: "pw" });
      assert.equal(redisOptions(c.redis!, log, ttl).password, "pw", JSON.stringify(env));
    }
  });
});

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { connect } from "../support/client.js";
import { startLocalCluster } from "../support/cluster.js";

describe("cluster smoke", () => {
  it("starts 3 nodes + balancer and converges", async (t) => {
    const c = await startLocalCluster({ nodes: 3, balancer: true, t });
    assert.equal(c.nodes.length, 3);
    const client = await connect(c.nodes[0]!.wsUrl);
    void client;
  });
});

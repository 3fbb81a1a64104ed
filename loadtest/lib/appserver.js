// The app-server side: `PUT <pushEndpoint>` with `version=N[&data=…]`, asynchronously so
// that one VU keeps many PUTs in flight while its sockets keep running. Every PUT is
// entered in the ledger before it is sent (its notification may beat its HTTP answer).
import http from "k6/http";
import { mintVersion } from "./frames.js";
import { m } from "./metrics.js";

const FORM = { "Content-Type": "application/x-www-form-urlencoded" };
/** A PUT that failed faster than this never got to wait for an answer: retry it once. */
const FAST_FAILURE_MS = 1000;

export class AppServer {
  /** @param opts.maxInFlight PUTs this VU keeps in flight at most; past that it skips and counts */
  constructor(ledger, opts) {
    this.ledger = ledger;
    this.maxInFlight = opts.maxInFlight;
    this.timeout = `${opts.timeoutS}s`;
    this.inFlight = 0;
  }

  /** PUTs a fresh version to one channel, fire and forget; false when skipped (too many in flight). */
  put(endpoint, chid, data) {
    return this.send(endpoint, chid, data) !== null;
  }

  /** PUTs and resolves with { status, version } (status -1: skipped, 0: no answer). */
  putAndWait(endpoint, chid, data) {
    return this.send(endpoint, chid, data) ?? Promise.resolve({ status: -1, version: "" });
  }

  send(endpoint, chid, data) {
    if (this.inFlight >= this.maxInFlight) {
      m.putSkipped.add(1);
      return null;
    }
    const version = mintVersion(Date.now());
    const body =
      data === undefined
        ? `version=${version}`
        : `version=${version}&data=${encodeURIComponent(data)}`;
    this.ledger.issued(chid, version);
    this.inFlight++;
    return this.request(endpoint, body).then((status) => this.answered(chid, version, status));
  }

  /**
   * One PUT; resolves with its status (0: no answer). A connection that fails at once is
   * retried once, as any HTTP client does: the node may close an idle keep-alive connection
   * just as k6 reuses it (EOF). The same version again is harmless (a PUT is idempotent).
   */
  async request(endpoint, body) {
    for (let attempt = 0; ; attempt++) {
      const started = Date.now();
      const res = await http
        .asyncRequest("PUT", endpoint, body, {
          headers: FORM,
          timeout: this.timeout,
          tags: { name: "PUT /update/<token>" },
          responseType: "none",
        })
        .catch(() => ({ status: 0 }));
      if (res.status !== 0 || attempt >= 1 || Date.now() - started > FAST_FAILURE_MS) {
        return res.status;
      }
      m.putRetried.add(1);
    }
  }

  answered(chid, version, status) {
    this.inFlight--;
    m.putAccepted.add(status >= 200 && status < 300);
    if (status === 0)
      m.putError.add(1); // k6 reports no answer (timeout, reset) as status 0
    else if (status === 202) m.put202.add(1);
    else if (status < 300) m.put200.add(1);
    else if (status < 500) m.put4xx.add(1);
    else m.put5xx.add(1);
    this.ledger.answered(chid, version, status);
    return { status, version };
  }

  idle() {
    return this.inFlight === 0;
  }
}

/**
 * The demo page (`/demo`, EDITION_DEMO_PAGE=1) in a real headless Chromium against a real
 * node: the page connects as a SimplePush client, shows its endpoint and a ready curl line;
 * a PUT to that endpoint is listed on the page (exact u64 versions, data); acked updates do
 * not come back on reload; an update sent while the page is closed is listed, without its
 * data, when it comes back. Off by default.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Page } from "playwright-core";
import { form, get, put } from "../support/http.js";
import { startNode } from "../support/node.js";
import { launchChromium } from "./chromium.js";

const MAX_U64 = "18446744073709551615";

async function ready(page: Page): Promise<string> {
  await page.waitForSelector('#status[data-state="ready"]', { timeout: 30_000 });
  return (await page.textContent("#endpoint"))!.trim();
}

/** The page's notification rows as [version, data] pairs, newest first. */
async function rows(page: Page): Promise<string[][]> {
  return page.$$eval("tr.notification", (trs) =>
    trs.map((tr) => [...tr.querySelectorAll("td")].slice(1, 3).map((td) => td.textContent ?? "")),
  );
}

describe("demo page in Chromium", () => {
  it("shows an endpoint and a curl line, lists what is PUT to it, and acks it", async (t) => {
    const node = await startNode({ t, env: { EDITION_DEMO_PAGE: "1" } });
    const browser = await launchChromium(t);
    const page = await browser.newPage();
    await page.goto(`${node.httpUrl}/demo`);

    const endpoint = await ready(page);
    assert.match(endpoint, /^http:\/\/\S+\/update\/\S+$/);
    assert.equal((await page.textContent("#curl"))!.trim(), `curl -X PUT -d version=5 ${endpoint}`);

    assert.equal(
      (await put(endpoint, { body: form({ version: 5, data: "hello page" }) })).status,
      200,
    );
    await page.waitForSelector("tr.notification", { timeout: 10_000 });
    assert.deepEqual(await rows(page), [["5", "hello page"]]);

    assert.equal((await put(endpoint, { body: form({ version: MAX_U64 }) })).status, 200);
    await page.waitForFunction('document.querySelectorAll("tr.notification").length === 2');
    assert.deepEqual((await rows(page))[0], [MAX_U64, ""], "the version is shown exactly");

    // Reload: the same client (UAID and channel kept in localStorage), nothing redelivered.
    await page.reload();
    assert.equal(await ready(page), endpoint);
    assert.deepEqual(await rows(page), [], "acked updates are not flushed again");

    // Closed page: the update is stored (202) and listed, without data, when it comes back.
    await page.goto("about:blank");
    const stored = await put(endpoint, { body: form({ version: 6, data: "lost while away" }) });
    assert.equal(stored.status, 202);
    await page.goto(`${node.httpUrl}/demo`);
    assert.equal(await ready(page), endpoint);
    await page.waitForSelector("tr.notification", { timeout: 10_000 });
    assert.deepEqual(await rows(page), [["6", ""]]);
  });

  it("is not served unless EDITION_DEMO_PAGE is on", async (t) => {
    const node = await startNode({ t });
    const r = await get(`${node.httpUrl}/demo`);
    assert.equal(r.status, 404);
    assert.doesNotMatch(r.body, /<html/);
  });
});

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { CloseCodes, Errors, StatusText } from "./catalogue.js";
import { BEGIN, END, withTables } from "./docs-table.js";

const doc = (name: string) =>
  readFileSync(fileURLToPath(new URL(`../../../docs/${name}`, import.meta.url)), "utf8");

describe("docs/errors.md", () => {
  it("its tables are the catalogue's (run `npm run gen:errors` after changing it)", () => {
    const text = doc("errors.md");
    assert.equal(text, withTables(text), "docs/errors.md is stale: npm run gen:errors");
  });

  it("lists every code with its close code, statuses, errno and label", () => {
    const text = doc("errors.md");
    const table = text.slice(text.indexOf(BEGIN), text.indexOf(END));
    for (const [code, e] of Object.entries(Errors)) {
      const row = table.split("\n").find((l) => l.startsWith(`| \`${code}\` |`));
      assert.ok(row, `${code} has a row`);
      const cells = row.split(" | ");
      if ("close" in e) assert.equal(cells[1], String(CloseCodes[e.close].code), code);
      if ("reply" in e)
        assert.ok(cells[2]!.startsWith(`${e.reply.status} "${e.reply.error}"`), code);
      if ("http" in e) {
        assert.ok(cells[3]!.startsWith(`${e.http.status} ${StatusText[e.http.status]}`), code);
        if ("errno" in e.http) assert.ok(cells[3]!.includes(`errno ${e.http.errno}`), code);
      }
      assert.ok(cells[5]!.startsWith(`\`${e.label}\``), code);
    }
  });

  it("is linked from the docs index and from protocol.md and webpush.md", () => {
    assert.match(doc("README.md"), /\(errors\.md\)/);
    assert.match(doc("protocol.md"), /\(errors\.md/);
    assert.match(doc("webpush.md"), /\(errors\.md/);
  });
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { loadOperatorConfig } from "./config.js";

test("EDITION_OPERATOR_WATCH_NAMESPACE: empty is every namespace, else one or a comma list", () => {
  assert.deepEqual(loadOperatorConfig({}).watchNamespaces, []);
  assert.deepEqual(
    loadOperatorConfig({ EDITION_OPERATOR_WATCH_NAMESPACE: "team-a" }).watchNamespaces,
    ["team-a"],
  );
  assert.deepEqual(
    loadOperatorConfig({ EDITION_OPERATOR_WATCH_NAMESPACE: " team-a, team-b ,team-a," })
      .watchNamespaces,
    ["team-a", "team-b"],
  );
  assert.throws(
    () => loadOperatorConfig({ EDITION_OPERATOR_WATCH_NAMESPACE: "team-a,Team_B" }),
    /EDITION_OPERATOR_WATCH_NAMESPACE: "Team_B" is not a namespace name/,
  );
});

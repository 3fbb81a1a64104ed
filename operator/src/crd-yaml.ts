/** Renders the PushCluster CRD to the YAML file shipped in the chart's crds/ folder. */
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { pushClusterCrd } from "./crd-object.js";

export const CRD_PATH = fileURLToPath(
  new URL("../../charts/edition/crds/pushclusters.edition.dev.yaml", import.meta.url),
);

const HEADER =
  "# Generated from operator/src/crd.ts by `npm run gen:crd`. Do not edit: change crd.ts and\n" +
  "# regenerate; operator/src/crd.test.ts fails when this file is stale.\n";

export function renderCrdYaml(): string {
  return HEADER + stringify(pushClusterCrd(), { lineWidth: 0, aliasDuplicateObjects: false });
}

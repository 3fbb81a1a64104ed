/** `npm run gen:crd`: writes the PushCluster CRD YAML into the chart. */
import { writeFileSync } from "node:fs";
import { CRD_PATH, renderCrdYaml } from "./crd-yaml.js";

writeFileSync(CRD_PATH, renderCrdYaml());
process.stdout.write(`wrote ${CRD_PATH}\n`);

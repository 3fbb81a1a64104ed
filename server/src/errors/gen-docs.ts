/** `npm run gen:errors`: rewrites the generated tables of docs/errors.md from the catalogue. */
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { withTables } from "./docs-table.js";

const path = fileURLToPath(new URL("../../../docs/errors.md", import.meta.url));
writeFileSync(path, withTables(readFileSync(path, "utf8")));
process.stdout.write(`wrote ${path}\n`);

/**
 * Router TLS material for one test run, made with openssl: a cluster CA and one node
 * certificate it signed (used by every node, as server and as client: the router checks the
 * chain, not a name), and the same again from an unrelated CA for a peer that must be refused.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface RouterCerts {
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 });
}

/** A CA named `name` under `dir/name` and a node certificate for both TLS roles. */
export function makeRouterCerts(dir: string, name: string): RouterCerts {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(
    ["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]
      .concat(["-subj", `/CN=${name} router CA`])
      .concat(["-addext", "basicConstraints=critical,CA:TRUE"])
      .concat(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
    d,
  );
  openssl(
    ["req", "-new", ...ec, "-keyout", "node.key", "-out", "node.csr"].concat([
      "-subj",
      `/CN=${name} router`,
    ]),
    d,
  );
  writeFileSync(
    join(d, "node.ext"),
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "node.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
    ].concat(["-out", "node.pem", "-days", "2", "-extfile", "node.ext"]),
    d,
  );
  return { caFile: join(d, "ca.pem"), certFile: join(d, "node.pem"), keyFile: join(d, "node.key") };
}

/**
 * A throw-away certificate authority and a server certificate for 127.0.0.1, made with
 * openssl for one test run. Firefox refuses a self-signed CA certificate used directly as a
 * server certificate (MOZILLA_PKIX_ERROR_CA_CERT_USED_AS_END_ENTITY), hence the two levels.
 */
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface TestCerts {
  /** PEM of the CA (trust this). */
  readonly caFile: string;
  readonly ca: Buffer;
  /** Server certificate and key for EDITION_TLS_CERT / EDITION_TLS_KEY. */
  readonly certFile: string;
  readonly keyFile: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"], timeout: 30_000 });
}

export function makeCerts(dir: string): TestCerts {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(
    ["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2"]
      .concat(["-subj", "/CN=Edition test CA"])
      .concat(["-addext", "basicConstraints=critical,CA:TRUE"])
      .concat(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
    dir,
  );
  openssl(
    ["req", "-new", ...ec, "-keyout", "server.key", "-out", "server.csr"].concat([
      "-subj",
      "/CN=127.0.0.1",
    ]),
    dir,
  );
  writeFileSync(
    join(dir, "server.ext"),
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n",
  );
  openssl(
    [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
    ].concat(["-out", "server.pem", "-days", "2", "-extfile", "server.ext"]),
    dir,
  );
  return {
    caFile: join(dir, "ca.pem"),
    ca: readFileSync(join(dir, "ca.pem")),
    certFile: join(dir, "server.pem"),
    keyFile: join(dir, "server.key"),
  };
}

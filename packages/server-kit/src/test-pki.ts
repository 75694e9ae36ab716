// For tests: a throwaway PKI made with the openssl CLI in a temporary directory — a CA, a server
// certificate for localhost / 127.0.0.1, client certificates with a SPIFFE URI SAN and with a DNS
// SAN, and a client certificate from another CA (bearing the same SPIFFE id).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestCertificate {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: Buffer;
  readonly server: TestCertificate;
  /** SAN URI:spiffe://example.org/ns/test/sa/billing */
  readonly spiffeClient: TestCertificate;
  /** SAN DNS:worker.example.org */
  readonly dnsClient: TestCertificate;
  /** Issued by another CA, with the same SPIFFE id as spiffeClient. */
  readonly untrustedClient: TestCertificate;
  remove(): void;
}

export const TEST_SPIFFE_ID = "spiffe://example.org/ns/test/sa/billing";
export const TEST_DNS_NAME = "worker.example.org";

function openssl(dir: string, args: readonly string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

function makeCa(dir: string, name: string): void {
  openssl(dir, [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
    "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "2", "-subj", `/CN=${name}`,
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
  ]);
}

function issue(dir: string, ca: string, name: string, extensions: readonly string[]): TestCertificate {
  writeFileSync(join(dir, `${name}.ext`), ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", ...extensions].join("\n") + "\n");
  openssl(dir, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`]);
  openssl(dir, [
    "x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-set_serial", `0x${randomBytes(8).toString("hex")}`,
    "-days", "1", "-extfile", `${name}.ext`, "-out", `${name}.pem`,
  ]);
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

/**
 * Issues a client certificate from the CA in `caCertFile` / `caKeyFile` (e.g. a dev CA), into `dir`,
 * with the given SANs ("URI:…", "DNS:…").
 */
export function issueClientCertificate(dir: string, ca: { readonly certFile: string; readonly keyFile: string }, name: string, sans: readonly string[]): TestCertificate {
  writeFileSync(join(dir, `${name}.ext`), ["basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature", "extendedKeyUsage=clientAuth", `subjectAltName=${sans.join(",")}`].join("\n") + "\n");
  openssl(dir, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`]);
  openssl(dir, [
    "x509", "-req", "-in", `${name}.csr`, "-CA", ca.certFile, "-CAkey", ca.keyFile, "-set_serial", `0x${randomBytes(8).toString("hex")}`,
    "-days", "1", "-extfile", `${name}.ext`, "-out", `${name}.pem`,
  ]);
  const certFile = join(dir, `${name}.pem`);
  const keyFile = join(dir, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
}

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), "keyhold-pki-"));
  try {
    makeCa(dir, "test-ca");
    makeCa(dir, "other-ca");
    const client = ["extendedKeyUsage=clientAuth"];
    return {
      dir,
      caFile: join(dir, "test-ca.pem"),
      ca: readFileSync(join(dir, "test-ca.pem")),
      server: issue(dir, "test-ca", "server", ["extendedKeyUsage=serverAuth", "subjectAltName=DNS:localhost,IP:127.0.0.1"]),
      spiffeClient: issue(dir, "test-ca", "spiffe-client", [...client, `subjectAltName=URI:${TEST_SPIFFE_ID}`]),
      dnsClient: issue(dir, "test-ca", "dns-client", [...client, `subjectAltName=DNS:${TEST_DNS_NAME}`]),
      untrustedClient: issue(dir, "other-ca", "untrusted-client", [...client, `subjectAltName=URI:${TEST_SPIFFE_ID}`]),
      remove: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

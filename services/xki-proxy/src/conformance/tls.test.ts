// HTTPS and mTLS on the XKS API with a throwaway PKI (openssl CLI): TLS 1.2 or later only; with a
// client CA and an accepted subject, only a certificate of that subject from that CA gets a
// request through — another subject, another CA or no certificate is cut off before any request.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { sendXksRequest, startXkiProxyForTests, type TestXkiProxy } from "../test-support.ts";
import { healthBody } from "./support.ts";

const KMS_SUBJECT = "cks.kms.us-east-1.amazonaws.com";
let dir: string;
let proxy: TestXkiProxy;
const pem = (name: string) => readFileSync(join(dir, name));

function openssl(args: readonly string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

function ca(name: string): void {
  openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.pem`, "-days", "2", "-subj", `/CN=${name}`]);
}

function issue(caName: string, name: string, cn: string, extensions: readonly string[]): void {
  openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${cn}`]);
  writeFileSync(join(dir, `${name}.ext`), extensions.join("\n") + "\n");
  openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", `${caName}.pem`, "-CAkey", `${caName}.key`, "-CAcreateserial", "-out", `${name}.pem`, "-days", "2", "-extfile", `${name}.ext`]);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "xki-pki-"));
  ca("test-ca");
  ca("other-ca");
  issue("test-ca", "server", "localhost", ["extendedKeyUsage=serverAuth", "subjectAltName=DNS:localhost,IP:127.0.0.1"]);
  issue("test-ca", "kms", KMS_SUBJECT, ["extendedKeyUsage=clientAuth"]);
  issue("test-ca", "intruder", "intruder.example.com", ["extendedKeyUsage=clientAuth"]);
  issue("other-ca", "impostor", KMS_SUBJECT, ["extendedKeyUsage=clientAuth"]);
  proxy = await startXkiProxyForTests({
    env: {
      KEYHOLD_XKI_TLS_CERT_FILE: join(dir, "server.pem"),
      KEYHOLD_XKI_TLS_KEY_FILE: join(dir, "server.key"),
      KEYHOLD_XKI_TLS_CLIENT_CA_FILE: join(dir, "test-ca.pem"),
      KEYHOLD_XKI_TLS_CLIENT_SUBJECTS: KMS_SUBJECT,
    },
  });
});
after(async () => {
  await proxy.close();
  rmSync(dir, { recursive: true, force: true });
});

function health(client: string | undefined, maxVersion?: "TLSv1.1") {
  const endpoint = proxy.endpoint.replace("http:", "https:");
  const tls = { ca: pem("test-ca.pem"), ...(client === undefined ? {} : { cert: pem(`${client}.pem`), key: pem(`${client}.key`) }), ...(maxVersion === undefined ? {} : { maxVersion }) };
  return sendXksRequest(endpoint, `/${proxy.prefix}/kms/xks/v1/health`, healthBody, proxy.credentials[0], { region: proxy.region, tls });
}

describe("mTLS", () => {
  test("a client certificate of the accepted subject from the configured CA is served", async () => {
    const answer = await health("kms");
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
  });

  test("another subject, another CA, or no certificate: the connection is refused before any request", async () => {
    for (const client of ["intruder", "impostor", undefined]) {
      await assert.rejects(health(client), (error: unknown) => error instanceof Error, String(client));
    }
  });

  test("TLS 1.1 is refused", async () => {
    await assert.rejects(health("kms", "TLSv1.1"));
  });
});

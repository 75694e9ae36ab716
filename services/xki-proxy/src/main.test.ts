// `keyhold xki-proxy` as a process: it starts from the environment alone (PIN from a file),
// answers a signed health request and the ping path, and exits 0 on SIGTERM.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { createSoftHsmToken, USER_PIN, type SoftHsmToken } from "@keyhold/pkcs11/testing";
import { sendXksRequest } from "./test-support.ts";
import { healthBody } from "./conformance/support.ts";

let token: SoftHsmToken;
let dir: string;
before(() => {
  token = createSoftHsmToken("xki-cli-test");
  dir = mkdtempSync(join(tmpdir(), "xki-cli-"));
});
after(() => {
  token.remove();
  rmSync(dir, { recursive: true, force: true });
});

test("keyhold xki-proxy starts, serves and stops on SIGTERM", async () => {
  const pinFile = join(dir, "pin");
  writeFileSync(pinFile, `${USER_PIN}\n`, { mode: 0o600 });
  const credentials = { accessKeyId: "AKIDCLI000001", secretAccessKey: "cli-secret-access-key-0123456789abcdef" };
  const credentialsFile = join(dir, "credentials.json");
  writeFileSync(credentialsFile, JSON.stringify({ prefixes: [{ prefix: "cli", credentials: [credentials] }] }));
  const main = join(import.meta.dirname, "..", "..", "..", "packages", "cli", "src", "main.ts");
  const child = spawn(process.execPath, [main, "xki-proxy"], {
    env: {
      ...process.env,
      SOFTHSM2_CONF: token.conf,
      KEYHOLD_XKI_ADDR: "127.0.0.1:0",
      KEYHOLD_XKI_HSM_MODULE: token.modulePath,
      KEYHOLD_XKI_HSM_TOKEN_LABEL: token.label,
      KEYHOLD_XKI_HSM_PIN_FILE: pinFile,
      KEYHOLD_XKI_CREDENTIALS_FILE: credentialsFile,
      KEYHOLD_XKI_DATA_DIR: join(dir, "data"),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`did not start: ${output}`)), 20_000);
      const check = () => {
        const match = /XKS API:\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(output);
        if (match !== null) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        } else setTimeout(check, 50);
      };
      check();
    });
    const health = await sendXksRequest(`http://127.0.0.1:${port}`, "/cli/kms/xks/v1/health", healthBody, credentials, { region: "us-east-1" });
    assert.equal(health.status, 200, JSON.stringify(health.body));
    const ping = await fetch(`http://127.0.0.1:${port}/ping`);
    assert.equal(ping.status, 200);
    await ping.text();
  } finally {
    child.kill("SIGTERM");
  }
  assert.equal(await exited, 0, output);
  assert.doesNotMatch(output, new RegExp(USER_PIN));
});

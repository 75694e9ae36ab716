// For tests (this package's and other engineers' end-to-end tests): a real xki-proxy on loopback
// over a real SoftHSMv2 token of its own, with two SigV4 credentials under a path prefix, the
// admin API on its own port, and a small client that signs XKS requests with @keyhold/sigv4.
//
//   const proxy = await startXkiProxyForTests();
//   await proxy.admin.createKey({ externalKeyId: "k1" });
//   const answer = await proxy.xks("encrypt", "k1", { requestMetadata: {...}, plaintext, encryptionAlgorithm: "AES_GCM" });
//   await proxy.close();
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { request as httpRequest, Agent } from "node:http";
import { request as httpsRequest } from "node:https";
import type { SecureVersion } from "node:tls";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createSoftHsmToken, USER_PIN, type SoftHsmToken } from "@keyhold/pkcs11/testing";
import { XkiAdminService } from "@keyhold/proto";
import { createSilentLogger, type Logger } from "@keyhold/server-kit";
import { signRequest, type Credentials } from "@keyhold/sigv4";
import { xksPath, type XksOperation } from "@keyhold/xks";
import { createXkiProxyApp, type XkiProxyApp, type XkiProxyOverrides } from "./app.ts";
import { readXkiProxyConfig } from "./config.ts";

export const TEST_XKS_REGION = "us-east-1";
export const TEST_XKS_PREFIX = "tenant-a";
export const TEST_ADMIN_TOKEN = "test-admin-token-0123456789abcdef";
/** The two credential pairs configured under TEST_XKS_PREFIX. */
export const TEST_CREDENTIALS: readonly [Credentials, Credentials] = [
  { accessKeyId: "AKIDXKITEST000001", secretAccessKey: "first-secret-access-key-0123456789abcdef" },
  { accessKeyId: "AKIDXKITEST000002", secretAccessKey: "second-secret-access-key-0123456789abcdef" },
];

export interface XksAnswer {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
}

export interface XksRequestOptions {
  readonly prefix?: string;
  readonly credentials?: Credentials;
  readonly region?: string;
  readonly service?: string;
  readonly time?: Date;
  readonly method?: string;
  /** Replaces the body after signing (a tampered body). */
  readonly tamper?: (body: Buffer) => Buffer;
  /** Raw body instead of JSON.stringify(body). */
  readonly rawBody?: Buffer;
  /** Send without signing. */
  readonly unsigned?: boolean;
  readonly path?: string;
  /** For an https endpoint: the CA to trust, and a client certificate to present. */
  readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer; readonly maxVersion?: SecureVersion };
}

/** What a client of a test proxy needs: where it is, how to sign, how to administer it. */
export interface XkiProxyEndpoint {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  readonly port: number;
  readonly prefix: string;
  readonly region: string;
  /** Two active credential pairs under `prefix`. */
  readonly credentials: readonly [Credentials, Credentials];
  /** keyhold.xki.v1.XkiAdminService with the admin token. */
  readonly admin: Client<typeof XkiAdminService>;
  /** The same without a token (to test its refusal). */
  readonly anonymousAdmin: Client<typeof XkiAdminService>;
  readonly adminEndpoint: string;
  readonly adminToken: string;
  /** A signed XKS API call (operation on a key, or health). */
  xks(operation: XksOperation, externalKeyId: string | undefined, body: unknown, options?: XksRequestOptions): Promise<XksAnswer>;
  close(): Promise<void>;
}

/** A proxy in this process, with its app and SoftHSM token at hand. */
export interface TestXkiProxy extends XkiProxyEndpoint {
  readonly app: XkiProxyApp;
  readonly token: SoftHsmToken;
  /** The SoftHSM token label the proxy uses (its own, not hsm-gateway's). */
  readonly tokenLabel: string;
}

export interface StartOptions {
  /** A SoftHSM setup to add the proxy's own token to (e.g. hsm-gateway's test token); default: a new one. */
  readonly softHsm?: SoftHsmToken;
  readonly tokenLabel?: string;
  /** More KEYHOLD_XKI_* settings. */
  readonly env?: Readonly<Record<string, string>>;
  readonly overrides?: XkiProxyOverrides;
  readonly logger?: Logger;
  /** An authorization policy document (written to a file). */
  readonly policy?: unknown;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** Sends one signed XKS request to `endpoint`. */
export function sendXksRequest(endpoint: string, path: string, body: unknown, credentials: Credentials | undefined, options: XksRequestOptions & { readonly region: string }): Promise<XksAnswer> {
  const url = new URL(endpoint);
  const payload = options.rawBody ?? Buffer.from(JSON.stringify(body), "utf8");
  const headers: Record<string, string> = { host: url.host, "content-type": "application/json" };
  if (!options.unsigned && credentials !== undefined) {
    const signed = signRequest(
      { method: options.method ?? "POST", path, query: "", headers: Object.entries(headers), body: payload },
      credentials,
      { region: options.region, service: options.service ?? "kms-xks-proxy", time: options.time ?? new Date() },
    );
    headers["x-amz-date"] = signed["x-amz-date"];
    headers["authorization"] = signed.authorization;
  }
  const sent = options.tamper === undefined ? payload : options.tamper(Buffer.from(payload));
  const secure = url.protocol === "https:";
  const send = secure ? httpsRequest : httpRequest;
  const tls = secure ? { ...options.tls, agent: false as const, servername: "localhost" } : { agent };
  return new Promise((resolve, reject) => {
    const request = send(
      { host: url.hostname, port: url.port, path, method: options.method ?? "POST", headers: { ...headers, "content-length": String(sent.length) }, ...tls },
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let parsed: Record<string, unknown> = {};
          try {
            parsed = text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
          } catch {
            parsed = { raw: text };
          }
          resolve({ status: response.statusCode ?? 0, body: parsed, headers: response.headers });
        });
        response.on("error", reject);
      },
    );
    request.on("error", reject);
    request.end(sent);
  });
}

function endpointOf(port: number, adminPort: number | undefined, close: () => Promise<void>): XkiProxyEndpoint {
  const endpoint = `http://127.0.0.1:${port}`;
  const adminEndpoint = `http://127.0.0.1:${adminPort ?? 0}`;
  const bearer: Interceptor = (next) => (req) => {
    req.header.set("authorization", `Bearer ${TEST_ADMIN_TOKEN}`);
    return next(req);
  };
  return {
    endpoint,
    port,
    prefix: TEST_XKS_PREFIX,
    region: TEST_XKS_REGION,
    credentials: TEST_CREDENTIALS,
    admin: createClient(XkiAdminService, createGrpcTransport({ baseUrl: adminEndpoint, interceptors: [bearer] })),
    anonymousAdmin: createClient(XkiAdminService, createGrpcTransport({ baseUrl: adminEndpoint })),
    adminEndpoint,
    adminToken: TEST_ADMIN_TOKEN,
    xks(operation, externalKeyId, body, requestOptions = {}) {
      const path = requestOptions.path ?? xksPath(requestOptions.prefix ?? TEST_XKS_PREFIX, operation, externalKeyId);
      return sendXksRequest(endpoint, path, body, requestOptions.credentials ?? TEST_CREDENTIALS[0], { region: TEST_XKS_REGION, ...requestOptions });
    },
    close,
  };
}

/**
 * A real xki-proxy in a child process of its own, on its own SoftHSMv2 token: for end-to-end
 * tests that also run hsm-gateway's SoftHSM token in this process (one PKCS#11 library per
 * process reads one SoftHSM configuration, and finalizing it is process-wide). `env` adds
 * KEYHOLD_XKI_* settings.
 */
export async function startXkiProxyProcessForTests(env: Readonly<Record<string, string>> = {}): Promise<XkiProxyEndpoint> {
  const child = spawn(process.execPath, [join(import.meta.dirname, "test-child.ts"), JSON.stringify(env)], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const ports = await new Promise<{ port: number; adminPort: number }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`xki-proxy child did not start: ${output}`)), 30_000);
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line) as { port: number; adminPort: number });
    });
    child.once("exit", (code) => reject(new Error(`xki-proxy child exited (${code ?? "signal"}): ${output}`)));
  });
  return endpointOf(ports.port, ports.adminPort, async () => {
    child.kill("SIGTERM");
    await exited;
  });
}

export async function startXkiProxyForTests(options: StartOptions = {}): Promise<TestXkiProxy> {
  const tokenLabel = options.tokenLabel ?? "xki-proxy-test";
  let softHsm: SoftHsmToken;
  let ownsSoftHsm = false;
  if (options.softHsm === undefined) {
    softHsm = createSoftHsmToken(tokenLabel);
    ownsSoftHsm = true;
  } else {
    softHsm = options.softHsm;
    softHsm.addToken(tokenLabel);
  }
  const dir = mkdtempSync(join(tmpdir(), "keyhold-xki-"));
  const credentials = TEST_CREDENTIALS;
  const credentialsFile = join(dir, "credentials.json");
  writeFileSync(credentialsFile, JSON.stringify({ prefixes: [{ prefix: TEST_XKS_PREFIX, credentials }] }), { mode: 0o600 });
  const env: Record<string, string> = {
    KEYHOLD_XKI_ADDR: "127.0.0.1:0",
    KEYHOLD_XKI_ADMIN_ADDR: "127.0.0.1:0",
    KEYHOLD_XKI_ADMIN_TOKEN: TEST_ADMIN_TOKEN,
    KEYHOLD_XKI_HSM_MODULE: softHsm.modulePath,
    KEYHOLD_XKI_HSM_TOKEN_LABEL: tokenLabel,
    KEYHOLD_XKI_HSM_PIN: USER_PIN,
    KEYHOLD_XKI_HSM_RECONNECT_INTERVAL_MS: "100",
    KEYHOLD_XKI_CREDENTIALS_FILE: credentialsFile,
    KEYHOLD_XKI_DATA_DIR: join(dir, "data"),
    KEYHOLD_XKI_REGION: TEST_XKS_REGION,
    ...options.env,
  };
  if (options.policy !== undefined) {
    const policyFile = join(dir, "policy.json");
    writeFileSync(policyFile, JSON.stringify(options.policy));
    env["KEYHOLD_XKI_POLICY_FILE"] = policyFile;
  }
  const app = createXkiProxyApp(readXkiProxyConfig(env), options.logger ?? createSilentLogger(), options.overrides);
  const { xksPort, adminPort } = await app.start();
  const close = async () => {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
    if (ownsSoftHsm) softHsm.remove();
  };
  return { ...endpointOf(xksPort, adminPort, close), app, token: softHsm, tokenLabel };
}

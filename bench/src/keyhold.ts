// The all-in-one Keyhold process (`keyhold dev`), started the way a user starts it, and the
// key and ciphertext its crypto targets need. Every call is authenticated: the benchmark
// configures the bootstrap administrator's API key (KEYHOLD_BOOTSTRAP_API_KEY, fresh each run)
// and sends it as `authorization: Bearer …` from the Connect client and from ghz. It is started
// with KEYHOLD_AUDIT set explicitly: "on" (the normal process) or "off" (no audit interceptors
// or outboxes; benchmarking only), to measure what auditing costs.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { CryptoService, KeyService, KeySpec, KeyUsage, Origin, SecretsService } from "@keyhold/proto";
import type { ChildSet } from "./children.ts";
import type { BenchConfig } from "./config.ts";
import type { BenchServer } from "./servers.ts";
import type { AuditMode } from "./targets.ts";

const HEALTH_POLL_MS = 200;

/** A started process: its server, and its Prometheus endpoint (GET /metrics on the HTTP port). */
export type KeyholdStart = { readonly ok: true; readonly server: BenchServer; readonly metricsUrl: string } | { readonly ok: false; readonly reason: string };

/** What the crypto targets send: a symmetric key, a plaintext and a ciphertext made under it, and a secret holding the plaintext. */
export interface CryptoMaterial {
  readonly keyId: string;
  readonly plaintext: Uint8Array;
  readonly ciphertextBlob: Uint8Array;
  readonly secretName: string;
}

/** An API key shaped as Keyhold generates them: `khk_<16 hex>_<43 base64url>`. */
export function newApiKey(): string {
  return `khk_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}`;
}

/**
 * Starts `node packages/cli/src/main.ts dev` on dataDir (created, and removed on stop), its
 * administrator's API key configured; the server's metadata authenticates as that administrator.
 * Not ok when the CLI is absent or never healthy. audit: KEYHOLD_AUDIT for the process; hsmEnv:
 * the benchmark token's settings (SOFTHSM2_CONF, KEYHOLD_HSM_*) when keys with origin HSM are measured.
 */
export async function startKeyhold(
  config: BenchConfig,
  children: ChildSet,
  dataDir: string,
  audit: AuditMode,
  hsmEnv: Readonly<Record<string, string>> = {},
): Promise<KeyholdStart> {
  const cliMain = join(config.repoRoot, "packages", "cli", "src", "main.ts");
  if (!existsSync(cliMain)) return { ok: false, reason: "packages/cli/src/main.ts does not exist yet" };

  await mkdir(dataDir, { recursive: true });
  const [grpcPort, httpPort] = await freePortPair(config.host);
  const httpAddress = `${config.host}:${httpPort}`;
  const apiKey = newApiKey();
  const child = children.spawnNode(`keyhold dev (audit ${audit})`, [cliMain, "dev"], {
    cwd: config.repoRoot,
    env: {
      ...config.childEnv,
      ...hsmEnv,
      KEYHOLD_DATA_DIR: dataDir,
      KEYHOLD_GRPC_ADDR: `${config.host}:${grpcPort}`,
      KEYHOLD_HTTP_ADDR: httpAddress,
      KEYHOLD_LOG_LEVEL: "warn",
      KEYHOLD_BOOTSTRAP_API_KEY: apiKey,
      KEYHOLD_AUDIT: audit,
    },
  });
  const stop = async () => {
    await children.stop(child);
    await rm(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + config.keyholdReadyTimeoutMs;
  while (child.running && Date.now() < deadline) {
    if (await healthy(`http://${httpAddress}/healthz`)) {
      return { ok: true, server: { child, address: `${config.host}:${grpcPort}`, metadata: { authorization: `Bearer ${apiKey}` }, stop }, metricsUrl: `http://${httpAddress}/metrics` };
    }
    await sleep(HEALTH_POLL_MS);
  }
  const why = child.running
    ? `GET http://${httpAddress}/healthz did not answer 200 within ${config.keyholdReadyTimeoutMs} ms`
    : `it exited before becoming healthy (${child.describeExit()})`;
  await stop();
  const output = child.output();
  return { ok: false, reason: `keyhold dev: ${why}${output === "" ? "" : `; its last output:\n${indent(output)}`}` };
}

/** The sum of keyhold_audit_outbox_unshipped over a Prometheus text exposition (every service's outbox). */
export function unshippedAuditEvents(exposition: string): number {
  let total = 0;
  for (const line of exposition.split("\n")) {
    const match = /^keyhold_audit_outbox_unshipped(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match !== null) total += Number(match[1]);
  }
  return total;
}

const SHIPPED_POLL_MS = 50;

/** GET url's body as text (throws unless 200). */
export type MetricsReader = (url: string) => Promise<string>;

async function fetchMetrics(url: string): Promise<string> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`GET ${url}: ${response.status}`);
  return response.text();
}

/**
 * Waits until the process at metricsUrl has shipped every audit event its outboxes hold (audit
 * off: at once); throws after timeoutMs. Resolves with the milliseconds it waited. read: how the
 * exposition is fetched (default: plain fetch; a TLS port needs its CA).
 */
export async function waitUntilAuditShipped(metricsUrl: string, timeoutMs: number, read: MetricsReader = fetchMetrics): Promise<number> {
  const started = performance.now();
  for (;;) {
    const unshipped = unshippedAuditEvents(await read(metricsUrl));
    const waited = performance.now() - started;
    if (unshipped === 0) return waited;
    if (waited > timeoutMs) throw new Error(`${unshipped} audit events still unshipped after ${Math.round(waited)} ms (${metricsUrl})`);
    await sleep(SHIPPED_POLL_MS);
  }
}

/** What the Sign targets send: an EC P-256 and an RSA-2048 signing key, and a message. */
export interface SigningMaterial {
  readonly ecP256KeyId: string;
  readonly rsa2048KeyId: string;
  readonly message: Uint8Array;
}

function transportTo(server: BenchServer) {
  const withMetadata: Interceptor = (next) => (request) => {
    for (const [name, value] of Object.entries(server.metadata)) request.header.set(name, value);
    return next(request);
  };
  return createGrpcTransport({ baseUrl: `http://${server.address}`, interceptors: [withMetadata] });
}

/** Creates the two signing keys over gRPC, with the server's metadata. */
export async function prepareSigningMaterial(server: BenchServer, message: Uint8Array): Promise<SigningMaterial> {
  const keys = createClient(KeyService, transportTo(server));
  const create = async (keySpec: KeySpec) => {
    const created = await keys.createKey({ keySpec, keyUsage: KeyUsage.SIGN_VERIFY }, { timeoutMs: 30_000 });
    const keyId = created.keyMetadata?.keyId ?? "";
    if (keyId === "") throw new Error("CreateKey answered no key_metadata.key_id");
    return keyId;
  };
  return { ecP256KeyId: await create(KeySpec.EC_P256), rsa2048KeyId: await create(KeySpec.RSA_2048), message };
}

/** Creates a symmetric key and one ciphertext of plaintext under it, over gRPC, with the server's metadata. */
export async function prepareCryptoMaterial(server: BenchServer, plaintext: Uint8Array): Promise<CryptoMaterial> {
  const transport = transportTo(server);
  const keys = createClient(KeyService, transport);
  const crypto = createClient(CryptoService, transport);
  const created = await keys.createKey({}, { timeoutMs: 10_000 });
  const keyId = created.keyMetadata?.keyId ?? "";
  if (keyId === "") throw new Error("CreateKey answered no key_metadata.key_id");
  const encrypted = await crypto.encrypt({ keyId, plaintext }, { timeoutMs: 10_000 });
  if (encrypted.ciphertextBlob.length === 0) throw new Error("Encrypt answered an empty ciphertext_blob");
  const secretName = `bench/secret-${randomBytes(4).toString("hex")}`;
  await createClient(SecretsService, transport).createSecret({ name: secretName, secretBinary: plaintext }, { timeoutMs: 10_000 });
  return { keyId, plaintext, ciphertextBlob: encrypted.ciphertextBlob, secretName };
}

/** Creates a SYMMETRIC_DEFAULT key with origin HSM (a token object through hsm-gateway) and checks it encrypts. */
export async function prepareHsmKey(server: BenchServer, plaintext: Uint8Array): Promise<string> {
  const transport = transportTo(server);
  const created = await createClient(KeyService, transport).createKey({ origin: Origin.HSM, description: "bench: HSM key" }, { timeoutMs: 30_000 });
  const keyId = created.keyMetadata?.keyId ?? "";
  if (keyId === "") throw new Error("CreateKey (origin HSM) answered no key_metadata.key_id");
  const encrypted = await createClient(CryptoService, transport).encrypt({ keyId, plaintext }, { timeoutMs: 10_000 });
  if (encrypted.ciphertextBlob[17] !== 0x02) throw new Error("Encrypt under the HSM key did not answer an HSM ciphertext (algorithm 0x02)");
  return keyId;
}

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return response.status === 200;
  } catch {
    return false;
  }
}

/** Two distinct free ports on host (held open together so the OS cannot hand one out twice). */
async function freePortPair(host: string): Promise<[number, number]> {
  const servers = await Promise.all(
    [0, 1].map(() => {
      const server = createServer();
      return new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        server.once("error", reject);
        server.listen(0, host, () => resolve(server));
      });
    }),
  );
  const ports = servers.map((server) => {
    const address = server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    return address.port;
  });
  await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  return [ports[0]!, ports[1]!];
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((line) => `    ${line}`)
    .join("\n");
}

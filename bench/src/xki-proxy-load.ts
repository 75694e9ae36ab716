// xki-proxy at AWS's default external key store quota: an open-loop load of 1,800 requests/s
// (half Encrypt, half Decrypt of 32-byte plaintexts with a 64-byte AAD, each SigV4-signed like
// KMS does) from a Node HTTP/1.1 keep-alive client, against the proxy in a child process on its
// own SoftHSMv2 token. Requests are sent on schedule whether or not earlier ones answered
// (open loop), so a slow proxy shows as latency, not as a lower offered rate. Reports the
// achieved rate, the client latency and the proxy's processing time (its Server-Timing header),
// and PASS/MISS for processing p99 ≤ 50 ms at ≥ 95 % of 1,800/s with no errors.
import { request, Agent } from "node:http";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { signRequest } from "@keyhold/sigv4";
import { TEST_XKS_PREFIX, TEST_XKS_REGION } from "@keyhold/xki-proxy/testing";
import { awaitAnnouncement, type ChildSet } from "./children.ts";
import type { BenchConfig } from "./config.ts";

export const XKI_TARGET_RATE = 1_800;
export const XKI_P99_MAX_MS = 50;

export type XkiCallMode = "thread-pool" | "inline";

export interface XkiLoadResult {
  /** KEYHOLD_XKI_HSM_CALL_MODE of the proxy. */
  readonly mode: XkiCallMode;
  readonly offeredRate: number;
  readonly achievedRate: number;
  readonly seconds: number;
  readonly requests: number;
  readonly errors: number;
  readonly processingP50Ms: number;
  readonly processingP99Ms: number;
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly status: "PASS" | "MISS";
}

export type XkiLoadOutcome = { readonly ok: true; readonly result: XkiLoadResult } | { readonly ok: false; readonly mode: XkiCallMode; readonly reason: string };

const CREDENTIALS = { accessKeyId: "AKIDXKITEST000001", secretAccessKey: "first-secret-access-key-0123456789abcdef" };
const META = { awsPrincipalArn: "arn:aws:iam::111122223333:role/bench", kmsKeyArn: "arn:aws:kms:us-east-1:111122223333:key/bench", kmsRequestId: "bench" };

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly processingMs: number;
}

/**
 * Signed headers of a body, per second: X-Amz-Date has one-second resolution, so every request
 * of the same body to the same proxy within a second carries the same signature. Signing once per
 * second keeps the load generator's CPU for sending (the proxy still verifies every request in
 * full). Keyed by host and path, and reused only for the very payload that was signed: the two
 * call modes run proxies on other ports one after the other, and the host header is signed.
 */
const signatures = new Map<string, { readonly second: number; readonly payload: Buffer; readonly headers: Readonly<Record<string, string>> }>();

function signedHeaders(path: string, payload: Buffer, headers: Readonly<Record<string, string>>): Readonly<Record<string, string>> {
  const second = Math.floor(Date.now() / 1000);
  const key = `${headers["host"] ?? ""} ${path}`;
  const cached = signatures.get(key);
  if (cached !== undefined && cached.second === second && cached.payload === payload) return cached.headers;
  const signed = signRequest({ method: "POST", path, query: "", headers: Object.entries(headers), body: payload }, CREDENTIALS, { region: TEST_XKS_REGION, service: "kms-xks-proxy", time: new Date(second * 1000) });
  const all = { ...headers, ...signed, "content-length": String(payload.length) };
  signatures.set(key, { second, payload, headers: all });
  return all;
}

const payloads = new WeakMap<object, Buffer>();

function send(agent: Agent, port: number, operation: "encrypt" | "decrypt", body: object): Promise<Answer> {
  const path = `/${TEST_XKS_PREFIX}/kms/xks/v1/keys/bench-key/${operation}`;
  let payload = payloads.get(body);
  if (payload === undefined) {
    payload = Buffer.from(JSON.stringify(body));
    payloads.set(body, payload);
  }
  const headers = signedHeaders(path, payload, { host: `127.0.0.1:${port}`, "content-type": "application/json" });
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path, method: "POST", agent, headers }, (response) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        const timing = /proc;dur=([0-9.]+)/.exec(String(response.headers["server-timing"] ?? ""));
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), processingMs: timing === null ? Number.NaN : Number(timing[1]) });
      });
      response.on("error", reject);
    });
    req.on("error", reject);
    req.end(payload);
  });
}

export async function measureXkiProxy(config: BenchConfig, children: ChildSet, progress: (message: string) => void, mode: XkiCallMode): Promise<XkiLoadOutcome> {
  const child = children.spawnNode(`xki-proxy (${mode})`, [join(config.repoRoot, "bench", "src", "xki-proxy-server.ts"), config.host, mode], { cwd: config.repoRoot, env: config.childEnv });
  let port: number;
  try {
    port = await awaitAnnouncement(child, config.serverStartTimeoutMs);
  } catch (error) {
    await children.stop(child);
    return { ok: false, mode, reason: `xki-proxy did not start (SoftHSMv2 installed?): ${error instanceof Error ? error.message : String(error)}` };
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  try {
    const plaintext = randomBytes(32).toString("base64");
    const aad = randomBytes(64).toString("base64");
    const encryptBody = { requestMetadata: { ...META, kmsOperation: "Encrypt" }, plaintext, encryptionAlgorithm: "AES_GCM", additionalAuthenticatedData: aad };
    const sealed = await send(agent, port, "encrypt", encryptBody);
    if (sealed.status !== 200) return { ok: false, mode, reason: `xki-proxy encrypt answered ${sealed.status}: ${sealed.body}` };
    const decryptBody = { ...(JSON.parse(sealed.body) as object), requestMetadata: { ...META, kmsOperation: "Decrypt" }, encryptionAlgorithm: "AES_GCM", additionalAuthenticatedData: aad };

    const run = async (seconds: number) => {
      const processing: number[] = [];
      const latency: number[] = [];
      let errors = 0;
      let sent = 0;
      const inFlight = new Set<Promise<void>>();
      const started = performance.now();
      const end = started + seconds * 1000;
      while (performance.now() < end) {
        const due = Math.floor(((performance.now() - started) / 1000) * XKI_TARGET_RATE);
        while (sent < due) {
          const operation = sent % 2 === 0 ? "encrypt" : "decrypt";
          const at = performance.now();
          sent++;
          const call = send(agent, port, operation, operation === "encrypt" ? encryptBody : decryptBody).then(
            (answer) => {
              latency.push(performance.now() - at);
              if (answer.status === 200) processing.push(answer.processingMs);
              else errors++;
            },
            () => {
              errors++;
            },
          );
          const tracked = call.finally(() => inFlight.delete(tracked));
          inFlight.add(tracked);
        }
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      const sendingSeconds = (performance.now() - started) / 1000;
      await Promise.all(inFlight);
      return { processing, latency, errors, sent, sendingSeconds };
    };

    progress(`xki-proxy (${mode}): warm-up (${config.smoke ? 1 : 3} s at ${XKI_TARGET_RATE}/s)`);
    await run(config.smoke ? 1 : 3);
    const seconds = config.smoke ? 2 : 15;
    progress(`xki-proxy (${mode}): ${seconds} s open loop at ${XKI_TARGET_RATE}/s, encrypt and decrypt`);
    const measured = await run(seconds);
    const processing = measured.processing.sort((a, b) => a - b);
    const latency = measured.latency.sort((a, b) => a - b);
    const achievedRate = (measured.sent - measured.errors) / measured.sendingSeconds;
    const processingP99Ms = percentile(processing, 99);
    const status = processingP99Ms <= XKI_P99_MAX_MS && achievedRate >= XKI_TARGET_RATE * 0.95 && measured.errors === 0 ? "PASS" : "MISS";
    return {
      ok: true,
      result: {
        mode,
        offeredRate: XKI_TARGET_RATE,
        achievedRate,
        seconds,
        requests: measured.sent,
        errors: measured.errors,
        processingP50Ms: percentile(processing, 50),
        processingP99Ms,
        latencyP50Ms: percentile(latency, 50),
        latencyP99Ms: percentile(latency, 99),
        status,
      },
    };
  } finally {
    agent.destroy();
    await children.stop(child);
  }
}

export function formatXkiReport(outcome: XkiLoadOutcome): string {
  if (!outcome.ok) return `xki-proxy, HSM calls ${outcome.mode} (XKS encrypt/decrypt at ${XKI_TARGET_RATE}/s): SKIP — ${outcome.reason}`;
  const r = outcome.result;
  const f = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "n/a");
  return [
    `xki-proxy, HSM calls ${r.mode}${r.mode === "thread-pool" ? " (the default)" : ""}: XKS encrypt + decrypt open loop at ${r.offeredRate}/s for ${r.seconds} s (SigV4, SoftHSMv2, HTTP/1.1 keep-alive):`,
    `  achieved ${r.achievedRate.toFixed(0)} req/s, ${r.requests} requests, ${r.errors} errors`,
    `  processing (Server-Timing) p50 ${f(r.processingP50Ms)} ms, p99 ${f(r.processingP99Ms)} ms   client latency p50 ${f(r.latencyP50Ms)} ms, p99 ${f(r.latencyP99Ms)} ms`,
    `  ${r.status}  processing p99 ≤ ${XKI_P99_MAX_MS} ms at ≥ 95 % of ${r.offeredRate}/s, no errors`,
  ].join("\n");
}

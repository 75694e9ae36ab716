// Starts `keyhold topology` (every service as its own process, mTLS between them, key-service
// replicas sharing one address) as a child process with its data in a fresh temporary directory,
// and hands tests its addresses, the CA to trust, the bootstrap administrator's API key and
// clients. stop() sends SIGTERM (the launcher stops every service) and removes the directory.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Interceptor, Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { TOPOLOGY_LINE_PREFIX, type ServedService, type TopologyAddresses } from "@keyhold/cli";
import { createPeerTransport } from "@keyhold/server-kit";
import { generateApiKey, withCredential } from "./auth.ts";

const MAIN = fileURLToPath(new URL("../../packages/cli/src/main.ts", import.meta.url));

export interface TopologyOptions {
  /** key-service processes on the one key-service address (default 2). */
  readonly keyServiceReplicas?: number;
  /** More environment for the launcher (passed on to every service). */
  readonly env?: Readonly<Record<string, string>>;
  /** How long the whole start may take (default 120 s: each process starts Node anew). */
  readonly startTimeoutMs?: number;
}

export interface TestTopology {
  readonly addresses: TopologyAddresses;
  /** The dev CA certificate every service's TLS certificate chains to. */
  readonly ca: Buffer;
  /** The bootstrap administrator's API key (KEYHOLD_BOOTSTRAP_API_KEY). */
  readonly credential: string;
  readonly dataDir: string;
  /** host:port of a service's gRPC port. */
  grpcAddress(service: ServedService): string;
  /** A gRPC (HTTP/2, TLS) transport to a service as the administrator: one kept connection per transport. */
  grpc(service: ServedService, interceptors?: readonly Interceptor[]): Transport;
  /** A Connect (HTTP/1.1, TLS) transport to a service's HTTP port as the administrator. */
  connect(service: ServedService, interceptors?: readonly Interceptor[]): Transport;
  /**
   * A client transport that retries idempotent methods on UNAVAILABLE (createPeerTransport with no
   * client certificate: it is no service), as the administrator.
   */
  retrying(service: ServedService, options?: { readonly defaultTimeoutMs?: number }): Transport;
  /** Everything the launcher and its services wrote so far (launcher stderr). */
  output(): string;
  stop(): Promise<void>;
}

export async function startTestTopology(options: TopologyOptions = {}): Promise<TestTopology> {
  const dataDir = await mkdtemp(join(tmpdir(), "keyhold-topology-"));
  const credential = generateApiKey();
  const child: ChildProcess = spawn(process.execPath, [MAIN, "topology"], {
    env: {
      ...process.env,
      KEYHOLD_DATA_DIR: dataDir,
      KEYHOLD_LOG_LEVEL: "warn",
      KEYHOLD_SHUTDOWN_GRACE_MS: "2000",
      KEYHOLD_BOOTSTRAP_API_KEY: credential,
      KEYHOLD_TOPOLOGY_KEY_REPLICAS: String(options.keyServiceReplicas ?? 2),
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString("utf8");
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let addresses: TopologyAddresses;
  try {
    addresses = await new Promise<TopologyAddresses>((resolve, reject) => {
      let stdout = "";
      const timer = setTimeout(() => reject(new Error(`keyhold topology did not start in time:\n${stderr.slice(-2000)}`)), options.startTimeoutMs ?? 120_000);
      child.stdout?.on("data", (chunk: Buffer) => {
        stdout += chunk.toString("utf8");
        const line = stdout.split("\n").find((l) => l.startsWith(TOPOLOGY_LINE_PREFIX));
        if (line !== undefined) {
          clearTimeout(timer);
          resolve(JSON.parse(line.slice(TOPOLOGY_LINE_PREFIX.length)) as TopologyAddresses);
        }
      });
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`keyhold topology exited (${signal ?? `code ${String(code)}`}) before it served:\n${stderr.slice(-2000)}`));
      });
    });
  } catch (error) {
    child.kill("SIGTERM");
    await exited;
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const ca = readFileSync(addresses.caFile);
  const admin = withCredential(credential);
  const at = (service: ServedService): { grpc: string; http: string } => {
    const found = addresses.services[service];
    if (found === undefined) throw new Error(`${service} is not part of this topology`);
    return found;
  };
  let stopped: Promise<void> | undefined;
  return {
    addresses,
    ca,
    credential,
    dataDir,
    grpcAddress: (service) => at(service).grpc,
    grpc: (service, interceptors = [admin]) =>
      createGrpcTransport({ baseUrl: `https://${at(service).grpc}`, interceptors: [...interceptors], nodeOptions: { ca, servername: service } }),
    connect: (service, interceptors = [admin]) =>
      createConnectTransport({ baseUrl: `https://${at(service).http}`, httpVersion: "1.1", interceptors: [...interceptors], nodeOptions: { ca, servername: service } }),
    retrying: (service, retryOptions = {}) =>
      createPeerTransport({
        address: at(service).grpc,
        peerService: service,
        tls: { ca },
        callingService: "test-client",
        clientInterceptors: [admin],
        defaultTimeoutMs: retryOptions.defaultTimeoutMs ?? 10_000,
        retry: { maxAttempts: 6, initialBackoffMs: 50, maxBackoffMs: 500 },
      }),
    output: () => stderr,
    stop() {
      stopped ??= (async () => {
        try {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill("SIGTERM");
            const killer = setTimeout(() => child.kill("SIGKILL"), 60_000);
            await exited;
            clearTimeout(killer);
          }
        } finally {
          await rm(dataDir, { recursive: true, force: true });
        }
      })();
      return stopped;
    },
  };
}

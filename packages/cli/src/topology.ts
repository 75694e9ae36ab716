// `keyhold topology`: the distributed topology on one machine. Makes a development CA in its data
// directory (ca/), starts throwaway PostgreSQL and Redis when asked, then each service as its own
// `keyhold serve <service>` process with its own certificate and ports: policy-service,
// audit-service, hsm-gateway (only with an HSM module configured), key-service ×N on ONE shared
// address (SO_REUSEPORT: the kernel spreads connections among the replicas), secrets-service, and
// xki-proxy (`keyhold xki-proxy`, only with its own HSM configured: KEYHOLD_XKI_HSM_MODULE …). It
// waits for each to answer grpc.health.v1 SERVING, prints the public addresses (one JSON line on
// stdout, a summary on stderr), and on SIGTERM / SIGINT stops the services in reverse order, then
// the stores. Each process's output goes to logs/<process>.log; a process that dies is reported
// and not restarted.
//
// Ports are picked free up front, so peers can be told each other's addresses before they start
// (policy-service ships audit events to audit-service, which asks policy-service for decisions:
// each retries until the other is up).
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";
import { mkdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Health, HealthCheckResponse_ServingStatus } from "@keyhold/proto";
import { createDevCa, freePort, type DevCaResult, type KeyholdServiceName } from "@keyhold/server-kit";
import type { ServedService, TopologyConfig } from "./config.ts";
import { startGateway, type Gateway } from "./gateway.ts";
import { startThrowawayPostgres, startThrowawayRedis, type ThrowawayStore } from "./throwaway-stores.ts";

/** A service's public addresses (host:port). */
export interface ServiceAddresses {
  readonly grpc: string;
  readonly http: string;
}

/** What `keyhold topology` prints on stdout (one line, prefixed "KEYHOLD_TOPOLOGY "), once everything serves. */
export interface TopologyAddresses {
  readonly dataDir: string;
  /** The CA of every service's certificate: clients trust it for the TLS ports. */
  readonly caFile: string;
  readonly services: Readonly<Partial<Record<ServedService, ServiceAddresses>>>;
  /** Process id of each process, by process name (key-service-1, key-service-2, …). */
  readonly pids: Readonly<Record<string, number>>;
  /** Each process's log file, by process name. */
  readonly logs: Readonly<Record<string, string>>;
  /** The throwaway PostgreSQL's URL without its password (the services get it with), when started. */
  readonly databaseUrl: string | undefined;
  readonly redisUrl: string | undefined;
  /** With KEYHOLD_TOPOLOGY_GATEWAY=on: the plaintext ports forwarding to every service (gateway.ts). */
  readonly gateway: ServiceAddresses | undefined;
  /** With xki-proxy's HSM configured: its XKS API base URL, and its admin gRPC address (when an admin token is configured). */
  readonly xkiProxy: { readonly endpoint: string; readonly admin: string | undefined } | undefined;
}

/** What `keyhold xki-proxy` writes (to stderr) once it listens. */
const XKI_PROXY_RUNNING = "Keyhold xki-proxy is running";

export const TOPOLOGY_LINE_PREFIX = "KEYHOLD_TOPOLOGY ";
/** What `keyhold serve` prints on stdout once it listens (one JSON line). */
export const SERVING_LINE_PREFIX = "KEYHOLD_SERVING ";

interface ProcessSpec {
  readonly name: string;
  /** What it runs: `keyhold serve <service>`, or `keyhold xki-proxy`. */
  readonly service: ServedService | "xki-proxy";
  readonly env: Record<string, string>;
}

interface Running {
  readonly spec: ProcessSpec;
  readonly child: ChildProcess;
  readonly log: WriteStream;
  readonly exited: Promise<void>;
}

export interface Topology {
  readonly addresses: TopologyAddresses;
  stop(): Promise<void>;
}

const MAIN = fileURLToPath(new URL("./main.ts", import.meta.url));

function hostPort(host: string, port: number): string {
  return `${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Resolves when grpc.health.v1 says the overall status at `address` is SERVING. */
async function waitServing(address: string, ca: Buffer, peerService: KeyholdServiceName, deadline: number, exited: () => boolean): Promise<void> {
  const health = createClient(Health, createGrpcTransport({ baseUrl: `https://${address}`, nodeOptions: { ca, servername: peerService } }));
  let last = "no answer";
  while (performance.now() < deadline) {
    if (exited()) throw new Error(`${peerService} exited before it served`);
    try {
      const { status } = await health.check({ service: "" }, { timeoutMs: 1000 });
      if (status === HealthCheckResponse_ServingStatus.SERVING) return;
      last = HealthCheckResponse_ServingStatus[status] ?? String(status);
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${peerService} at ${address} did not become SERVING in time (last: ${last})`);
}

export async function startTopology(config: TopologyConfig, write: (line: string) => void): Promise<Topology> {
  const started: Running[] = [];
  const stores: ThrowawayStore[] = [];
  let gateway: Gateway | undefined;
  const stop = async () => {
    await gateway?.stop();
    gateway = undefined;
    for (const running of started.splice(0).reverse()) {
      if (running.child.exitCode === null && running.child.signalCode === null) {
        running.child.kill("SIGTERM");
        const killer = setTimeout(() => running.child.kill("SIGKILL"), 15_000);
        await running.exited;
        clearTimeout(killer);
      }
      running.log.end();
    }
    for (const store of stores.splice(0).reverse()) {
      try {
        await store.stop();
      } catch (error) {
        write(`keyhold topology: stopping a store failed: ${error instanceof Error ? error.message : String(error)}\n`);
      }
    }
  };
  try {
    await mkdir(join(config.dataDir, "logs"), { recursive: true });
    const ca: DevCaResult = createDevCa(join(config.dataDir, "ca"), { force: config.forceCa });
    const caPem = await readFile(ca.caFile);
    const storeEnv: Record<string, string> = {};
    let databaseUrl: string | undefined;
    let redisUrl: string | undefined;
    if (config.postgres) {
      const postgres = await startThrowawayPostgres(join(config.dataDir, "postgres"));
      stores.push(postgres);
      storeEnv["KEYHOLD_DATABASE_URL"] = postgres.url;
      databaseUrl = postgres.displayUrl;
    }
    if (config.redis) {
      const redis = await startThrowawayRedis(join(config.dataDir, "redis"));
      stores.push(redis);
      storeEnv["KEYHOLD_REDIS_URL"] = redis.url;
      redisUrl = redis.displayUrl;
    }

    const services: ServedService[] = ["policy-service", "audit-service", ...(config.hsm ? (["hsm-gateway"] as const) : []), "key-service", "secrets-service"];
    const addresses: Partial<Record<ServedService, ServiceAddresses>> = {};
    for (const service of services) {
      addresses[service] = { grpc: hostPort(config.host, await freePort(config.host)), http: hostPort(config.host, await freePort(config.host)) };
    }
    const peerEnv: Record<string, string> = {
      KEYHOLD_POLICY_SERVICE_ADDR: addresses["policy-service"]!.grpc,
      KEYHOLD_AUDIT_SERVICE_ADDR: addresses["audit-service"]!.grpc,
      KEYHOLD_KEY_SERVICE_ADDR: addresses["key-service"]!.grpc,
      ...(addresses["hsm-gateway"] === undefined ? {} : { KEYHOLD_HSM_GATEWAY_ADDR: addresses["hsm-gateway"].grpc }),
    };
    const specFor = (service: ServedService, name: string, extra: Record<string, string> = {}): ProcessSpec => ({
      name,
      service,
      env: {
        ...(config.serviceEnv as Record<string, string>),
        ...storeEnv,
        ...peerEnv,
        KEYHOLD_DATA_DIR: join(config.dataDir, "services"),
        KEYHOLD_AUDIT_OUTBOX_DIR: join(config.dataDir, "outbox", name),
        KEYHOLD_GRPC_ADDR: addresses[service]!.grpc,
        KEYHOLD_HTTP_ADDR: addresses[service]!.http,
        KEYHOLD_TLS_CERT_FILE: ca.services[service].certFile,
        KEYHOLD_TLS_KEY_FILE: ca.services[service].keyFile,
        KEYHOLD_TLS_CLIENT_CA_FILE: ca.caFile,
        KEYHOLD_STOP_ON_STDIN_CLOSE: "true",
        ...extra,
      },
    });

    const launch = async (spec: ProcessSpec): Promise<Running> => {
      const log = createWriteStream(join(config.dataDir, "logs", `${spec.name}.log`), { flags: "a" });
      const command = spec.service === "xki-proxy" ? ["xki-proxy"] : ["serve", spec.service];
      const child = spawn(process.execPath, [...process.execArgv, MAIN, ...command], { env: spec.env, stdio: ["pipe", "pipe", "pipe"] });
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      const running: Running = { spec, child, log, exited };
      started.push(running);
      let buffered = "";
      const serving = new Promise<void>((resolve, reject) => {
        // A served service says so on stdout (one JSON line); xki-proxy on stderr, in words.
        let served = false;
        const watch = (chunk: Buffer) => {
          log.write(chunk);
          if (served) return;
          buffered += chunk.toString("utf8");
          if (buffered.split("\n").some((line) => line.startsWith(SERVING_LINE_PREFIX) || line.startsWith(XKI_PROXY_RUNNING))) {
            served = true;
            buffered = "";
            resolve();
          }
        };
        child.stdout?.on("data", watch);
        child.stderr?.on("data", watch);
        child.once("exit", (code, signal) => reject(new Error(`${spec.name} exited (${signal ?? `code ${String(code)}`}) before it served; see ${log.path.toString()}`)));
        child.once("error", reject);
      });
      child.once("exit", (code, signal) => {
        if (started.includes(running)) write(`keyhold topology: ${spec.name} (pid ${String(child.pid)}) exited (${signal ?? `code ${String(code)}`})\n`);
      });
      const deadline = performance.now() + config.startTimeoutMs;
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          serving,
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`${spec.name} did not start listening in time; see ${log.path.toString()}`)), config.startTimeoutMs);
          }),
        ]);
      } finally {
        clearTimeout(timer);
      }
      serving.catch(() => {});
      if (spec.service !== "xki-proxy") {
        await waitServing(spec.env["KEYHOLD_GRPC_ADDR"]!, caPem, spec.service, deadline, () => child.exitCode !== null || child.signalCode !== null);
      }
      return running;
    };

    await launch(specFor("policy-service", "policy-service"));
    await launch(specFor("audit-service", "audit-service"));
    if (config.hsm) await launch(specFor("hsm-gateway", "hsm-gateway"));
    // The first replica alone (it may create the root key file), then the others together.
    const replica = (i: number) => specFor("key-service", `key-service-${i}`, { KEYHOLD_REUSE_PORT: "true", KEYHOLD_KEY_JOBS: i === 1 ? "on" : "off" });
    await launch(replica(1));
    await Promise.all(Array.from({ length: config.keyServiceReplicas - 1 }, (_, i) => launch(replica(i + 2))));
    await launch(specFor("secrets-service", "secrets-service"));
    let xkiProxy: TopologyAddresses["xkiProxy"];
    if (config.xkiProxy) {
      const xks = hostPort(config.host, await freePort(config.host));
      const admin = config.xkiProxyAdmin ? hostPort(config.host, await freePort(config.host)) : undefined;
      await launch({
        name: "xki-proxy",
        service: "xki-proxy",
        env: {
          ...(config.serviceEnv as Record<string, string>),
          KEYHOLD_XKI_ADDR: xks,
          ...(admin === undefined ? {} : { KEYHOLD_XKI_ADMIN_ADDR: admin }),
          KEYHOLD_XKI_DATA_DIR: join(config.dataDir, "xki-proxy"),
          KEYHOLD_STOP_ON_STDIN_CLOSE: "true",
        },
      });
      const scheme = (config.serviceEnv["KEYHOLD_XKI_TLS_CERT_FILE"] ?? "") === "" ? "http" : "https";
      xkiProxy = { endpoint: `${scheme}://${xks}`, admin };
    }
    if (config.gateway) gateway = await startGateway({ host: config.host, services: addresses, ca: caPem });

    const result: TopologyAddresses = {
      dataDir: config.dataDir,
      caFile: ca.caFile,
      services: addresses,
      pids: Object.fromEntries(started.map((r) => [r.spec.name, r.child.pid ?? 0])),
      logs: Object.fromEntries(started.map((r) => [r.spec.name, join(config.dataDir, "logs", `${r.spec.name}.log`)])),
      databaseUrl,
      redisUrl,
      gateway: gateway === undefined ? undefined : { grpc: hostPort(config.host, gateway.grpcPort), http: hostPort(config.host, gateway.httpPort) },
      xkiProxy,
    };
    return { addresses: result, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

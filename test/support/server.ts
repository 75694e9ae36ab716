// Starts the all-in-one Keyhold dev server (key-service and policy-service) in this process on
// free loopback ports, with its data (SQLite databases, root key) in a fresh temporary
// directory that stop() removes. The management account's administrator API key is generated
// here and configured through KEYHOLD_BOOTSTRAP_API_KEY, so tests know it from the start.
//
// KEYHOLD_E2E_TOPOLOGY=1: the same tests against the distributed topology instead
// (`keyhold topology`: every service its own process, mTLS between them, key-service ×2), reached
// through the topology's plaintext gateway (one gRPC and one HTTP port forwarding each call to the
// service serving it), so a test written for one address runs unchanged. `dev` is then undefined:
// a test that reaches into the process (server.dev) cannot run against the topology.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import { IamService, StsService } from "@keyhold/proto";
import { createSilentLogger } from "@keyhold/server-kit";
import { generateApiKey, withCredential } from "./auth.ts";
import { startTestTopology } from "./topology.ts";

export interface TestServer {
  readonly grpcPort: number;
  readonly httpPort: number;
  /** host:port of the gRPC (grpc-js) front door. */
  readonly grpcAddress: string;
  /** http://host:port of the Connect / gRPC-Web / healthz front door. */
  readonly httpBaseUrl: string;
  /** http://host:port of the gRPC front door, for Connect's gRPC transport. */
  readonly grpcBaseUrl: string;
  readonly dataDir: string;
  /**
   * The bootstrap administrator's API key (user `admin` of DEV_ACCOUNT_ID, AdministratorAccess):
   * send it as `authorization: Bearer <credential>`.
   */
  readonly credential: string;
  /** The in-process instance; undefined against the topology (KEYHOLD_E2E_TOPOLOGY=1). */
  readonly dev: DevInstance | undefined;
  stop(): Promise<void>;
}

/** Whether startTestServer runs the distributed topology (KEYHOLD_E2E_TOPOLOGY=1) instead of `keyhold dev`. */
export const E2E_TOPOLOGY = process.env["KEYHOLD_E2E_TOPOLOGY"] === "1";

async function startTopologyTestServer(): Promise<TestServer> {
  // KEYHOLD_E2E_TOPOLOGY_KEY_REPLICAS (default 2): key-service processes behind the gateway.
  const replicas = Number(process.env["KEYHOLD_E2E_TOPOLOGY_KEY_REPLICAS"] ?? "2");
  const topology = await startTestTopology({ keyServiceReplicas: replicas, env: { KEYHOLD_TOPOLOGY_GATEWAY: "on" } });
  const gateway = topology.addresses.gateway;
  if (gateway === undefined) {
    await topology.stop();
    throw new Error("keyhold topology started no gateway");
  }
  const port = (address: string) => Number(address.slice(address.lastIndexOf(":") + 1));
  return {
    grpcPort: port(gateway.grpc),
    httpPort: port(gateway.http),
    grpcAddress: gateway.grpc,
    httpBaseUrl: `http://${gateway.http}`,
    grpcBaseUrl: `http://${gateway.grpc}`,
    dataDir: topology.dataDir,
    credential: topology.credential,
    dev: undefined,
    stop: () => topology.stop(),
  };
}

/** The management account, where the bootstrap administrator (server.credential) lives. */
export const DEV_ACCOUNT_ID = "000000000001";
/** The krn region dev mode uses. */
export const DEV_REGION = "local";
/** The role CreateAccount makes in a new account for the management account to assume. */
export const ACCOUNT_ACCESS_ROLE = "AccountAccessRole";

export async function startTestServer(): Promise<TestServer> {
  if (E2E_TOPOLOGY) return startTopologyTestServer();
  const dataDir = await mkdtemp(join(tmpdir(), "keyhold-interop-"));
  const credential = generateApiKey();
  let dev: DevInstance;
  try {
    const config = readDevConfig(
      {
        KEYHOLD_DATA_DIR: dataDir,
        KEYHOLD_GRPC_ADDR: "127.0.0.1:0",
        KEYHOLD_HTTP_ADDR: "127.0.0.1:0",
        KEYHOLD_LOG_LEVEL: "error",
        KEYHOLD_SHUTDOWN_GRACE_MS: "2000",
        KEYHOLD_BOOTSTRAP_API_KEY: credential,
      },
      process.cwd(),
    );
    dev = await startDev(config, createSilentLogger());
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const { grpcPort, httpPort } = dev.addresses;
  if (grpcPort === undefined || httpPort === undefined || dev.bootstrapCredential !== undefined) {
    await dev.stop();
    await rm(dataDir, { recursive: true, force: true });
    throw new Error(
      dev.bootstrapCredential !== undefined ? "dev server generated an API key instead of using KEYHOLD_BOOTSTRAP_API_KEY" : "dev server did not bind both ports",
    );
  }
  let stopped: Promise<void> | undefined;
  return {
    grpcPort,
    httpPort,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    httpBaseUrl: `http://127.0.0.1:${httpPort}`,
    grpcBaseUrl: `http://127.0.0.1:${grpcPort}`,
    dataDir,
    credential,
    dev,
    stop() {
      stopped ??= (async () => {
        try {
          await dev.stop();
        } finally {
          await rm(dataDir, { recursive: true, force: true });
        }
      })();
      return stopped;
    },
  };
}

/**
 * Creates account `accountId` on `server` (as the bootstrap administrator) and returns a
 * credential for it: a role session of its AccountAccessRole, which has AdministratorAccess in
 * that account and nothing outside it.
 */
export async function otherAccount(server: TestServer, accountId: string): Promise<string> {
  const transport = createConnectTransport({ baseUrl: server.httpBaseUrl, httpVersion: "1.1", interceptors: [withCredential(server.credential)] });
  const iam = createClient(IamService, transport);
  const sts = createClient(StsService, transport);
  const created = await iam.createAccount({ accountId, name: `interop tests ${accountId}` }, { timeoutMs: 10_000 });
  if (created.account?.accountId !== accountId) throw new Error(`CreateAccount answered account ${created.account?.accountId ?? "(none)"}, not ${accountId}`);
  const session = await sts.assumeRole(
    { roleKrn: `krn:keyhold:iam::${accountId}:role/${ACCOUNT_ACCESS_ROLE}`, roleSessionName: "tests" },
    { timeoutMs: 10_000 },
  );
  if (session.sessionToken === "") throw new Error("AssumeRole answered no session_token");
  return session.sessionToken;
}

// Starts the all-in-one Keyhold dev server in this process on free loopback ports, with its
// data (SQLite database, root key) in a fresh temporary directory that stop() removes.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import { createSilentLogger } from "@keyhold/server-kit";

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
  readonly dev: DevInstance;
  stop(): Promise<void>;
}

/** The account every dev-mode call runs as. */
export const DEV_ACCOUNT_ID = "000000000001";
/** The krn region dev mode uses. */
export const DEV_REGION = "local";

export interface TestServerOptions {
  /**
   * Share another server's data directory (database and root key) instead of a fresh one;
   * stop() then leaves it in place for its owner to remove.
   */
  readonly dataDir?: string;
  /** The account every call runs as (KEYHOLD_DEV_ACCOUNT_ID); default DEV_ACCOUNT_ID. */
  readonly accountId?: string;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const ownsDataDir = options.dataDir === undefined;
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), "keyhold-interop-")));
  const removeDataDir = () => (ownsDataDir ? rm(dataDir, { recursive: true, force: true }) : Promise.resolve());
  let dev: DevInstance;
  try {
    const config = readDevConfig(
      {
        KEYHOLD_DATA_DIR: dataDir,
        KEYHOLD_GRPC_ADDR: "127.0.0.1:0",
        KEYHOLD_HTTP_ADDR: "127.0.0.1:0",
        KEYHOLD_LOG_LEVEL: "error",
        KEYHOLD_SHUTDOWN_GRACE_MS: "2000",
        KEYHOLD_DEV_ACCOUNT_ID: options.accountId ?? DEV_ACCOUNT_ID,
      },
      process.cwd(),
    );
    dev = await startDev(config, createSilentLogger());
  } catch (error) {
    await removeDataDir();
    throw error;
  }
  const { grpcPort, httpPort } = dev.addresses;
  if (grpcPort === undefined || httpPort === undefined) {
    await dev.stop();
    await removeDataDir();
    throw new Error("dev server did not bind both ports");
  }
  let stopped: Promise<void> | undefined;
  return {
    grpcPort,
    httpPort,
    grpcAddress: `127.0.0.1:${grpcPort}`,
    httpBaseUrl: `http://127.0.0.1:${httpPort}`,
    grpcBaseUrl: `http://127.0.0.1:${grpcPort}`,
    dataDir,
    dev,
    stop() {
      stopped ??= (async () => {
        try {
          await dev.stop();
        } finally {
          await removeDataDir();
        }
      })();
      return stopped;
    },
  };
}

#!/usr/bin/env node
// The keyhold command. Composition root: reads config, starts services, handles signals.
import { createDevCa, createJsonLogger, Telemetry } from "@keyhold/server-kit";
import { isServedService, loadDevConfig, loadServeConfig, loadTopologyConfig, SERVED_SERVICES, stopOnStdinClose, xkiProxyEnvironment } from "./config.ts";
import { startService } from "./serve.ts";
import { SERVING_LINE_PREFIX, startTopology, TOPOLOGY_LINE_PREFIX } from "./topology.ts";
import { startDev } from "./dev.ts";
import { saveAdminKey } from "./admin-key.ts";
import { migrateRootKeyToHsm } from "./migrate-root-key.ts";
import { parseSealInitArgs, SEAL_USAGE, sealInit, UsageError } from "./seal.ts";
import { runXkiProxy } from "@keyhold/xki-proxy";

const USAGE = `usage: keyhold dev                        run every service in one process on embedded defaults
       keyhold migrate-root-key --to hsm   re-wrap all stored key material from the local root key
                                           file to the HSM root key (resumable; stop Keyhold first,
                                           or run it on KEYHOLD_ROOT_KEY=hsm, which reads both)
       keyhold seal init [--shares N] [--threshold T]
                                           a sealed root key for key-service (KEYHOLD_ROOT_KEY=sealed)
       keyhold serve <service>             one service as its own process (policy-service, audit-service,
                                           hsm-gateway, key-service, secrets-service; xki-proxy = keyhold
                                           xki-proxy): mTLS to its peers KEYHOLD_*_ADDR (docs/topology.md)
       keyhold dev-ca <dir> [--force]      a development CA and one certificate per service in <dir>
       keyhold topology                    every service as its own process on this machine (docs/topology.md)
       keyhold xki-proxy                   the XKS proxy in front of your own PKCS#11 HSM (HYOK; see
                                           docs/xki-proxy.md: KEYHOLD_XKI_HSM_MODULE, KEYHOLD_XKI_*)

environment: KEYHOLD_DATA_DIR (default ./.data/dev), KEYHOLD_GRPC_ADDR (127.0.0.1:7700),
KEYHOLD_HTTP_ADDR (127.0.0.1:7701), KEYHOLD_LOG_LEVEL (info), KEYHOLD_REGION (local), KEYHOLD_BOOTSTRAP_API_KEY,
KEYHOLD_CORS_ORIGINS, KEYHOLD_SHUTDOWN_GRACE_MS (10000),
TLS on both ports: KEYHOLD_TLS_CERT_FILE, KEYHOLD_TLS_KEY_FILE; client certificates:
KEYHOLD_TLS_CLIENT_CA_FILE, KEYHOLD_TLS_REQUIRE_CLIENT_CERT (false); mesh sidecars whose
x-forwarded-client-cert is honoured: KEYHOLD_TRUSTED_PROXIES (IPs / CIDRs, comma-separated),
KEYHOLD_AUDIT (on): off is FOR BENCHMARKING ONLY; it installs no audit interceptor and opens no
audit outbox, so every call goes unaudited (audit-service still runs); never use it for real keys,
KEYHOLD_ROOT_KEY (file: the development key file): hsm puts the root key in the HSM (KEYHOLD_HSM_MODULE,
KEYHOLD_HSM_TOKEN_LABEL or KEYHOLD_HSM_SLOT, KEYHOLD_HSM_PIN_FILE or KEYHOLD_HSM_PIN), its id
KEYHOLD_ROOT_KEY_HSM_ID (keyhold-root-key); sealed: after keyhold seal init, starts sealed (KEYHOLD_SEAL_FILE)`;

const AUDIT_OFF_BANNER = [
  "",
  "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
  "!!  WARNING: KEYHOLD_AUDIT=off. AUDITING IS DISABLED: EVERY CALL GOES UNAUDITED.  !!",
  "!!  This switch exists for benchmarking only. Never use it for real keys or data. !!",
  "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
  "",
].join("\n") + "\n";

async function seal(args: readonly string[]): Promise<number> {
  if (args[0] !== "init") {
    process.stderr.write(SEAL_USAGE + "\n");
    return 2;
  }
  let options;
  try {
    options = parseSealInitArgs(args.slice(1));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`keyhold seal init: ${error.message}\n${SEAL_USAGE}\n`);
    return 2;
  }
  const { sealFile, shares } = await sealInit(loadDevConfig(), options);
  process.stderr.write(
    [
      `Sealed root key created (seal file ${sealFile}).`,
      `Below are its ${options.shares} unseal shares, shown this once and stored nowhere. Give each to a`,
      `different key holder; any ${options.threshold} of them unseal key-service (KEYHOLD_ROOT_KEY=sealed,`,
      "keyhold.key.v1.SealService/Unseal). Fewer cannot, and if more than " + (options.shares - options.threshold) + " are lost, so is every key.",
      "",
    ].join("\n") + "\n",
  );
  process.stdout.write(shares.map((share, i) => `share ${i + 1}: ${share}`).join("\n") + "\n");
  return 0;
}

async function main(args: readonly string[]): Promise<number> {
  const command = args[0];
  if (command === "migrate-root-key") return migrateRootKeyCommand(args.slice(1));
  if (command === "seal") return seal(args.slice(1));
  if (command === "xki-proxy") return xkiProxy();
  if (command === "serve") return serveCommand(args.slice(1));
  if (command === "dev-ca") return devCaCommand(args.slice(1));
  if (command === "topology") return topologyCommand();
  if (command !== "dev") {
    process.stderr.write(USAGE + "\n");
    return command === undefined || command === "help" || command === "--help" ? 0 : 2;
  }
  const config = loadDevConfig();
  const telemetry = new Telemetry(config.telemetry);
  const logger = createJsonLogger({ level: config.server.logLevel, context: telemetry.logContext });
  if (!config.audit) process.stderr.write(AUDIT_OFF_BANNER);
  const instance = await startDev(config, logger, {}, telemetry);
  const adminKeyLines =
    instance.bootstrapCredential === undefined
      ? [`  administrator API key: as created on first start (${config.adminKeyFile}, or KEYHOLD_BOOTSTRAP_API_KEY)`]
      : [
          "  A new management account and its administrator were created. The administrator's API key",
          "  is shown this once (and saved, mode 0600, to " + config.adminKeyFile + "):",
          "",
          `    ${instance.bootstrapCredential}`,
          "",
          "  Send it as 'authorization: Bearer <key>' (grpcurl -H, ghz --metadata, Connect headers).",
        ];
  if (instance.bootstrapCredential !== undefined) await saveAdminKey(config.adminKeyFile, instance.bootstrapCredential);
  const tls = config.server.tls;
  const tlsNote =
    tls === undefined ? "" : tls.clientCaFile === undefined ? "  (TLS)" : tls.requireClientCert ? "  (TLS, client certificate required)" : "  (TLS, client certificate optional)";
  process.stderr.write(
    [
      "",
      `Keyhold is running (development mode, data in ${config.dataDir})${config.audit ? "" : "  -- AUDIT OFF: EVERY CALL GOES UNAUDITED (benchmarking only)"}`,
      `  gRPC:               ${config.server.grpc.host}:${instance.addresses.grpcPort}${tlsNote}`,
      `  Connect / gRPC-Web: ${config.server.tls === undefined ? "http" : "https"}://${config.server.http.host}:${instance.addresses.httpPort}  (health: /healthz)`,
      ...adminKeyLines,
      "",
    ].join("\n") + "\n",
  );
  await new Promise<void>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info("shutting down", { signal });
      resolve();
    };
    process.once("SIGTERM", onSignal);
    process.once("SIGINT", onSignal);
  });
  await instance.stop();
  await telemetry.shutdown();
  return 0;
}

/**
 * `keyhold xki-proxy` (also `keyhold serve xki-proxy`): it stops on SIGTERM / SIGINT, and with
 * KEYHOLD_STOP_ON_STDIN_CLOSE=true (as `keyhold topology` starts it) also when standard input
 * closes, like the served services, so it never outlives the launcher.
 */
function xkiProxy(): Promise<number> {
  const env = xkiProxyEnvironment();
  if (stopOnStdinClose(env)) {
    const stop = () => process.kill(process.pid, "SIGTERM");
    process.stdin.once("end", stop);
    process.stdin.once("close", stop);
    process.stdin.resume();
  }
  return runXkiProxy(env);
}

/** Resolves on SIGTERM / SIGINT, or (when asked) when standard input closes. */
function untilStopped(onStop: (why: string) => void, stdinClose = false): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (why: string) => {
      onStop(why);
      resolve();
    };
    process.once("SIGTERM", () => done("SIGTERM"));
    process.once("SIGINT", () => done("SIGINT"));
    if (stdinClose) {
      process.stdin.once("end", () => done("stdin closed"));
      process.stdin.once("close", () => done("stdin closed"));
      process.stdin.resume();
    }
  });
}

async function serveCommand(args: readonly string[]): Promise<number> {
  const service = args[0];
  if (service === "xki-proxy" && args.length === 1) return xkiProxy();
  if (service === undefined || args.length !== 1 || !isServedService(service)) {
    process.stderr.write(`usage: keyhold serve <service>   (service: ${[...SERVED_SERVICES, "xki-proxy"].join(", ")})\n`);
    return 2;
  }
  const config = loadServeConfig(service);
  const telemetry = new Telemetry(config.telemetry);
  const logger = createJsonLogger({ level: config.server.logLevel, context: telemetry.logContext }).child({ process: service, pid: process.pid });
  const instance = await startService(config, logger, telemetry);
  if (instance.bootstrapCredential !== undefined) await saveAdminKey(config.adminKeyFile, instance.bootstrapCredential);
  const { grpcPort, httpPort } = instance.addresses;
  process.stdout.write(SERVING_LINE_PREFIX + JSON.stringify({ service, pid: process.pid, grpcPort, httpPort }) + "\n");
  process.stderr.write(
    [
      "",
      `Keyhold ${service} is running (pid ${process.pid}, data in ${config.dataDir})`,
      `  gRPC:               ${config.server.grpc.host}:${String(grpcPort)}  (TLS; service certificates verified against ${config.peerTls.caFile})`,
      `  Connect / gRPC-Web: https://${config.server.http.host}:${String(httpPort)}  (health: /healthz)`,
      ...(instance.bootstrapCredential === undefined
        ? []
        : ["  A new management account and its administrator were created; the administrator's API key was saved", `  (mode 0600) to ${config.adminKeyFile}.`]),
      "",
    ].join("\n") + "\n",
  );
  await untilStopped((why) => logger.info("shutting down", { signal: why }), config.stopOnStdinClose);
  await instance.stop();
  await telemetry.shutdown();
  return 0;
}

async function devCaCommand(args: readonly string[]): Promise<number> {
  const force = args.includes("--force");
  const rest = args.filter((arg) => arg !== "--force");
  if (rest.length !== 1 || rest[0]!.startsWith("-")) {
    process.stderr.write("usage: keyhold dev-ca <dir> [--force]\n");
    return 2;
  }
  const result = createDevCa(rest[0]!, { force });
  process.stderr.write(
    [
      result.created.length === 0 ? `The development CA in ${result.dir} is complete; nothing was made (--force makes it anew).` : `Made in ${result.dir}: ${result.created.join(", ")}.`,
      `  CA certificate: ${result.caFile}  (KEYHOLD_TLS_CLIENT_CA_FILE; its key ca.key signs, keep it to yourself)`,
      "  per service: <service>.crt / <service>.key  (KEYHOLD_TLS_CERT_FILE / KEYHOLD_TLS_KEY_FILE)",
      "  the edge proxy (deploy/envoy): envoy.crt / envoy.key  (no service identity)",
      "",
    ].join("\n") + "\n",
  );
  return 0;
}

async function topologyCommand(): Promise<number> {
  const config = loadTopologyConfig();
  const write = (line: string) => process.stderr.write(line);
  // Signals during start-up stop what has started.
  let stopping = false;
  const early = () => {
    stopping = true;
  };
  process.once("SIGTERM", early);
  process.once("SIGINT", early);
  const topology = await startTopology(config, write);
  process.off("SIGTERM", early);
  process.off("SIGINT", early);
  const { addresses } = topology;
  process.stdout.write(TOPOLOGY_LINE_PREFIX + JSON.stringify(addresses) + "\n");
  write(
    [
      "",
      `Keyhold topology is running (data in ${addresses.dataDir}; clients trust ${addresses.caFile})`,
      ...Object.entries(addresses.services).map(([service, at]) => `  ${service.padEnd(16)} gRPC ${at.grpc}  Connect / gRPC-Web https://${at.http}`),
      `  processes: ${Object.entries(addresses.pids).map(([name, pid]) => `${name} ${pid}`).join(", ")}  (logs in ${addresses.dataDir}/logs)`,
      ...(addresses.gateway === undefined ? [] : [`  gateway (plaintext, every service): gRPC ${addresses.gateway.grpc}  Connect / gRPC-Web http://${addresses.gateway.http}`]),
      ...(addresses.xkiProxy === undefined
        ? []
        : [`  xki-proxy        XKS API ${addresses.xkiProxy.endpoint}/<prefix>/kms/xks/v1${addresses.xkiProxy.admin === undefined ? "" : `  admin gRPC ${addresses.xkiProxy.admin}`}`]),
      ...(addresses.databaseUrl === undefined ? [] : [`  PostgreSQL: ${addresses.databaseUrl}`]),
      ...(addresses.redisUrl === undefined ? [] : [`  Redis: ${addresses.redisUrl}`]),
      "",
    ].join("\n") + "\n",
  );
  if (!stopping) await untilStopped(() => write("keyhold topology: stopping\n"));
  await topology.stop();
  return 0;
}

async function migrateRootKeyCommand(args: readonly string[]): Promise<number> {
  if (args.length !== 2 || args[0] !== "--to" || args[1] !== "hsm") {
    process.stderr.write("usage: keyhold migrate-root-key --to hsm\n");
    return 2;
  }
  const config = loadDevConfig();
  const logger = createJsonLogger({ level: config.server.logLevel });
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const result = await migrateRootKeyToHsm(config, logger, { signal: stop.signal });
  process.stderr.write(
    [
      "",
      `Root key migration: ${result.rewrapped} re-wrapped by the HSM root key now, ${result.alreadyMigrated} already were` +
        (result.changedMeanwhile > 0 ? `, ${result.changedMeanwhile} changed meanwhile (run again)` : "") + ".",
      result.complete && result.changedMeanwhile === 0
        ? `  Done. Start Keyhold with KEYHOLD_ROOT_KEY=hsm; once it serves, back up and then remove ${config.keyService.rootKeyFile}.`
        : "  Not finished: run the same command again to continue.",
      "",
    ].join("\n") + "\n",
  );
  return result.complete ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`keyhold: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);

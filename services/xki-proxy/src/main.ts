// The xki-proxy process (`keyhold xki-proxy`): reads the configuration, starts, and stops on
// SIGTERM / SIGINT. Returns the exit code.
import { createJsonLogger } from "@keyhold/server-kit";
import { createXkiProxyApp } from "./app.ts";
import { readXkiProxyConfig, type Environment } from "./config.ts";

export async function runXkiProxy(env: Environment, write: (line: string) => void = (line) => process.stderr.write(line)): Promise<number> {
  const config = readXkiProxyConfig(env);
  const logger = createJsonLogger({ level: config.logLevel });
  const app = createXkiProxyApp(config, logger);
  const { xksPort, adminPort } = await app.start();
  const scheme = config.tls === undefined ? "http" : "https";
  write(
    [
      "",
      "Keyhold xki-proxy is running (XKS Proxy API v1)",
      `  XKS API:   ${scheme}://${config.listen.host}:${xksPort}[/<prefix>]/kms/xks/v1  (ping: ${config.pingPath}; SigV4 region ${config.region}, service kms-xks-proxy)`,
      adminPort === undefined ? "  admin API: off (set KEYHOLD_XKI_ADMIN_ADDR and KEYHOLD_XKI_ADMIN_TOKEN_FILE)" : `  admin API: gRPC ${config.adminListen?.host ?? ""}:${adminPort} (keyhold.xki.v1.XkiAdminService, authorization: Bearer <admin token>)`,
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
  await app.stop();
  return 0;
}

// The child process of startXkiProxyProcessForTests: a test proxy on a SoftHSMv2 token of its
// own; prints {"port", "adminPort"} once listening and stops on SIGTERM.
import { startXkiProxyForTests } from "./test-support.ts";

const env = JSON.parse(process.argv[2] ?? "{}") as Record<string, string>;
const proxy = await startXkiProxyForTests({ env });
process.stdout.write(JSON.stringify({ port: proxy.port, adminPort: Number(new URL(proxy.adminEndpoint).port) }) + "\n");
const stop = () => {
  proxy.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);

// A free TCP port on `host`: bound with port 0, read, and released. For launchers and tests that
// must tell a process its port before it starts (another process may take it in between: callers
// that can retry, should).
import { createServer } from "node:net";

export async function freePort(host = "127.0.0.1"): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

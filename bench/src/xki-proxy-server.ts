// A benchmark server child: xki-proxy on its own SoftHSMv2 token (startXkiProxyForTests), with
// one AES key "bench-key", its HSM calls in the given mode (thread-pool or inline); announces the
// XKS port and stops on SIGTERM.
import { startXkiProxyForTests } from "@keyhold/xki-proxy/testing";
import { announce, hostArgument, stopOnSignal } from "./server-entry.ts";

hostArgument();
const mode = process.argv[3] ?? "thread-pool";
const proxy = await startXkiProxyForTests({ env: { KEYHOLD_XKI_HSM_POOL_SIZE: "16", KEYHOLD_XKI_HSM_CALL_MODE: mode } });
await proxy.admin.createKey({ externalKeyId: "bench-key" });
stopOnSignal(() => proxy.close());
announce(proxy.port);

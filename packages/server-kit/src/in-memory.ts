// A Connect transport that calls a handler set in-process, through the same interceptors and
// error mapping as the real front doors: for unit tests, and for calls between services in the
// all-in-one process.
import { createRouterTransport, type Transport } from "@connectrpc/connect";
import type { ServiceBinding } from "./call.ts";
import { connectRoutes } from "./connect-front-door.ts";
import type { Logger } from "./logger.ts";
import { createDispatcher, type CallInterceptor } from "./pipeline.ts";

export function createInMemoryTransport(bindings: readonly ServiceBinding[], interceptors: readonly CallInterceptor[], logger: Logger): Transport {
  const dispatcher = createDispatcher(bindings, interceptors);
  return createRouterTransport(connectRoutes(bindings.map((b) => b.service), dispatcher, logger));
}

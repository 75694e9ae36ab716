// keyhold.bench.v1.EchoService/Echo served through @keyhold/server-kit's gRPC front door with
// the interceptor chain every service has (identity), so its cost over the bare echo is the
// kit's own. Run as a child: node kit-echo-server.ts <host>
import { EchoService } from "@keyhold/proto";
import { KeyholdServer, bindService, createSilentLogger, fixedIdentity, identityInterceptor, type Principal } from "@keyhold/server-kit";
import { announce, hostArgument, stopOnSignal } from "./server-entry.ts";

const BENCH_PRINCIPAL: Principal = {
  accountId: "000000000000",
  krn: "krn:keyhold:iam::000000000000:root",
  kind: "root",
  name: "root",
};

const server = new KeyholdServer({
  bindings: [bindService(EchoService, { echo: async (request) => ({ payload: request.payload }) })],
  interceptors: [identityInterceptor(fixedIdentity(BENCH_PRINCIPAL))],
  logger: createSilentLogger(),
  grpc: { host: hostArgument(), port: 0 },
  http: undefined,
  maxMessageBytes: 4 * 1024 * 1024,
  corsOrigins: [],
  shutdownGraceMs: 1_000,
});
const { grpcPort } = await server.start();
if (grpcPort === undefined) throw new Error("server kit bound no gRPC port");
announce(grpcPort);
stopOnSignal(() => server.stop());

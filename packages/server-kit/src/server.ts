// A Keyhold server: the gRPC front door (grpc-js, with health and reflection) and the HTTP
// front door (Connect, gRPC-Web, /healthz) over one composed handler set, with graceful
// shutdown. Every service gets this by composition.
import { createServer, type Server as HttpServer } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { DescService } from "@bufbuild/protobuf";
import { file_google_rpc_error_details, file_grpc_health_v1_health } from "@keyhold/proto";
import type { ServiceBinding } from "./call.ts";
import { createConnectListener } from "./connect-front-door.ts";
import { addGrpcServices } from "./grpc-front-door.ts";
import { HealthRegistry } from "./health.ts";
import type { Logger } from "./logger.ts";
import { createDispatcher, type CallInterceptor } from "./pipeline.ts";
import { addReflection } from "./reflection.ts";
import type { MetricsEndpoint } from "./telemetry/telemetry.ts";
import { grpcServerCredentials, httpsServerOptions, loadTlsMaterial, type ServerTlsOptions, type TlsMaterial } from "./tls.ts";

export interface ListenAddress {
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
}

export interface KeyholdServerOptions {
  readonly bindings: readonly ServiceBinding[];
  /** Run in order before every handler (identity first). */
  readonly interceptors: readonly CallInterceptor[];
  readonly logger: Logger;
  /** Where gRPC listens; undefined: no gRPC port. */
  readonly grpc: ListenAddress | undefined;
  /** Where Connect / gRPC-Web / /healthz listen; undefined: no HTTP port. */
  readonly http: ListenAddress | undefined;
  /** Largest request or response message accepted (bytes). */
  readonly maxMessageBytes: number;
  readonly corsOrigins: readonly string[];
  /** How long in-flight calls may take to finish on stop() before connections are cut. */
  readonly shutdownGraceMs: number;
  /** TLS (and optionally client certificates) on both ports; undefined or absent: plaintext. */
  readonly tls?: ServerTlsOptions | undefined;
  /** GET /metrics on the HTTP port (Telemetry.metricsEndpoint); undefined: not served. */
  readonly metrics?: MetricsEndpoint | undefined;
  /**
   * Listen with SO_REUSEPORT on both ports (Linux; Node's listen `reusePort`), so several
   * processes (replicas of one service) can serve one address and the kernel spreads new
   * connections among them. Default false: a second server on a taken port fails to start.
   */
  readonly reusePort?: boolean | undefined;
  /**
   * Run each call in its call scope (call-scope.ts) so peer transports (peer-transport.ts) used
   * while serving it propagate its deadline and cancellation. Default false: `keyhold dev`'s
   * services reach each other in-process and do not pay for it.
   */
  readonly callScope?: boolean | undefined;
}

export interface BoundAddresses {
  readonly grpcPort: number | undefined;
  readonly httpPort: number | undefined;
}

export class KeyholdServer {
  readonly health = new HealthRegistry();
  private readonly services: DescService[];
  readonly bindings: readonly ServiceBinding[];
  private grpcServer: grpc.Server | undefined;
  /** With reusePort: the listener whose connections are handed to grpcServer. */
  private grpcListener: NetServer | undefined;
  private httpServer: HttpServer | undefined;
  private readonly shutdown = new AbortController();
  private stopping: Promise<void> | undefined;

  private readonly options: KeyholdServerOptions;

  constructor(options: KeyholdServerOptions) {
    this.options = options;
    this.bindings = options.bindings;
    this.services = options.bindings.map((b) => b.service);
    for (const service of this.services) this.health.register(service.typeName);
  }

  async start(): Promise<BoundAddresses> {
    const dispatcher = createDispatcher(this.options.bindings, this.options.interceptors, { callScope: this.options.callScope === true });
    let grpcPort: number | undefined;
    let httpPort: number | undefined;
    const tls: TlsMaterial | undefined = this.options.tls === undefined ? undefined : await loadTlsMaterial(this.options.tls);
    if (this.options.grpc !== undefined) {
      const server = new grpc.Server({
        "grpc.max_receive_message_length": this.options.maxMessageBytes,
        "grpc.max_send_message_length": this.options.maxMessageBytes,
        "grpc.keepalive_permit_without_calls": 1,
        // Channelz stays on (the default): with it off, grpc-js 1.14 does not track sessions and
        // forceShutdown() cannot cut calls that outlive the shutdown grace period.
        "grpc.http2.min_ping_interval_without_data_ms": 10_000,
      });
      addGrpcServices(server, this.services, dispatcher, this.options.logger, tls !== undefined);
      this.health.grpc.addToServer(server);
      // The error detail types are described too, so grpcurl and friends can print them.
      const described = this.options.bindings.map((b) => b.describedBy ?? b.service);
      addReflection(server, [...described, file_grpc_health_v1_health.services[0]!], [file_google_rpc_error_details]);
      const { host, port } = this.options.grpc;
      const credentials = tls === undefined ? grpc.ServerCredentials.createInsecure() : grpcServerCredentials(tls);
      if (this.options.reusePort === true) {
        // grpc-js binds its own listeners without SO_REUSEPORT: listen here and hand each
        // accepted connection to it (its connection injector does TLS and HTTP/2 on it).
        const injector = server.createConnectionInjector(credentials);
        const listener = createNetServer((socket) => injector.injectConnection(socket));
        await listenOn(listener, host, port, true);
        grpcPort = (listener.address() as AddressInfo).port;
        this.grpcListener = listener;
      } else {
        grpcPort = await new Promise<number>((resolve, reject) => {
          server.bindAsync(`${host.includes(":") ? `[${host}]` : host}:${port}`, credentials, (error, bound) => (error ? reject(error) : resolve(bound)));
        });
      }
      this.grpcServer = server;
    }
    if (this.options.http !== undefined) {
      const listener = createConnectListener({
        services: this.services,
        dispatcher,
        health: this.health,
        logger: this.options.logger,
        maxMessageBytes: this.options.maxMessageBytes,
        corsOrigins: this.options.corsOrigins,
        shutdownSignal: this.shutdown.signal,
        metrics: this.options.metrics,
      });
      const server: HttpServer = tls === undefined ? createServer(listener) : createHttpsServer(httpsServerOptions(tls), listener);
      server.keepAliveTimeout = 65_000;
      const { host, port } = this.options.http;
      await listenOn(server, host, port, this.options.reusePort === true);
      httpPort = (server.address() as AddressInfo).port;
      this.httpServer = server;
    }
    this.options.logger.info("listening", {
      grpcPort,
      httpPort,
      tls: tls === undefined ? "off" : tls.clientCa === undefined ? "server" : tls.requireClientCert ? "mutual-required" : "mutual-optional",
    });
    return { grpcPort, httpPort };
  }

  /** Stops accepting, lets in-flight calls finish within the grace period, then closes. */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    this.health.drain();
    const grace = this.options.shutdownGraceMs;
    const tasks: Promise<void>[] = [];
    const grpcListener = this.grpcListener;
    if (grpcListener !== undefined) tasks.push(new Promise<void>((resolve) => grpcListener.close(() => resolve())));
    const grpcServer = this.grpcServer;
    if (grpcServer !== undefined) {
      tasks.push(
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            grpcServer.forceShutdown();
            resolve();
          }, grace);
          grpcServer.tryShutdown(() => {
            clearTimeout(timer);
            resolve();
          });
        }),
      );
    }
    const httpServer = this.httpServer;
    if (httpServer !== undefined) {
      tasks.push(
        new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            this.shutdown.abort();
            httpServer.closeAllConnections();
          }, grace);
          httpServer.close(() => {
            clearTimeout(timer);
            resolve();
          });
          httpServer.closeIdleConnections();
        }),
      );
    }
    await Promise.all(tasks);
    this.options.logger.info("stopped");
  }
}

function listenOn(server: NetServer, host: string, port: number, reusePort: boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, ...(reusePort ? { reusePort: true } : {}) }, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

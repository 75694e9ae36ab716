// The gRPC protocol, served by @grpc/grpc-js (the hot path for polyglot backends, meshes and
// ghz). Service definitions come from the protobuf-es descriptors; every call dispatches into
// the same composed handler entries as the Connect front door.
import { create, fromBinary, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import type { CallContext, Principal } from "./call.ts";
import { KeyholdError } from "./errors.ts";
import type { Logger } from "./logger.ts";
import type { Dispatcher, UnaryNext } from "./pipeline.ts";
import { requestIdFrom } from "./request-id.ts";
import { serviceOfPeerIdentity } from "./service-identity.ts";
import { statusDetailsBin, toWireError } from "./status.ts";
import { peerIdentityOf, type PeerIdentity } from "./tls.ts";

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const identity = (bytes: Buffer) => bytes;

class GrpcCallContext implements CallContext {
  readonly protocol = "grpc" as const;
  principal: Principal | undefined = undefined;
  readonly values = new Map<symbol, unknown>();
  private controller: AbortController | undefined;
  private cachedRequestId: string | undefined;
  /** null: not computed yet. */
  private cachedPeerIdentity: PeerIdentity | undefined | null = null;

  readonly service: DescService;
  readonly method: DescMethod;
  /** The port serves TLS only (grpc-js binds a port either secure or not). */
  readonly secureTransport: boolean;
  private readonly call: grpc.ServerUnaryCall<Buffer, unknown>;

  constructor(service: DescService, method: DescMethod, call: grpc.ServerUnaryCall<Buffer, unknown>, secureTransport: boolean) {
    this.service = service;
    this.method = method;
    this.call = call;
    this.secureTransport = secureTransport;
  }

  get peerAddress(): string {
    return this.call.getPeer();
  }

  get peerIdentity(): PeerIdentity | undefined {
    if (this.cachedPeerIdentity === null) {
      // grpc-js reports the peer certificate only when the TLS socket is authorized, i.e. the
      // certificate verified against the client CA.
      this.cachedPeerIdentity = this.secureTransport ? peerIdentityOf(this.call.getAuthContext().sslPeerCertificate) : undefined;
    }
    return this.cachedPeerIdentity;
  }

  /** A Keyhold service, when its verified client certificate says so (service-identity.ts); no header counts. */
  get callingService(): string | undefined {
    return this.secureTransport ? serviceOfPeerIdentity(this.peerIdentity) : undefined;
  }

  header(name: string): string | undefined {
    const value = this.call.metadata.get(name)[0];
    return typeof value === "string" ? value : undefined;
  }

  get requestId(): string {
    this.cachedRequestId ??= requestIdFrom(this.header("x-request-id"));
    return this.cachedRequestId;
  }

  get signal(): AbortSignal {
    if (this.controller === undefined) {
      const controller = new AbortController();
      this.controller = controller;
      if (this.call.cancelled) controller.abort();
      else this.call.once("cancelled", () => controller.abort());
    }
    return this.controller.signal;
  }

  timeoutMs(): number | undefined {
    const deadline = this.call.getDeadline();
    const at = deadline instanceof Date ? deadline.getTime() : deadline;
    return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
  }
}

function unaryHandler(service: DescService, method: DescMethod, entry: UnaryNext, logger: Logger, secure: boolean): grpc.handleUnaryCall<Buffer, unknown> {
  const where = `${service.typeName}/${method.name}`;
  const fail = (callback: grpc.sendUnaryData<unknown>, error: unknown) => {
    const wire = toWireError(error, logger, where);
    const metadata = new grpc.Metadata();
    // An unexpected failure is INTERNAL with no detail at all.
    if (wire.reason !== "INTERNAL") metadata.set("grpc-status-details-bin", statusDetailsBin(wire));
    callback({ code: wire.code as number as grpc.status, details: wire.message, metadata });
  };
  return (call, callback) => {
    let request;
    try {
      request = fromBinary(method.input, call.request);
    } catch (error) {
      fail(callback, new KeyholdError("INVALID_ARGUMENT", "request: not a valid protobuf message", { cause: error }));
      return;
    }
    entry(request, new GrpcCallContext(service, method, call, secure)).then(
      (response) => callback(null, response),
      (error: unknown) => fail(callback, error),
    );
  };
}

function serverStreamHandler(
  service: DescService,
  method: DescMethod,
  entry: UnaryNext,
  logger: Logger,
  secure: boolean,
): grpc.handleServerStreamingCall<Buffer, unknown> {
  const where = `${service.typeName}/${method.name}`;
  const fail = (call: grpc.ServerWritableStream<Buffer, unknown>, error: unknown) => {
    if (call.cancelled) return;
    const wire = toWireError(error, logger, where);
    const metadata = new grpc.Metadata();
    if (wire.reason !== "INTERNAL") metadata.set("grpc-status-details-bin", statusDetailsBin(wire));
    call.emit("error", { code: wire.code as number as grpc.status, details: wire.message, metadata });
  };
  return (call) => {
    let request;
    try {
      request = fromBinary(method.input, call.request);
    } catch (error) {
      fail(call, new KeyholdError("INVALID_ARGUMENT", "request: not a valid protobuf message", { cause: error }));
      return;
    }
    const context = new GrpcCallContext(service, method, call, secure);
    const pump = async () => {
      const stream = (await entry(request, context)) as AsyncIterable<unknown>;
      for await (const message of stream) {
        if (call.cancelled) return;
        // Respect flow control: wait for the socket to drain when the buffer is full.
        if (!call.write(message)) await new Promise<void>((resolve) => call.once("drain", () => resolve()));
      }
      call.end();
    };
    pump().catch((error: unknown) => fail(call, error));
  };
}

export function grpcServiceDefinition(service: DescService): grpc.ServiceDefinition {
  const definition: Record<string, grpc.MethodDefinition<Buffer, unknown>> = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
      throw new Error(`${service.typeName}/${method.name}: only unary and server-streaming methods are served`);
    }
    const output = method.output;
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: method.methodKind === "server_streaming",
      // The request is parsed inside the handler so a malformed one gets INVALID_ARGUMENT.
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: (message) => asBuffer(toBinary(output, create(output, message as never))),
      responseDeserialize: (bytes) => fromBinary(output, bytes),
      originalName: method.localName,
    };
  }
  return definition;
}

/** Adds the services' handlers; `secure`: the server's port serves TLS. */
export function addGrpcServices(server: grpc.Server, services: readonly DescService[], dispatcher: Dispatcher, logger: Logger, secure: boolean): void {
  for (const service of services) {
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const method of service.methods) {
      const entry = dispatcher.entry(service.typeName, method.name);
      implementation[method.localName] =
        method.methodKind === "server_streaming"
          ? serverStreamHandler(service, method, entry, logger, secure)
          : unaryHandler(service, method, entry, logger, secure);
    }
    server.addService(grpcServiceDefinition(service), implementation);
  }
}


// gRPC server reflection (v1 and v1alpha, via @grpc/reflection) fed from the protobuf-es
// descriptors, so grpcurl and ghz work without .proto files.
import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ReflectionService } from "@grpc/reflection";
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { file_google_rpc_error_details, file_grpc_health_v1_health } from "@keyhold/proto";

export function addReflection(server: Server, services: readonly DescService[], extraFiles: readonly DescFile[] = []): void {
  const files = new Map<string, Uint8Array>();
  const visit = (file: DescFile) => {
    if (files.has(file.name)) return;
    files.set(file.name, toBinary(FileDescriptorProtoSchema, file.proto));
    for (const dependency of file.dependencies) visit(dependency);
  };
  for (const service of services) visit(service.file);
  for (const file of extraFiles) visit(file);
  // @grpc/reflection reads proto-loader's package definition shape: objects that carry
  // fileDescriptorProtos. One synthetic entry holds every file.
  const packageDefinition = { keyhold: { fileDescriptorProtos: [...files.values()].map((b) => Buffer.from(b)) } };
  new ReflectionService(packageDefinition as unknown as ConstructorParameters<typeof ReflectionService>[0], {
    services: services.map((s) => s.typeName),
  }).addToServer(server);
}

/** A gRPC server that answers server reflection only (for a front door that forwards other calls). */
export interface ReflectionServer {
  /** host:port it listens on (plaintext, so keep it on loopback). */
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Serves reflection for `services` (and grpc.health.v1, with the error detail types, as every
 * Keyhold server describes them) on `host`, port chosen by the system: for a gateway in front
 * of several servers, whose own reflection each knows only its own services.
 */
export async function serveReflection(services: readonly DescService[], host = "127.0.0.1"): Promise<ReflectionServer> {
  const server = new Server();
  addReflection(server, [...services, file_grpc_health_v1_health.services[0]!], [file_google_rpc_error_details]);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host.includes(":") ? `[${host}]` : host}:0`, ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  return {
    address: `${host.includes(":") ? `[${host}]` : host}:${port}`,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

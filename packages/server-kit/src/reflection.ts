// gRPC server reflection (v1 and v1alpha, via @grpc/reflection) fed from the protobuf-es
// descriptors, so grpcurl and ghz work without .proto files.
import { toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ReflectionService } from "@grpc/reflection";
import type { Server } from "@grpc/grpc-js";

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

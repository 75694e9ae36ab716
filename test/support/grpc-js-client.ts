// A gRPC client Keyhold did not generate: @grpc/grpc-js with @grpc/proto-loader reading the
// .proto files from proto/ at run time (keepCase: field names as written in the .proto). This
// is what a third party with only our .proto files would build. Every call carries the
// client's credential as `authorization: Bearer …` metadata unless the call sets its own.
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { AUTHORIZATION, bearer } from "./auth.ts";

/** The repository's proto/ directory. */
export const PROTO_ROOT = fileURLToPath(new URL("../../proto/", import.meta.url));

export const KEY_PROTO_FILES = [
  "keyhold/key/v1/key_service.proto",
  "keyhold/key/v1/crypto_service.proto",
  "keyhold/key/v1/seal_service.proto",
  "keyhold/policy/v1/sts_service.proto",
  "grpc/health/v1/health.proto",
] as const;

/** How proto-loader maps messages to objects: snake_case names, enums as names, defaults filled in. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
};

// ---- Message shapes as proto-loader produces them (bytes are Buffers, enums their names). ----

export interface PlTimestamp {
  seconds: string;
  nanos: number;
}

export interface PlKeyMetadata {
  key_id: string;
  krn: string;
  account_id: string;
  description: string;
  key_spec: string;
  key_usage: string;
  origin: string;
  key_state: string;
  key_manager: string;
  enabled: boolean;
  creation_date: PlTimestamp | null;
  primary_version_id: string;
  encryption_algorithms: string[];
  deletion_date: PlTimestamp | null;
}

export interface PlKeyListEntry {
  key_id: string;
  krn: string;
}

export interface PlAlias {
  alias_name: string;
  alias_krn: string;
  target_key_id: string;
  creation_date: PlTimestamp | null;
  last_updated_date: PlTimestamp | null;
}

export interface PlTag {
  tag_key: string;
  tag_value: string;
}

export interface KeyMetadataResponse {
  key_metadata: PlKeyMetadata | null;
}

export interface ListKeysResponse {
  keys: PlKeyListEntry[];
  next_page_token: string;
}

export interface AliasResponse {
  alias: PlAlias | null;
}

export interface ListAliasesResponse {
  aliases: PlAlias[];
  next_page_token: string;
}

export interface ListResourceTagsResponse {
  tags: PlTag[];
  next_page_token: string;
}

export type EmptyResponse = Record<string, never>;

export interface EncryptResponse {
  ciphertext_blob: Buffer;
  key_id: string;
  key_version_id: string;
  encryption_algorithm: string;
}

export interface DecryptResponse {
  plaintext: Buffer;
  key_id: string;
  key_version_id: string;
  encryption_algorithm: string;
}

export interface ReEncryptResponse {
  ciphertext_blob: Buffer;
  source_key_id: string;
  source_key_version_id: string;
  key_id: string;
  key_version_id: string;
}

export interface GenerateDataKeyResponse {
  ciphertext_blob: Buffer;
  plaintext: Buffer;
  key_id: string;
  key_version_id: string;
}

export interface GenerateDataKeyWithoutPlaintextResponse {
  ciphertext_blob: Buffer;
  key_id: string;
  key_version_id: string;
}

export interface GenerateRandomResponse {
  plaintext: Buffer;
}

export interface HealthCheckResponse {
  status: string;
}

/** Requests are plain objects: tests also send values the schema would not allow. */
export type PlRequest = Readonly<Record<string, unknown>>;

export type Unary<Res> = (request: PlRequest, metadata?: grpc.Metadata) => Promise<Res>;

export interface KeyServiceClient {
  CreateKey: Unary<KeyMetadataResponse>;
  GetKey: Unary<KeyMetadataResponse>;
  ListKeys: Unary<ListKeysResponse>;
  UpdateKey: Unary<KeyMetadataResponse>;
  EnableKey: Unary<KeyMetadataResponse>;
  DisableKey: Unary<KeyMetadataResponse>;
  CreateAlias: Unary<AliasResponse>;
  UpdateAlias: Unary<AliasResponse>;
  DeleteAlias: Unary<EmptyResponse>;
  ListAliases: Unary<ListAliasesResponse>;
  TagResource: Unary<EmptyResponse>;
  UntagResource: Unary<EmptyResponse>;
  ListResourceTags: Unary<ListResourceTagsResponse>;
}

export interface CryptoServiceClient {
  Encrypt: Unary<EncryptResponse>;
  Decrypt: Unary<DecryptResponse>;
  ReEncrypt: Unary<ReEncryptResponse>;
  GenerateDataKey: Unary<GenerateDataKeyResponse>;
  GenerateDataKeyWithoutPlaintext: Unary<GenerateDataKeyWithoutPlaintextResponse>;
  GenerateRandom: Unary<GenerateRandomResponse>;
}

export interface SealStatusMessage {
  sealable: boolean;
  sealed: boolean;
  threshold: number;
  shares: number;
  progress: number;
}

export interface SealServiceClient {
  Unseal: Unary<{ status: SealStatusMessage }>;
  GetSealStatus: Unary<{ status: SealStatusMessage }>;
  Seal: Unary<{ status: SealStatusMessage }>;
}

export interface HealthClient {
  Check: Unary<HealthCheckResponse>;
}

export interface GetCallerIdentityResponse {
  principal_krn: string;
  account_id: string;
  type: string;
  session_name: string;
}

export interface StsClient {
  GetCallerIdentity: Unary<GetCallerIdentityResponse>;
}

export interface GrpcJsClients {
  readonly keys: KeyServiceClient;
  readonly crypto: CryptoServiceClient;
  readonly seal: SealServiceClient;
  readonly health: HealthClient;
  readonly sts: StsClient;
  /** The raw clients, for calls the typed wrappers do not cover (custom serializers). */
  readonly raw: { readonly keys: grpc.Client; readonly crypto: grpc.Client; readonly health: grpc.Client };
  /** The metadata a call carries when it passes none: the client's authorization, if any. */
  metadata(): grpc.Metadata;
  close(): void;
}

/** No call in these tests should take long; a hung server fails the call instead of the run. */
const CALL_DEADLINE_MS = 30_000;

let cachedDefinition: protoLoader.PackageDefinition | undefined;

export function loadKeyholdPackageDefinition(): protoLoader.PackageDefinition {
  cachedDefinition ??= protoLoader.loadSync([...KEY_PROTO_FILES], PROTO_LOADER_OPTIONS);
  return cachedDefinition;
}

function serviceConstructor(definition: protoLoader.PackageDefinition, fullName: string): grpc.ServiceClientConstructor {
  const service = definition[fullName];
  if (service === undefined || "format" in service) throw new Error(`${fullName} is not a service in the loaded protos`);
  return grpc.makeClientConstructor(service, fullName);
}

/** Metadata carrying `authorization: Bearer <credential>`, or none when credential is undefined. */
export function credentialMetadata(credential: string | undefined): grpc.Metadata {
  const metadata = new grpc.Metadata();
  if (credential !== undefined) metadata.set(AUTHORIZATION, bearer(credential));
  return metadata;
}

/**
 * Wraps every method of a proto-loader service as a promise-returning function. A call without
 * metadata sends defaults(); a call with metadata sends exactly that (tests of bad credentials).
 */
function promisify<T>(client: grpc.Client, definition: grpc.ServiceDefinition, defaults: () => grpc.Metadata): T {
  const wrapped: Record<string, Unary<unknown>> = {};
  for (const [name, method] of Object.entries(definition)) {
    wrapped[name] = (request, metadata = defaults()) =>
      new Promise((resolve, reject) => {
        client.makeUnaryRequest(
          method.path,
          method.requestSerialize,
          method.responseDeserialize,
          request,
          metadata,
          { deadline: Date.now() + CALL_DEADLINE_MS },
          (error, response) => (error ? reject(error) : resolve(response)),
        );
      });
  }
  return wrapped as T;
}

/**
 * Clients for the key services, health and STS at `address`. `credential` (an API key or role
 * session token) authenticates every call; undefined sends none.
 */
export function createGrpcJsClients(address: string, credential: string | undefined): GrpcJsClients {
  const definition = loadKeyholdPackageDefinition();
  const metadata = () => credentialMetadata(credential);
  const credentials = grpc.credentials.createInsecure();
  const make = (fullName: string) => {
    const Ctor = serviceConstructor(definition, fullName);
    return { client: new Ctor(address, credentials), service: Ctor.service };
  };
  const keys = make("keyhold.key.v1.KeyService");
  const crypto = make("keyhold.key.v1.CryptoService");
  const seal = make("keyhold.key.v1.SealService");
  const health = make("grpc.health.v1.Health");
  const sts = make("keyhold.policy.v1.StsService");
  return {
    keys: promisify<KeyServiceClient>(keys.client, keys.service, metadata),
    crypto: promisify<CryptoServiceClient>(crypto.client, crypto.service, metadata),
    seal: promisify<SealServiceClient>(seal.client, seal.service, metadata),
    health: promisify<HealthClient>(health.client, health.service, metadata),
    sts: promisify<StsClient>(sts.client, sts.service, metadata),
    raw: { keys: keys.client, crypto: crypto.client, health: health.client },
    metadata,
    close() {
      keys.client.close();
      crypto.client.close();
      seal.client.close();
      health.client.close();
      sts.client.close();
    },
  };
}

/**
 * Sends `body` as the request bytes of `path` exactly as given (no protobuf encoding), with
 * `metadata` (the credential: GrpcJsClients.metadata()), and resolves with the raw response bytes.
 */
export function sendRawUnary(client: grpc.Client, path: string, body: Buffer, metadata: grpc.Metadata): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      path,
      (b) => b,
      (b) => b,
      body,
      metadata,
      { deadline: Date.now() + CALL_DEADLINE_MS },
      (error, response) => (error || response === undefined ? reject(error ?? new Error("no response")) : resolve(response)),
    );
  });
}

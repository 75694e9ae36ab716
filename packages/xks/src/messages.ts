// XKS proxy API v1 request bodies, validated: every field named in a ValidationException when it
// is missing, of the wrong type or badly encoded. Binary fields are standard Base64. The sizes a
// proxy MUST accept (4300-byte plaintext and ciphertext, 8192-byte AAD) are accepted; larger
// ones up to this implementation's limits too, beyond them UnsupportedOperationException.
import { MAX_CIPHERTEXT_METADATA_BYTES } from "./integrity.ts";
import { XksError } from "./errors.ts";

export interface RequestMetadata {
  readonly awsPrincipalArn?: string;
  readonly awsSourceVpc?: string;
  readonly awsSourceVpce?: string;
  readonly kmsKeyArn?: string;
  /** Required; any value is accepted (new KMS operations must not be refused as invalid). */
  readonly kmsOperation: string;
  /** Required; opaque. */
  readonly kmsRequestId: string;
  readonly kmsViaService?: string;
}

export interface MetadataRequest {
  readonly requestMetadata: RequestMetadata;
}

export interface EncryptRequest {
  readonly requestMetadata: RequestMetadata;
  readonly plaintext: Buffer;
  readonly additionalAuthenticatedData: Buffer;
  readonly wantsIntegrityValue: boolean;
}

export interface DecryptRequest {
  readonly requestMetadata: RequestMetadata;
  readonly ciphertext: Buffer;
  readonly ciphertextMetadata: Buffer;
  readonly additionalAuthenticatedData: Buffer;
  readonly initializationVector: Buffer;
  readonly authenticationTag: Buffer;
}

export interface HealthRequest {
  readonly requestMetadata: RequestMetadata;
}

/** This implementation's limits (above what the spec requires). */
export const MAX_PLAINTEXT_BYTES = 65_536;
export const MAX_AAD_BYTES = 65_535;
/** ARNs up to 2048 characters must be accepted. */
const MAX_METADATA_STRING = 4096;

type Json = Record<string, unknown>;

const invalid = (field: string, problem: string) => new XksError("ValidationException", `${field}: ${problem}`);

function object(value: unknown, field: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw invalid(field, "must be a JSON object");
  return value as Json;
}

function optionalString(body: Json, name: string, field: string): string | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalid(field, "must be a string");
  if (value.length > MAX_METADATA_STRING) throw invalid(field, `must be at most ${MAX_METADATA_STRING} characters`);
  return value;
}

function requiredString(body: Json, name: string, field: string): string {
  const value = optionalString(body, name, field);
  if (value === undefined || value === "") throw invalid(field, "is required");
  return value;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Strict standard Base64 (padded, no whitespace); undefined when absent. */
function optionalBase64(body: Json, name: string, maxBytes: number): Buffer | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw invalid(name, "must be a Base64 string");
  if (!BASE64.test(value)) throw invalid(name, "is not standard Base64");
  const bytes = Buffer.from(value, "base64");
  if (bytes.length > maxBytes) throw new XksError("UnsupportedOperationException", `${name}: larger than ${maxBytes} bytes is not supported`);
  return bytes;
}

function requiredBase64(body: Json, name: string, maxBytes: number): Buffer {
  const bytes = optionalBase64(body, name, maxBytes);
  if (bytes === undefined) throw invalid(name, "is required");
  return bytes;
}

function requestMetadata(body: Json, required: readonly ("awsPrincipalArn" | "kmsKeyArn")[]): RequestMetadata {
  const meta = object(body["requestMetadata"], "requestMetadata");
  const field = (name: string) => `requestMetadata.${name}`;
  const read = (name: keyof RequestMetadata) =>
    (required as readonly string[]).includes(name) ? requiredString(meta, name, field(name)) : optionalString(meta, name, field(name));
  const out: Record<string, string> = {
    kmsOperation: requiredString(meta, "kmsOperation", field("kmsOperation")),
    kmsRequestId: requiredString(meta, "kmsRequestId", field("kmsRequestId")),
  };
  for (const name of ["awsPrincipalArn", "awsSourceVpc", "awsSourceVpce", "kmsKeyArn", "kmsViaService"] as const) {
    const value = read(name);
    if (value !== undefined) out[name] = value;
  }
  return out as unknown as RequestMetadata;
}

function algorithm(body: Json): void {
  const value = requiredString(body, "encryptionAlgorithm", "encryptionAlgorithm");
  if (value !== "AES_GCM") throw new XksError("UnsupportedOperationException", `encryptionAlgorithm: ${value === "" ? "empty" : "only AES_GCM is supported"}`);
}

export function parseMetadataRequest(json: unknown): MetadataRequest {
  const body = object(json, "body");
  // kmsKeyArn is absent when KMS calls this during CreateKey.
  return { requestMetadata: requestMetadata(body, ["awsPrincipalArn"]) };
}

export function parseEncryptRequest(json: unknown): EncryptRequest {
  const body = object(json, "body");
  const meta = requestMetadata(body, ["awsPrincipalArn", "kmsKeyArn"]);
  algorithm(body);
  const plaintext = requiredBase64(body, "plaintext", MAX_PLAINTEXT_BYTES);
  const aad = optionalBase64(body, "additionalAuthenticatedData", MAX_AAD_BYTES) ?? Buffer.alloc(0);
  const cdivAlgorithm = optionalString(body, "ciphertextDataIntegrityValueAlgorithm", "ciphertextDataIntegrityValueAlgorithm");
  if (cdivAlgorithm !== undefined && cdivAlgorithm !== "SHA_256") {
    throw new XksError("UnsupportedOperationException", "ciphertextDataIntegrityValueAlgorithm: only SHA_256 is supported");
  }
  return { requestMetadata: meta, plaintext, additionalAuthenticatedData: aad, wantsIntegrityValue: cdivAlgorithm !== undefined };
}

export function parseDecryptRequest(json: unknown): DecryptRequest {
  const body = object(json, "body");
  const meta = requestMetadata(body, ["awsPrincipalArn", "kmsKeyArn"]);
  algorithm(body);
  const ciphertext = requiredBase64(body, "ciphertext", MAX_PLAINTEXT_BYTES);
  const ciphertextMetadata = optionalBase64(body, "ciphertextMetadata", 1024) ?? Buffer.alloc(0);
  if (ciphertextMetadata.length > MAX_CIPHERTEXT_METADATA_BYTES) throw invalid("ciphertextMetadata", `must be at most ${MAX_CIPHERTEXT_METADATA_BYTES} bytes`);
  const aad = optionalBase64(body, "additionalAuthenticatedData", MAX_AAD_BYTES) ?? Buffer.alloc(0);
  const initializationVector = requiredBase64(body, "initializationVector", 1024);
  if (initializationVector.length !== 12 && initializationVector.length !== 16) throw invalid("initializationVector", "must be 12 or 16 bytes");
  const authenticationTag = requiredBase64(body, "authenticationTag", 1024);
  if (authenticationTag.length !== 16) throw invalid("authenticationTag", "must be 16 bytes");
  return { requestMetadata: meta, ciphertext, ciphertextMetadata, additionalAuthenticatedData: aad, initializationVector, authenticationTag };
}

export function parseHealthRequest(json: unknown): HealthRequest {
  const body = object(json, "body");
  return { requestMetadata: requestMetadata(body, []) };
}

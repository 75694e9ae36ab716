// External key stores as resources: names, validation of the proxy settings a request gives,
// the write-only secrets (SigV4 secret access key, mTLS client key) wrapped by the root key.
import { isIP } from "node:net";
import { KeyholdError, invalidArgument } from "@keyhold/server-kit";
import { normalizePrefix } from "@keyhold/xks";
import type { KeyStore } from "../store/key-store.ts";
import type { ExternalKeyStoreRecord } from "../store/records.ts";
import { isUuid } from "./names.ts";
import type { RootKeyProvider } from "./root-key.ts";

export const MAX_STORE_NAME_LENGTH = 256;
const XKS_API_PATH = "/kms/xks/v1";
/** AWS's rules for XKS proxy credentials. */
const ACCESS_KEY_ID = /^[A-Z2-7]{20,30}$/;
const SECRET_ACCESS_KEY = /^[A-Za-z0-9+/=]{43,64}$/;
const KRN = /^krn:keyhold:kms:([a-z0-9-]+):([0-9]{12}):external-key-store\/(.+)$/;
const MAX_PEM_LENGTH = 65_536;

export function externalKeyStoreKrn(region: string, accountId: string, externalKeyStoreId: string): string {
  return `krn:keyhold:kms:${region}:${accountId}:external-key-store/${externalKeyStoreId}`;
}

export function externalKeyStoreNotFound(field: string): KeyholdError {
  return new KeyholdError("EXTERNAL_KEY_STORE_NOT_FOUND", `${field}: external key store not found`, { field });
}

/** The store id an `external_key_store_id` field names (id or krn); another account's looks missing. */
export function parseExternalKeyStoreRef(value: string, field: string, region: string, accountId: string): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (isUuid(value)) return value;
  const krn = KRN.exec(value);
  if (krn === null || !isUuid(krn[3]!)) throw invalidArgument(field, "must be an external key store id (UUID) or krn");
  if (krn[1] !== region || krn[2] !== accountId) throw externalKeyStoreNotFound(field);
  return krn[3]!;
}

/** The caller's store named by the field, or EXTERNAL_KEY_STORE_NOT_FOUND. */
export async function resolveExternalKeyStore(store: KeyStore, region: string, accountId: string, value: string, field: string): Promise<ExternalKeyStoreRecord> {
  const id = parseExternalKeyStoreRef(value, field, region, accountId);
  const record = await store.getExternalKeyStore(accountId, id);
  if (record === undefined) throw externalKeyStoreNotFound(field);
  return record;
}

export function validateStoreName(name: string, field: string): string {
  if (name === "") throw invalidArgument(field, "is required");
  if (name.length > MAX_STORE_NAME_LENGTH) throw invalidArgument(field, `must be at most ${MAX_STORE_NAME_LENGTH} characters`);
  if ([...name].some((c) => c.charCodeAt(0) < 0x20 || c.charCodeAt(0) === 0x7f)) throw invalidArgument(field, "must not contain control characters");
  return name;
}

const isLoopback = (host: string) => host === "localhost" || host === "::1" || host === "[::1]" || /^127\./.test(host);

/** https://host[:port] without path, query or credentials; http:// only on loopback (tests, a local proxy). */
export function validateEndpoint(endpoint: string, field: string): string {
  if (endpoint === "") throw invalidArgument(field, "is required");
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw invalidArgument(field, "must be a URL like https://xks.example.com[:port]");
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopback(url.hostname))) {
    throw invalidArgument(field, "must use https:// (http:// is accepted only for a loopback address)");
  }
  if (url.username !== "" || url.password !== "" || (url.pathname !== "/" && url.pathname !== "") || url.search !== "" || url.hash !== "") {
    throw invalidArgument(field, "must be scheme://host[:port] only: the path goes in xks_proxy_uri_path");
  }
  if (endpoint.length > 128) throw invalidArgument(field, "must be at most 128 characters");
  return `${url.protocol}//${url.host}`;
}

/** "[/<prefix>]/kms/xks/v1", as AWS's XksProxyUriPath; returns it with the prefix normalized. */
export function validateUriPath(path: string, field: string): string {
  if (path === "") throw invalidArgument(field, "is required");
  if (!path.endsWith(XKS_API_PATH) || path.length > 128 || !/^[A-Za-z0-9/_-]+$/.test(path)) {
    throw invalidArgument(field, `must be [/<prefix>]${XKS_API_PATH}: at most 128 characters of A-Z a-z 0-9 / _ -`);
  }
  try {
    const prefix = normalizePrefix(path.slice(0, -XKS_API_PATH.length));
    return prefix === "" ? XKS_API_PATH : `/${prefix}${XKS_API_PATH}`;
  } catch {
    throw invalidArgument(field, `must be [/<prefix>]${XKS_API_PATH}`);
  }
}

/** The path prefix the XKS client puts before /kms/xks/v1. */
export function prefixOf(uriPath: string): string {
  return normalizePrefix(uriPath.slice(0, -XKS_API_PATH.length));
}

export interface CredentialInput {
  readonly accessKeyId: string;
  readonly rawSecretAccessKey: string;
}

export function validateCredential(credential: CredentialInput | undefined, field: string): CredentialInput {
  if (credential === undefined) throw invalidArgument(field, "is required");
  if (!ACCESS_KEY_ID.test(credential.accessKeyId)) throw invalidArgument(`${field}.access_key_id`, "must be 20-30 characters of A-Z and 2-7");
  // The message never echoes the value.
  if (!SECRET_ACCESS_KEY.test(credential.rawSecretAccessKey)) throw invalidArgument(`${field}.raw_secret_access_key`, "must be 43-64 characters of A-Z a-z 0-9 + / =");
  return credential;
}

export interface TlsInput {
  readonly caCertificatePem: string;
  readonly clientCertificatePem: string;
  readonly clientPrivateKeyPem: string;
  readonly serverName: string;
}

const PEM = (label: string) => new RegExp(`-----BEGIN ${label}-----[\\s\\S]+?-----END ${label}-----`);

export function validateTls(tls: TlsInput | undefined, field: string): TlsInput {
  const value = tls ?? { caCertificatePem: "", clientCertificatePem: "", clientPrivateKeyPem: "", serverName: "" };
  for (const [name, text, label] of [
    ["ca_certificate_pem", value.caCertificatePem, "CERTIFICATE"],
    ["client_certificate_pem", value.clientCertificatePem, "CERTIFICATE"],
    ["client_private_key_pem", value.clientPrivateKeyPem, "(?:RSA |EC )?PRIVATE KEY"],
  ] as const) {
    if (text === "") continue;
    if (text.length > MAX_PEM_LENGTH) throw invalidArgument(`${field}.${name}`, `must be at most ${MAX_PEM_LENGTH} characters`);
    if (!PEM(label).test(text)) throw invalidArgument(`${field}.${name}`, "must be PEM");
  }
  if ((value.clientCertificatePem === "") !== (value.clientPrivateKeyPem === "")) {
    throw invalidArgument(`${field}.${value.clientCertificatePem === "" ? "client_certificate_pem" : "client_private_key_pem"}`, "the client certificate and its private key go together");
  }
  if (value.serverName !== "" && (value.serverName.length > 253 || !/^[A-Za-z0-9.-]+$/.test(value.serverName) || isIP(value.serverName) !== 0)) {
    throw invalidArgument(`${field}.server_name`, "must be a DNS name");
  }
  return value;
}

/** Binds a wrapped secret to its store and purpose (also used by the root key migration). */
export function secretAad(kind: "sigv4-secret" | "tls-client-key", accountId: string, externalKeyStoreId: string): Buffer {
  return Buffer.from(`keyhold/external-key-store/${kind}/v1\n${accountId}\n${externalKeyStoreId}`, "utf8");
}

export async function wrapSecretAccessKey(rootKey: RootKeyProvider, accountId: string, storeId: string, secret: string): Promise<Buffer> {
  const bytes = Buffer.from(secret, "utf8");
  try {
    return await rootKey.wrap(bytes, secretAad("sigv4-secret", accountId, storeId));
  } finally {
    bytes.fill(0);
  }
}

export async function wrapTlsClientKey(rootKey: RootKeyProvider, accountId: string, storeId: string, pem: string): Promise<Buffer> {
  if (pem === "") return Buffer.alloc(0);
  const bytes = Buffer.from(pem, "utf8");
  try {
    return await rootKey.wrap(bytes, secretAad("tls-client-key", accountId, storeId));
  } finally {
    bytes.fill(0);
  }
}

export interface StoreSecrets {
  readonly secretAccessKey: string;
  /** Empty when the store has no mTLS client key. */
  readonly tlsClientKey: Buffer;
}

/** The store's secrets in the clear, for building its proxy client (the caller zeroes tlsClientKey). */
export async function unwrapStoreSecrets(rootKey: RootKeyProvider, store: ExternalKeyStoreRecord): Promise<StoreSecrets> {
  const secret = await rootKey.unwrap(store.wrappedSecretAccessKey, secretAad("sigv4-secret", store.accountId, store.externalKeyStoreId));
  const secretAccessKey = secret.toString("utf8");
  secret.fill(0);
  const tlsClientKey =
    store.wrappedTlsClientKey.length === 0
      ? Buffer.alloc(0)
      : await rootKey.unwrap(store.wrappedTlsClientKey, secretAad("tls-client-key", store.accountId, store.externalKeyStoreId));
  return { secretAccessKey, tlsClientKey };
}

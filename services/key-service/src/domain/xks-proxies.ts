// The XKS proxies of external key stores, as key-service uses them: one keep-alive client per
// store (rebuilt when its settings change), every request carrying requestMetadata that names
// the caller, the key and the operation, every failure translated into one Keyhold reason, and
// what each call teaches about a store's reachability remembered (keys of an unreachable store
// read Unavailable). There is never a fallback: no answer from the proxy is a refused call.
import { ExternalKeyStoreConnectionErrorCode as ErrorCode, ExternalKeyStoreConnectionState } from "@keyhold/proto";
import { KeyholdError, type CallContext, type Logger } from "@keyhold/server-kit";
import { XksClient, XksError, XksTransportError, type RequestMetadata, type XksEncryptOutput, type XksKeyMetadata } from "@keyhold/xks";
import type { ExternalKeyStoreRecord } from "../store/records.ts";
import { prefixOf, unwrapStoreSecrets } from "./external-key-stores.ts";
import type { RootKeyProvider } from "./root-key.ts";

/** Who and what a proxy request is for: its requestMetadata. */
export interface XksRequestOrigin {
  readonly principalKrn: string;
  /** The Keyhold key's krn (absent for health checks and during CreateKey). */
  readonly keyKrn?: string;
  readonly operation: string;
  readonly requestId: string;
  /** The Keyhold service that called on the principal's behalf, if any. */
  readonly viaService?: string;
}

/** The requestMetadata of a proxy call made while serving `call`. */
export function originOf(call: CallContext | undefined, keyKrn?: string): XksRequestOrigin {
  return {
    principalKrn: call?.principal?.krn ?? "Keyhold Internal",
    ...(keyKrn === undefined ? {} : { keyKrn }),
    operation: call?.method.name ?? "Internal",
    requestId: call?.requestId ?? "internal",
    ...(call?.callingService === undefined ? {} : { viaService: call.callingService }),
  };
}

function requestMetadata(origin: XksRequestOrigin): RequestMetadata {
  return {
    awsPrincipalArn: origin.principalKrn,
    ...(origin.keyKrn === undefined ? {} : { kmsKeyArn: origin.keyKrn }),
    kmsOperation: origin.operation,
    kmsRequestId: origin.requestId,
    ...(origin.viaService === undefined ? {} : { kmsViaService: origin.viaService }),
  };
}

export function storeUnavailable(field: string, why: string): KeyholdError {
  return new KeyholdError("EXTERNAL_KEY_STORE_UNAVAILABLE", `${field}: the key's external key store is unavailable: ${why}`, { field });
}

/** The connection error a failed health check (or other proxy call) shows. */
export function connectionErrorOf(error: unknown): ErrorCode {
  if (error instanceof XksTransportError) {
    switch (error.failure) {
      case "timeout":
        return ErrorCode.XKS_PROXY_TIMED_OUT;
      case "unreachable":
        return ErrorCode.XKS_PROXY_NOT_REACHABLE;
      case "tls":
        return ErrorCode.XKS_PROXY_INVALID_TLS_CONFIGURATION;
      case "bad-response":
        return ErrorCode.XKS_PROXY_INVALID_RESPONSE;
    }
  }
  if (error instanceof XksError) {
    switch (error.errorName) {
      case "AuthenticationFailedException":
      case "AccessDeniedException":
        return ErrorCode.XKS_PROXY_ACCESS_DENIED;
      case "InvalidUriPathException":
      case "ValidationException":
      case "UnsupportedOperationException":
        return ErrorCode.XKS_PROXY_INVALID_CONFIGURATION;
      case "DependencyTimeoutException":
      case "InternalException":
      case "ThrottlingException":
      case "KeyNotFoundException":
      case "InvalidStateException":
      case "InvalidKeyUsageException":
      case "InvalidCiphertextException":
        return ErrorCode.XKS_PROXY_EKM_UNAVAILABLE;
    }
  }
  return ErrorCode.XKS_PROXY_INVALID_RESPONSE;
}

interface CachedClient {
  readonly version: number;
  readonly client: XksClient;
}

interface Reachability {
  readonly reachable: boolean;
  readonly at: number;
}

export interface XksProxiesOptions {
  readonly region: string;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly healthCacheMs: number;
  readonly now: () => number;
}

export class XksProxies {
  readonly #rootKey: RootKeyProvider;
  readonly #options: XksProxiesOptions;
  readonly #logger: Logger;
  readonly #clients = new Map<string, CachedClient>();
  readonly #building = new Map<string, Promise<CachedClient>>();
  readonly #reachability = new Map<string, Reachability>();

  constructor(rootKey: RootKeyProvider, options: XksProxiesOptions, logger: Logger) {
    this.#rootKey = rootKey;
    this.#options = options;
    this.#logger = logger;
  }

  /** GetHealthStatus with the connect deadline; throws the client's error (callers map it). */
  async checkHealth(store: ExternalKeyStoreRecord, origin: XksRequestOrigin): Promise<void> {
    const client = await this.#clientOf(store);
    try {
      const health = await client.health(requestMetadata(origin), this.#options.connectTimeoutMs);
      const statuses = health.ekmFleetDetails.map((d) => d.healthStatus);
      if (statuses.length > 0 && statuses.every((s) => s === "UNAVAILABLE")) {
        throw new XksError("DependencyTimeoutException", "every external key manager of the proxy is UNAVAILABLE");
      }
      this.#learn(store.externalKeyStoreId, true);
    } catch (error) {
      if (!(error instanceof XksError && error.errorName === "DependencyTimeoutException")) this.#learn(store.externalKeyStoreId, false);
      throw error;
    }
  }

  /**
   * GetHealthStatus with settings not saved yet (UpdateExternalKeyStore of a connected store), on
   * a client of their own: the store's client keeps serving until the new settings are saved.
   */
  async checkCandidate(candidate: ExternalKeyStoreRecord, origin: XksRequestOrigin): Promise<void> {
    const { client } = await this.#newClient(candidate);
    try {
      await client.health(requestMetadata(origin), this.#options.connectTimeoutMs);
    } finally {
      client.close();
    }
  }

  /** Whether the store's keys can be used now: connected, and its proxy not known to be failing. */
  async isAvailable(store: ExternalKeyStoreRecord, origin: XksRequestOrigin): Promise<boolean> {
    if (store.connectionState !== ExternalKeyStoreConnectionState.CONNECTED) return false;
    const known = this.#reachability.get(store.externalKeyStoreId);
    // A fresh "reachable" is trusted; "unreachable" is checked again, so recovery shows at once.
    if (known !== undefined && known.reachable && this.#options.now() - known.at < this.#options.healthCacheMs) return true;
    try {
      const client = await this.#clientOf(store);
      await client.health(requestMetadata(origin));
      this.#learn(store.externalKeyStoreId, true);
      return true;
    } catch (error) {
      this.#learn(store.externalKeyStoreId, false);
      this.#logger.warn("XKS proxy health check failed", { externalKeyStoreId: store.externalKeyStoreId, error: describe(error) });
      return false;
    }
  }

  /** GetKeyMetadata for CreateKey; proxy trouble is EXTERNAL_KEY_STORE_UNAVAILABLE naming `field`. */
  async keyMetadata(store: ExternalKeyStoreRecord, xksKeyId: string, origin: XksRequestOrigin, field: string): Promise<XksKeyMetadata | "not-found"> {
    this.#assertConnected(store, field);
    const client = await this.#clientOf(store);
    try {
      const metadata = await client.getKeyMetadata(xksKeyId, requestMetadata(origin));
      this.#learn(store.externalKeyStoreId, true);
      return metadata;
    } catch (error) {
      if (error instanceof XksError && error.errorName === "KeyNotFoundException") {
        this.#learn(store.externalKeyStoreId, true);
        return "not-found";
      }
      throw this.#failure(store, error, field);
    }
  }

  async encrypt(store: ExternalKeyStoreRecord, xksKeyId: string, plaintext: Uint8Array, aad: Uint8Array, origin: XksRequestOrigin, field: string): Promise<XksEncryptOutput> {
    this.#assertConnected(store, field);
    const client = await this.#clientOf(store);
    try {
      const out = await client.encrypt(xksKeyId, { requestMetadata: requestMetadata(origin), plaintext, additionalAuthenticatedData: aad });
      this.#learn(store.externalKeyStoreId, true);
      return out;
    } catch (error) {
      throw this.#failure(store, error, field);
    }
  }

  async decrypt(
    store: ExternalKeyStoreRecord,
    xksKeyId: string,
    parts: { readonly ciphertext: Uint8Array; readonly initializationVector: Uint8Array; readonly authenticationTag: Uint8Array; readonly ciphertextMetadata: Uint8Array },
    aad: Uint8Array,
    origin: XksRequestOrigin,
    field: string,
  ): Promise<Buffer> {
    this.#assertConnected(store, field);
    const client = await this.#clientOf(store);
    try {
      const plaintext = await client.decrypt(xksKeyId, { ...parts, additionalAuthenticatedData: aad, requestMetadata: requestMetadata(origin) });
      this.#learn(store.externalKeyStoreId, true);
      return plaintext;
    } catch (error) {
      throw this.#failure(store, error, field);
    }
  }

  /** Drops a store's client and what is known about it (after an update, a disconnect, a delete). */
  forget(externalKeyStoreId: string): void {
    const cached = this.#clients.get(externalKeyStoreId);
    if (cached !== undefined) this.#retire(cached.client);
    this.#clients.delete(externalKeyStoreId);
    this.#reachability.delete(externalKeyStoreId);
  }

  /** Closes a replaced client once its in-flight requests are past their deadline. */
  #retire(client: XksClient): void {
    setTimeout(() => client.close(), 2 * Math.max(this.#options.timeoutMs, this.#options.connectTimeoutMs)).unref();
  }

  /** Closes every client and forgets what is known; later calls build clients again. */
  close(): void {
    for (const { client } of this.#clients.values()) client.close();
    this.#clients.clear();
    this.#reachability.clear();
  }

  #assertConnected(store: ExternalKeyStoreRecord, field: string): void {
    if (store.connectionState !== ExternalKeyStoreConnectionState.CONNECTED) throw storeUnavailable(field, "it is not connected");
  }

  #learn(externalKeyStoreId: string, reachable: boolean): void {
    this.#reachability.set(externalKeyStoreId, { reachable, at: this.#options.now() });
  }

  /** One Keyhold error for a failed proxy call; the key-level answers are KEY_INVALID_STATE. */
  #failure(store: ExternalKeyStoreRecord, error: unknown, field: string): KeyholdError {
    const id = store.externalKeyStoreId;
    if (error instanceof XksError) {
      switch (error.errorName) {
        // The external key manager answered about the key: the store itself is fine.
        case "InvalidStateException":
        case "KeyNotFoundException":
        case "InvalidKeyUsageException":
          this.#learn(id, true);
          return new KeyholdError(
            "KEY_INVALID_STATE",
            `${field}: the external key manager refused the key (${error.errorName}): it is disabled, missing or not allowed this operation there`,
            { field },
          );
        case "InvalidCiphertextException":
          this.#learn(id, true);
          return new KeyholdError("INVALID_CIPHERTEXT", "ciphertext_blob: the ciphertext is invalid, or does not match the key or encryption context", { field: "ciphertext_blob" });
        case "ThrottlingException":
          // One busy moment is not an unreachable store.
          return storeUnavailable(field, "the proxy is throttling requests (ThrottlingException)");
        default:
          this.#learn(id, false);
          this.#logger.warn("XKS proxy refused a request", { externalKeyStoreId: id, errorName: error.errorName });
          return storeUnavailable(field, `the proxy answered ${error.errorName}`);
      }
    }
    if (error instanceof XksTransportError) {
      this.#learn(id, false);
      this.#logger.warn("XKS proxy unreachable", { externalKeyStoreId: id, failure: error.failure });
      const why = error.failure === "timeout" ? "the proxy did not answer in time" : error.failure === "tls" ? "the TLS handshake with the proxy failed" : error.failure === "bad-response" ? "the proxy's answer is not valid XKS" : "the proxy cannot be reached";
      return storeUnavailable(field, why);
    }
    if (error instanceof KeyholdError) return error;
    return new KeyholdError("INTERNAL", "external key store call failed", { cause: error });
  }

  async #clientOf(store: ExternalKeyStoreRecord): Promise<XksClient> {
    const id = store.externalKeyStoreId;
    const version = store.updatedAt.getTime();
    const cached = this.#clients.get(id);
    if (cached !== undefined && cached.version === version) return cached.client;
    let pending = this.#building.get(id);
    if (pending === undefined) {
      pending = this.#build(store).finally(() => this.#building.delete(id));
      this.#building.set(id, pending);
    }
    const built = await pending;
    if (built.version !== version) return this.#clientOf(store);
    return built.client;
  }

  async #build(store: ExternalKeyStoreRecord): Promise<CachedClient> {
    const entry = await this.#newClient(store);
    const previous = this.#clients.get(store.externalKeyStoreId);
    if (previous !== undefined) this.#retire(previous.client);
    this.#clients.set(store.externalKeyStoreId, entry);
    return entry;
  }

  async #newClient(store: ExternalKeyStoreRecord): Promise<CachedClient> {
    const secrets = await unwrapStoreSecrets(this.#rootKey, store);
    try {
      const client = new XksClient({
        endpoint: store.endpoint,
        pathPrefix: prefixOf(store.uriPath),
        credentials: { accessKeyId: store.accessKeyId, secretAccessKey: secrets.secretAccessKey },
        region: this.#options.region,
        timeoutMs: this.#options.timeoutMs,
        tls: {
          ...(store.tlsCaPem === "" ? {} : { ca: store.tlsCaPem }),
          // The agent keeps its own copy for new connections.
          ...(store.tlsClientCertificatePem === "" ? {} : { cert: store.tlsClientCertificatePem, key: Buffer.from(secrets.tlsClientKey) }),
          ...(store.tlsServerName === "" ? {} : { serverName: store.tlsServerName }),
        },
      });
      return { version: store.updatedAt.getTime(), client };
    } finally {
      secrets.tlsClientKey.fill(0);
    }
  }
}

function describe(error: unknown): string {
  if (error instanceof XksError) return error.errorName;
  if (error instanceof XksTransportError) return error.failure;
  return "error";
}

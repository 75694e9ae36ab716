// A client of any XKS proxy (XKS Proxy API v1): JSON over HTTP(S) POST, SigV4-signed (service
// kms-xks-proxy), optional mTLS, keep-alive connections, and one deadline per request that
// covers connecting, sending and reading the answer (AWS KMS allows 250 ms).
//
// Failures are typed: XksError for an error the proxy named (ValidationException, ...),
// XksTransportError when no usable answer came (refused, reset, TLS, deadline, not XKS JSON).
import { timingSafeEqual } from "node:crypto";
import http from "node:http";
import https from "node:https";
import { signRequest, type Credentials } from "@keyhold/sigv4";
import { isXksErrorName, XksError } from "./errors.ts";
import { ciphertextDataIntegrityValue } from "./integrity.ts";
import type { RequestMetadata } from "./messages.ts";
import { xksPath, type XksOperation } from "./paths.ts";

export const XKS_SIGNING_SERVICE = "kms-xks-proxy";
/** AWS KMS's per-request deadline towards a proxy. */
export const DEFAULT_XKS_TIMEOUT_MS = 250;
const MAX_RESPONSE_BYTES = 256 * 1024;

export type XksTransportFailure = "unreachable" | "timeout" | "tls" | "bad-response";

/** No usable answer: the proxy could not be reached in time, or answered with something else than XKS JSON. */
export class XksTransportError extends Error {
  override readonly name = "XksTransportError";
  readonly failure: XksTransportFailure;

  constructor(failure: XksTransportFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.failure = failure;
  }
}

export interface XksTlsOptions {
  /** PEM CA certificates trusted for the proxy's server certificate (default: the system's). */
  readonly ca?: string | Buffer;
  /** PEM client certificate and key, for proxies that require mTLS. */
  readonly cert?: string | Buffer;
  readonly key?: string | Buffer;
  /** The name the server certificate must carry, when it is not the endpoint's host. */
  readonly serverName?: string;
}

export interface XksClientOptions {
  /** "https://host[:port]" (or "http://" on loopback, for tests). */
  readonly endpoint: string;
  /** The optional path prefix before /kms/xks/v1 ("" for none). */
  readonly pathPrefix: string;
  readonly credentials: Credentials;
  /** The region signed into the SigV4 scope. */
  readonly region: string;
  readonly timeoutMs?: number;
  readonly tls?: XksTlsOptions;
  readonly clock?: () => Date;
  /** Most sockets kept open to the proxy (default 16). */
  readonly maxSockets?: number;
}

export interface XksKeyMetadata {
  /** "AES_256" for keys KMS can use. */
  readonly keySpec: string;
  /** e.g. ["ENCRYPT", "DECRYPT"] */
  readonly keyUsage: readonly string[];
  /** "ENABLED" or "DISABLED". */
  readonly keyStatus: string;
}

export interface XksHealth {
  readonly xksProxyFleetSize: number;
  readonly xksProxyVendor: string;
  readonly xksProxyModel: string;
  readonly ekmVendor: string;
  readonly ekmFleetDetails: readonly { readonly id: string; readonly model: string; readonly healthStatus: string }[];
}

export interface XksEncryptInput {
  readonly requestMetadata: RequestMetadata;
  readonly plaintext: Uint8Array;
  readonly additionalAuthenticatedData: Uint8Array;
}

export interface XksEncryptOutput {
  readonly ciphertext: Buffer;
  readonly initializationVector: Buffer;
  readonly authenticationTag: Buffer;
  /** Empty when the proxy returned none. */
  readonly ciphertextMetadata: Buffer;
  /** The CDIV the proxy computed (SHA-256), checked by the client before it is returned. */
  readonly ciphertextDataIntegrityValue: Buffer | undefined;
}

export interface XksDecryptInput {
  readonly requestMetadata: RequestMetadata;
  readonly ciphertext: Uint8Array;
  readonly initializationVector: Uint8Array;
  readonly authenticationTag: Uint8Array;
  readonly ciphertextMetadata: Uint8Array;
  readonly additionalAuthenticatedData: Uint8Array;
}

type Json = Record<string, unknown>;

const b64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");

function badResponse(what: string): XksTransportError {
  return new XksTransportError("bad-response", `the XKS proxy's answer is not valid: ${what}`);
}

function base64Field(body: Json, name: string, required: boolean): Buffer | undefined {
  const value = body[name];
  if (value === undefined || value === null) {
    if (required) throw badResponse(`${name} is missing`);
    return undefined;
  }
  if (typeof value !== "string" || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) throw badResponse(`${name} is not Base64`);
  return Buffer.from(value, "base64");
}

function stringField(body: Json, name: string): string {
  const value = body[name];
  if (typeof value !== "string") throw badResponse(`${name} is not a string`);
  return value;
}

const TLS_ERRORS = /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_(GET|VERIFY)_|ERR_OSSL_)/;

export class XksClient {
  readonly #url: URL;
  readonly #prefix: string;
  readonly #credentials: Credentials;
  readonly #region: string;
  readonly #timeoutMs: number;
  readonly #clock: () => Date;
  readonly #agent: http.Agent;
  readonly #tls: XksTlsOptions;

  constructor(options: XksClientOptions) {
    this.#url = new URL(options.endpoint);
    if (this.#url.protocol !== "https:" && this.#url.protocol !== "http:") throw new Error("XKS endpoint must be an https:// (or http://) URL");
    this.#prefix = options.pathPrefix;
    xksPath(this.#prefix, "health"); // validates the prefix now
    this.#credentials = options.credentials;
    this.#region = options.region;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_XKS_TIMEOUT_MS;
    this.#clock = options.clock ?? (() => new Date());
    this.#tls = options.tls ?? {};
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 16, maxFreeSockets: options.maxSockets ?? 16, scheduling: "lifo" as const };
    this.#agent =
      this.#url.protocol === "https:"
        ? new https.Agent({
            ...agentOptions,
            ...(this.#tls.ca === undefined ? {} : { ca: this.#tls.ca }),
            ...(this.#tls.cert === undefined ? {} : { cert: this.#tls.cert }),
            ...(this.#tls.key === undefined ? {} : { key: this.#tls.key }),
            ...(this.#tls.serverName === undefined ? {} : { servername: this.#tls.serverName }),
            minVersion: "TLSv1.2",
          })
        : new http.Agent(agentOptions);
  }

  /** GetKeyMetadata. */
  async getKeyMetadata(externalKeyId: string, requestMetadata: RequestMetadata): Promise<XksKeyMetadata> {
    const body = await this.#post("metadata", externalKeyId, { requestMetadata });
    const usage = body["keyUsage"];
    if (!Array.isArray(usage) || !usage.every((u) => typeof u === "string")) throw badResponse("keyUsage is not a list of strings");
    return { keySpec: stringField(body, "keySpec"), keyUsage: usage, keyStatus: stringField(body, "keyStatus") };
  }

  /** Encrypt with AES_GCM, asking for (and checking) the SHA_256 ciphertext data integrity value. */
  async encrypt(externalKeyId: string, input: XksEncryptInput): Promise<XksEncryptOutput> {
    const body = await this.#post("encrypt", externalKeyId, {
      requestMetadata: input.requestMetadata,
      additionalAuthenticatedData: b64(input.additionalAuthenticatedData),
      plaintext: b64(input.plaintext),
      encryptionAlgorithm: "AES_GCM",
      ciphertextDataIntegrityValueAlgorithm: "SHA_256",
    });
    const out: XksEncryptOutput = {
      ciphertext: base64Field(body, "ciphertext", true)!,
      initializationVector: base64Field(body, "initializationVector", true)!,
      authenticationTag: base64Field(body, "authenticationTag", true)!,
      ciphertextMetadata: base64Field(body, "ciphertextMetadata", false) ?? Buffer.alloc(0),
      ciphertextDataIntegrityValue: base64Field(body, "ciphertextDataIntegrityValue", false),
    };
    if (out.initializationVector.length !== 12 && out.initializationVector.length !== 16) throw badResponse("initializationVector must be 12 or 16 bytes");
    if (out.authenticationTag.length !== 16) throw badResponse("authenticationTag must be 16 bytes");
    if (out.ciphertextMetadata.length > 20) throw badResponse("ciphertextMetadata is longer than 20 bytes");
    if (out.ciphertextDataIntegrityValue !== undefined) {
      const expected = ciphertextDataIntegrityValue({ ...out, additionalAuthenticatedData: input.additionalAuthenticatedData });
      if (out.ciphertextDataIntegrityValue.length !== expected.length || !timingSafeEqual(out.ciphertextDataIntegrityValue, expected)) {
        throw badResponse("ciphertextDataIntegrityValue does not match the ciphertext");
      }
    }
    return out;
  }

  /** Decrypt with AES_GCM. */
  async decrypt(externalKeyId: string, input: XksDecryptInput): Promise<Buffer> {
    const request: Json = {
      requestMetadata: input.requestMetadata,
      additionalAuthenticatedData: b64(input.additionalAuthenticatedData),
      encryptionAlgorithm: "AES_GCM",
      ciphertext: b64(input.ciphertext),
      initializationVector: b64(input.initializationVector),
      authenticationTag: b64(input.authenticationTag),
    };
    if (input.ciphertextMetadata.length > 0) request["ciphertextMetadata"] = b64(input.ciphertextMetadata);
    const body = await this.#post("decrypt", externalKeyId, request);
    return base64Field(body, "plaintext", true)!;
  }

  /** GetHealthStatus; `timeoutMs` overrides the client's deadline for this call. */
  async health(requestMetadata: RequestMetadata, timeoutMs?: number): Promise<XksHealth> {
    const body = await this.#post("health", undefined, { requestMetadata }, timeoutMs);
    const details = body["ekmFleetDetails"];
    if (!Array.isArray(details)) throw badResponse("ekmFleetDetails is not a list");
    const size = body["xksProxyFleetSize"];
    return {
      xksProxyFleetSize: typeof size === "number" ? size : 0,
      xksProxyVendor: typeof body["xksProxyVendor"] === "string" ? body["xksProxyVendor"] : "",
      xksProxyModel: typeof body["xksProxyModel"] === "string" ? body["xksProxyModel"] : "",
      ekmVendor: typeof body["ekmVendor"] === "string" ? body["ekmVendor"] : "",
      ekmFleetDetails: details.map((d: unknown) => {
        const entry = (typeof d === "object" && d !== null ? d : {}) as Json;
        return {
          id: typeof entry["id"] === "string" ? entry["id"] : "",
          model: typeof entry["model"] === "string" ? entry["model"] : "",
          healthStatus: typeof entry["healthStatus"] === "string" ? entry["healthStatus"] : "",
        };
      }),
    };
  }

  /** Closes idle keep-alive connections; the client is unusable afterwards. */
  close(): void {
    this.#agent.destroy();
  }

  #post(operation: XksOperation, externalKeyId: string | undefined, payload: Json, timeoutMs = this.#timeoutMs): Promise<Json> {
    const path = xksPath(this.#prefix, operation, externalKeyId);
    const body = Buffer.from(JSON.stringify(payload), "utf8");
    const host = this.#url.host;
    const headers: [string, string][] = [
      ["host", host],
      ["content-type", "application/json"],
    ];
    const signed = signRequest({ method: "POST", path, query: "", headers, body }, this.#credentials, {
      region: this.#region,
      service: XKS_SIGNING_SERVICE,
      time: this.#clock(),
    });
    const isHttps = this.#url.protocol === "https:";
    const transport = isHttps ? https : http;
    return new Promise<Json>((resolve, reject) => {
      let settled = false;
      const finish = (error: Error | undefined, value?: Json) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error === undefined) resolve(value!);
        else reject(error);
      };
      const request = transport.request({
        agent: this.#agent,
        protocol: this.#url.protocol,
        hostname: this.#url.hostname,
        port: this.#url.port === "" ? undefined : Number(this.#url.port),
        method: "POST",
        path,
        headers: {
          host,
          "content-type": "application/json",
          "content-length": String(body.length),
          "x-amz-date": signed["x-amz-date"],
          authorization: signed.authorization,
        },
      });
      const timer = setTimeout(() => {
        finish(new XksTransportError("timeout", `the XKS proxy did not answer ${operation} within ${timeoutMs} ms`));
        request.destroy();
      }, timeoutMs);
      request.on("error", (error: NodeJS.ErrnoException) => {
        const code = error.code ?? "";
        const failure: XksTransportFailure = TLS_ERRORS.test(code) ? "tls" : "unreachable";
        finish(new XksTransportError(failure, `the XKS proxy could not be reached for ${operation} (${code === "" ? error.message : code})`, { cause: error }));
      });
      request.on("response", (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) {
            finish(badResponse("larger than 256 KiB"));
            request.destroy();
            return;
          }
          chunks.push(chunk);
        });
        response.on("error", (error) => finish(new XksTransportError("unreachable", `the XKS proxy's answer to ${operation} was cut off`, { cause: error })));
        response.on("end", () => {
          const raw = Buffer.concat(chunks);
          const status = response.statusCode ?? 0;
          let json: unknown;
          try {
            json = raw.length === 0 ? undefined : JSON.parse(raw.toString("utf8"));
          } catch {
            json = undefined;
          } finally {
            raw.fill(0); // may hold plaintext
            for (const chunk of chunks) chunk.fill(0);
          }
          const object = typeof json === "object" && json !== null && !Array.isArray(json) ? (json as Json) : undefined;
          if (status >= 200 && status < 300) {
            if (object === undefined) finish(badResponse(`HTTP ${status} without a JSON object`));
            else finish(undefined, object);
            return;
          }
          const errorName = object?.["errorName"];
          if (isXksErrorName(errorName)) {
            const message = typeof object?.["errorMessage"] === "string" ? object["errorMessage"] : "";
            finish(new XksError(errorName, message));
          } else {
            finish(badResponse(`HTTP ${status} without an XKS errorName`));
          }
        });
      });
      request.end(body);
    });
  }
}

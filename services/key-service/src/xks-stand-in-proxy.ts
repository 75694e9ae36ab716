// For tests: a STAND-IN external key manager behind a real XKS proxy API v1 endpoint (HTTP on
// loopback), built from @keyhold/xks, @keyhold/sigv4 and node:crypto AES-256-GCM. It is not
// xki-proxy and holds its keys in memory; it exists so key-service's external key store tests
// run against real HTTP, real SigV4 and real AES-GCM until xki-proxy's own test factory
// (startXkiProxyForTests) can be swapped in: tests only use the XksProxyForTests interface.
import crypto from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { verifyRequest } from "@keyhold/sigv4";
import {
  ciphertextDataIntegrityValue, hsmAad, parseDecryptRequest, parseEncryptRequest, parseHealthRequest, parseMetadataRequest, parseXksPath, XksError,
  type RequestMetadata, type XksErrorName,
} from "@keyhold/xks";

/** What a test needs of "an XKS proxy": where it is, how to sign in, and admin handles. */
export interface XksProxyForTests {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  /** [/<prefix>]/kms/xks/v1 */
  readonly uriPath: string;
  readonly credential: { readonly accessKeyId: string; readonly rawSecretAccessKey: string };
  /** Creates an enabled AES-256 key for ENCRYPT and DECRYPT in the external key manager. */
  createKey(externalKeyId: string): Promise<void>;
  disableKey(externalKeyId: string): Promise<void>;
  enableKey(externalKeyId: string): Promise<void>;
  /** Stops listening and drops every connection (clients then see connection refused). */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Fault injection only the stand-in offers. */
export interface StandInXksProxy extends XksProxyForTests {
  /** Every request answers after this delay (0: at once). */
  delayMs: number;
  /** Every request answers this XKS error until reset to undefined. */
  forcedError: XksErrorName | undefined;
  /** The requestMetadata of every request served, in order. */
  readonly requests: { readonly operation: string; readonly externalKeyId: string | undefined; readonly requestMetadata: RequestMetadata }[];
  /** Creates a key that is not AES_256 (a spec KMS refuses). */
  createNonAesKey(externalKeyId: string): void;
}

export interface StandInOptions {
  /** The region requests must be signed for (key-service's KEYHOLD_REGION). */
  readonly region: string;
  readonly pathPrefix?: string;
}

interface StandInKey {
  readonly material: Buffer;
  enabled: boolean;
  readonly keySpec: string;
}

const b32 = (bytes: Buffer) => {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  return [...bytes].map((b) => alphabet[b % 32]).join("");
};

export async function startStandInXksProxy(options: StandInOptions): Promise<StandInXksProxy> {
  const prefix = options.pathPrefix ?? "keyhold-test";
  const credential = { accessKeyId: b32(crypto.randomBytes(20)), rawSecretAccessKey: crypto.randomBytes(32).toString("base64") };
  const keys = new Map<string, StandInKey>();
  const requests: StandInXksProxy["requests"] = [];
  const state = { delayMs: 0, forcedError: undefined as XksErrorName | undefined };

  const answer = (response: http.ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    response.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    response.end(text);
  };

  const serve = (request: http.IncomingMessage, body: Buffer): { status: number; body: unknown } => {
    const headers: [string, string][] = [];
    for (let i = 0; i < request.rawHeaders.length; i += 2) headers.push([request.rawHeaders[i]!, request.rawHeaders[i + 1]!]);
    const [path = "", query = ""] = (request.url ?? "").split("?");
    const verified = verifyRequest(
      { method: request.method ?? "", path, query, headers, body },
      { region: options.region, service: "kms-xks-proxy", now: new Date(), maxSkewMs: 300_000, secretsOf: (id) => (id === credential.accessKeyId ? [credential.rawSecretAccessKey] : []) },
    );
    if (!verified.ok) throw new XksError("AuthenticationFailedException", `request signature: ${verified.failure}`);
    const route = parseXksPath(path, [prefix]);
    if (route === undefined) throw new XksError("InvalidUriPathException", "no such XKS path");
    if (request.method !== "POST") return { status: 405, body: {} };
    let json: unknown;
    try {
      json = JSON.parse(body.toString("utf8"));
    } catch {
      throw new XksError("ValidationException", "body: not JSON");
    }
    if (state.forcedError !== undefined) throw new XksError(state.forcedError, "forced by the test");
    const keyOf = (id: string | undefined) => {
      const key = keys.get(id ?? "");
      if (key === undefined) throw new XksError("KeyNotFoundException", "no such external key");
      return key;
    };
    switch (route.operation) {
      case "health": {
        requests.push({ operation: "health", externalKeyId: undefined, requestMetadata: parseHealthRequest(json).requestMetadata });
        return {
          status: 200,
          body: {
            xksProxyFleetSize: 1,
            xksProxyVendor: "Keyhold tests",
            xksProxyModel: "stand-in external key manager",
            ekmVendor: "node:crypto",
            ekmFleetDetails: [{ id: "stand-in-1", model: "in-memory", healthStatus: "ACTIVE" }],
          },
        };
      }
      case "metadata": {
        const parsed = parseMetadataRequest(json);
        requests.push({ operation: "metadata", externalKeyId: route.externalKeyId, requestMetadata: parsed.requestMetadata });
        const key = keyOf(route.externalKeyId);
        return { status: 200, body: { keySpec: key.keySpec, keyUsage: ["ENCRYPT", "DECRYPT"], keyStatus: key.enabled ? "ENABLED" : "DISABLED" } };
      }
      case "encrypt": {
        const parsed = parseEncryptRequest(json);
        requests.push({ operation: "encrypt", externalKeyId: route.externalKeyId, requestMetadata: parsed.requestMetadata });
        const key = keyOf(route.externalKeyId);
        if (!key.enabled) throw new XksError("InvalidStateException", "the external key is disabled");
        const iv = crypto.randomBytes(12);
        const metadata = Buffer.alloc(0);
        const cipher = crypto.createCipheriv("aes-256-gcm", key.material, iv);
        cipher.setAAD(hsmAad(parsed.additionalAuthenticatedData, metadata));
        const ciphertext = Buffer.concat([cipher.update(parsed.plaintext), cipher.final()]);
        const tag = cipher.getAuthTag();
        const out: Record<string, string> = {
          authenticationTag: tag.toString("base64"),
          ciphertext: ciphertext.toString("base64"),
          initializationVector: iv.toString("base64"),
        };
        if (parsed.wantsIntegrityValue) {
          out["ciphertextDataIntegrityValue"] = ciphertextDataIntegrityValue({
            additionalAuthenticatedData: parsed.additionalAuthenticatedData,
            ciphertextMetadata: metadata,
            initializationVector: iv,
            ciphertext,
            authenticationTag: tag,
          }).toString("base64");
        }
        return { status: 200, body: out };
      }
      case "decrypt": {
        const parsed = parseDecryptRequest(json);
        requests.push({ operation: "decrypt", externalKeyId: route.externalKeyId, requestMetadata: parsed.requestMetadata });
        const key = keyOf(route.externalKeyId);
        if (!key.enabled) throw new XksError("InvalidStateException", "the external key is disabled");
        try {
          const decipher = crypto.createDecipheriv("aes-256-gcm", key.material, parsed.initializationVector);
          decipher.setAAD(hsmAad(parsed.additionalAuthenticatedData, parsed.ciphertextMetadata));
          decipher.setAuthTag(parsed.authenticationTag);
          const plaintext = Buffer.concat([decipher.update(parsed.ciphertext), decipher.final()]);
          return { status: 200, body: { plaintext: plaintext.toString("base64") } };
        } catch {
          throw new XksError("InvalidCiphertextException", "the ciphertext does not decrypt");
        }
      }
    }
  };

  const server = http.createServer({ keepAlive: true }, (request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const reply = () => {
        if (response.destroyed) return;
        try {
          const outcome = serve(request, Buffer.concat(chunks));
          answer(response, outcome.status, outcome.body);
        } catch (error) {
          if (error instanceof XksError) answer(response, error.status, error.toJSON());
          else answer(response, 500, { errorName: "InternalException" });
        }
      };
      if (state.delayMs > 0) setTimeout(reply, state.delayMs);
      else reply();
    });
  });

  let port = 0;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });
  await listen();

  const setEnabled = async (id: string, enabled: boolean) => {
    const key = keys.get(id);
    if (key === undefined) throw new Error(`stand-in: no key ${id}`);
    key.enabled = enabled;
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    uriPath: `/${prefix}/kms/xks/v1`,
    credential,
    requests,
    get delayMs() {
      return state.delayMs;
    },
    set delayMs(ms: number) {
      state.delayMs = ms;
    },
    get forcedError() {
      return state.forcedError;
    },
    set forcedError(name: XksErrorName | undefined) {
      state.forcedError = name;
    },
    async createKey(id) {
      keys.set(id, { material: crypto.randomBytes(32), enabled: true, keySpec: "AES_256" });
    },
    createNonAesKey(id) {
      keys.set(id, { material: crypto.randomBytes(32), enabled: true, keySpec: "RSA_2048" });
    },
    disableKey: (id) => setEnabled(id, false),
    enableKey: (id) => setEnabled(id, true),
    stop,
    start: listen,
    async close() {
      await stop();
      for (const key of keys.values()) key.material.fill(0);
    },
  };
}

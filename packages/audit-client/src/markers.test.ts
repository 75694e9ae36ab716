// Marker values sent through plaintext, ciphertext, data keys, encryption context values, the
// authorization header and error messages must not reach the outbox file in any form; what the
// event should hold (the resource, the HMAC of a context value) must.
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { CryptoService, KeyService } from "@keyhold/proto";
import { bindService, createInMemoryTransport, createSilentLogger, KeyholdError, type CallContext, type CallInterceptor } from "@keyhold/server-kit";
import { recordAuditDetails } from "./event.ts";
import { auditInterceptor } from "./interceptor.ts";
import { Outbox } from "./outbox.ts";
import { tempDir } from "./test-support.ts";

const MARKERS = {
  plaintext: "MARKER-PLAINTEXT-7f3a9c",
  ciphertext: "MARKER-CIPHERTEXT-2b8e41",
  dataKey: "MARKER-DATAKEY-c05d17",
  contextValue: "MARKER-CONTEXT-VALUE-9e6f02",
  token: "MARKER-BEARER-TOKEN-4a1d88",
  errorMessage: "MARKER-ERROR-MESSAGE-51c7e3",
  otherHeader: "MARKER-COOKIE-0d93b6",
  xksSecretAccessKey: "MARKERxksSecretAccessKey0123456789abcdefABCDEF",
};
const HMAC_KEY = new Uint8Array(32).fill(9);
const KEY = "krn:keyhold:kms:local:111122223333:key/0b6c1f6e-8f7e-4a4b-9d0e-5f1c2a3b4c5d";
const bytes = (text: string) => new TextEncoder().encode(text);

const authentication: CallInterceptor = (next) => async (request, call) => {
  if (call.header("authorization") !== `Bearer ${MARKERS.token}`) throw new KeyholdError("UNAUTHENTICATED", "invalid credential");
  call.principal = { accountId: "111122223333", krn: "krn:keyhold:iam::111122223333:user/alice", kind: "user", name: "alice" };
  return next(request, call);
};

/** Handlers that record what a real one would, and answer with (fake) secrets. */
const record = (call: CallContext, encryptionContext: Record<string, string>) =>
  recordAuditDetails(call, { resource: KEY, keyVersionId: "version-1", encryptionContext });

const notCalled = (): never => {
  throw new KeyholdError("INTERNAL", "not called by this test");
};

const crypto = bindService(CryptoService, {
  async encrypt(request, call) {
    record(call, request.encryptionContext);
    return { ciphertextBlob: request.plaintext, keyId: KEY, keyVersionId: "version-1" };
  },
  async decrypt(request, call) {
    record(call, request.encryptionContext);
    if (request.keyId === "fail") throw new KeyholdError("INVALID_CIPHERTEXT", `cannot decrypt ${MARKERS.errorMessage}`);
    return { plaintext: bytes(MARKERS.plaintext), keyId: KEY, keyVersionId: "version-1" };
  },
  async reEncrypt(request, call) {
    record(call, request.destinationEncryptionContext);
    return { ciphertextBlob: request.ciphertextBlob, keyId: KEY };
  },
  async generateDataKey(request, call) {
    record(call, request.encryptionContext);
    return { plaintext: bytes(MARKERS.dataKey), ciphertextBlob: bytes(MARKERS.ciphertext), keyId: KEY, keyVersionId: "version-1" };
  },
  async generateDataKeyWithoutPlaintext(request, call) {
    record(call, request.encryptionContext);
    return { ciphertextBlob: bytes(MARKERS.ciphertext), keyId: KEY };
  },
  async generateRandom() {
    return { plaintext: bytes(MARKERS.dataKey) };
  },
  // CryptoService RPCs this test does not call.
  generateMac: notCalled,
  verifyMac: notCalled,
  sign: notCalled,
  verify: notCalled,
  asymmetricEncrypt: notCalled,
  asymmetricDecrypt: notCalled,
  generateDataKeyPair: notCalled,
  generateDataKeyPairWithoutPlaintext: notCalled,
  generateAndExportDataKey: notCalled,
});

/** KeyService: CreateExternalKeyStore receives an XKS proxy credential (its secret is write-only). */
const STORE = "krn:keyhold:kms:local:111122223333:external-key-store/5d0c1f6e-8f7e-4a4b-9d0e-5f1c2a3b4c5d";
type KeyHandlers = Parameters<typeof bindService<typeof KeyService extends GenService<infer S> ? S : never>>[1];
const keys = bindService(KeyService, {
  ...(Object.fromEntries(KeyService.methods.map((m) => [m.localName, notCalled])) as unknown as KeyHandlers),
  async createExternalKeyStore(request, call) {
    recordAuditDetails(call, { resource: STORE });
    return { externalKeyStore: { krn: STORE, accessKeyId: request.xksProxyAuthenticationCredential?.accessKeyId ?? "" } };
  },
  async updateExternalKeyStore(request, call) {
    recordAuditDetails(call, { resource: STORE });
    if (request.xksProxyAuthenticationCredential !== undefined) throw new KeyholdError("INVALID_ARGUMENT", "xks_proxy_authentication_credential: refused by the proxy");
    return {};
  },
});

test("no marker from a request, a response, a credential or an error reaches the outbox file", async () => {
  const dir = tempDir();
  try {
    const outbox = await Outbox.open({ path: dir.file("outbox.db"), service: "key-service" });
    const interceptors = [auditInterceptor({ service: "key-service", actionPrefix: "kms", outbox, clock: { now: () => new Date() }, hmacKey: HMAC_KEY }), authentication];
    const headers = { authorization: `Bearer ${MARKERS.token}`, cookie: MARKERS.otherHeader };
    const transport = createInMemoryTransport([crypto, keys], interceptors, createSilentLogger(), { headers });
    const client = createClient(CryptoService, transport);
    const keyClient = createClient(KeyService, transport);
    const encryptionContext = { tenant: MARKERS.contextValue };

    await client.encrypt({ keyId: KEY, plaintext: bytes(MARKERS.plaintext), encryptionContext });
    await client.decrypt({ ciphertextBlob: bytes(MARKERS.ciphertext), encryptionContext });
    await client.reEncrypt({ ciphertextBlob: bytes(MARKERS.ciphertext), sourceEncryptionContext: encryptionContext, destinationEncryptionContext: encryptionContext });
    await client.generateDataKey({ keyId: KEY, encryptionContext });
    await client.generateDataKeyWithoutPlaintext({ keyId: KEY, encryptionContext });
    await client.generateRandom({ numberOfBytes: 32 });
    const failed = await client.decrypt({ keyId: "fail", ciphertextBlob: bytes(MARKERS.ciphertext), encryptionContext }).catch((e: unknown) => ConnectError.from(e));
    assert.equal((failed as ConnectError).code, Code.InvalidArgument);
    const credential = { accessKeyId: "ABCDEFGHIJKLMNOPQRST", rawSecretAccessKey: MARKERS.xksSecretAccessKey };
    await keyClient.createExternalKeyStore({ externalKeyStoreName: "s", xksProxyAuthenticationCredential: credential });
    await keyClient.updateExternalKeyStore({ externalKeyStoreId: STORE, xksProxyAuthenticationCredential: credential }).catch(() => undefined);
    assert.equal(outbox.lastSequence, 9);

    // While open (events in the WAL) and after close (checkpointed into the database file).
    const fileBytes = () => Buffer.concat(readdirSync(dir.path).map((name) => readFileSync(dir.file(name))));
    const scan = (where: string) => {
      const raw = fileBytes();
      for (const [what, marker] of Object.entries(MARKERS)) {
        assert.equal(raw.indexOf(marker), -1, `${what} marker found in the outbox (${where})`);
        assert.equal(raw.indexOf(Buffer.from(marker, "utf16le")), -1, `${what} marker found as UTF-16 (${where})`);
        assert.equal(raw.indexOf(Buffer.from(marker).toString("base64")), -1, `${what} marker found as base64 (${where})`);
        assert.equal(raw.indexOf(Buffer.from(marker).toString("hex")), -1, `${what} marker found as hex (${where})`);
      }
      // The positive control: the bytes scanned are the events.
      assert.notEqual(raw.indexOf(KEY), -1, `resource not found (${where})`);
      const hmac = createHmac("sha256", HMAC_KEY).update(MARKERS.contextValue).digest("hex");
      assert.notEqual(raw.indexOf(hmac), -1, `context value HMAC not found (${where})`);
    };
    scan("open");
    await outbox.close();
    scan("closed");
  } finally {
    dir.remove();
  }
});

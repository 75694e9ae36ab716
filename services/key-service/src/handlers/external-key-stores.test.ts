// External key stores and EXTERNAL_KEY_STORE keys through the in-memory router, against a real
// XKS proxy endpoint on loopback (startXksProxyForTests: today the stand-in external key
// manager): create and connect a store, create keys, double encryption, the external key
// disabled, the proxy stopped, slow and answering each spec error, bad credentials, bad input.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { toJsonString } from "@bufbuild/protobuf";
import { Code } from "@connectrpc/connect";
import { ExternalKeyStoreSchema, ExternalKeyStoreConnectionErrorCode as ErrorCode, ExternalKeyStoreConnectionState as State, KeySpec, KeyState, Origin, WrappingAlgorithm } from "@keyhold/proto";
import type { XksErrorName } from "@keyhold/xks";
import { invalid, refusal, startTestKeyService, startXksProxyForTests, TEST_ACCOUNT, type StandInXksProxy, type TestKeyService } from "../test-support.ts";

const bytes = (text: string) => new TextEncoder().encode(text);
const unavailable = (field: string) => ({ code: Code.Unavailable, reason: "EXTERNAL_KEY_STORE_UNAVAILABLE", field });

describe("external key stores", () => {
  let service: TestKeyService;
  let proxy: StandInXksProxy;
  let storeId: string;

  const createStore = (name: string, overrides: Record<string, unknown> = {}) =>
    service.keys.createExternalKeyStore({
      externalKeyStoreName: name,
      xksProxyUriEndpoint: proxy.endpoint,
      xksProxyUriPath: proxy.uriPath,
      xksProxyAuthenticationCredential: proxy.credential,
      ...overrides,
    });

  const createKey = async (xksKeyId: string) =>
    (await service.keys.createKey({ origin: Origin.EXTERNAL_KEY_STORE, externalKeyStoreId: storeId, xksKeyId })).keyMetadata!;

  before(async () => {
    service = await startTestKeyService();
    proxy = await startXksProxyForTests();
    await proxy.createKey("ext-key-1");
    const created = (await createStore("primary")).externalKeyStore!;
    storeId = created.externalKeyStoreId;
  });
  after(async () => {
    await service.close();
    await proxy.close();
  });

  test("a new store is DISCONNECTED, shows its settings, and never its secret access key", async () => {
    const store = (await service.keys.getExternalKeyStore({ externalKeyStoreId: storeId })).externalKeyStore!;
    assert.equal(store.connectionState, State.DISCONNECTED);
    assert.equal(store.xksProxyUriEndpoint, proxy.endpoint);
    assert.equal(store.xksProxyUriPath, proxy.uriPath);
    assert.equal(store.accessKeyId, proxy.credential.accessKeyId);
    assert.equal(store.krn, `krn:keyhold:kms:test-1:${TEST_ACCOUNT}:external-key-store/${storeId}`);
    assert.equal(toJsonString(ExternalKeyStoreSchema, store).includes(proxy.credential.rawSecretAccessKey), false);
    // Stored wrapped by the root key, not in the clear.
    const record = (await service.app.context.store.getExternalKeyStore(TEST_ACCOUNT, storeId))!;
    assert.equal(record.wrappedSecretAccessKey.includes(Buffer.from(proxy.credential.rawSecretAccessKey)), false);
    const listed = await service.keys.listExternalKeyStores({});
    assert.deepEqual(listed.externalKeyStores.map((s) => s.externalKeyStoreId), [storeId]);
    // By krn too; another account's store looks missing.
    assert.equal((await service.keys.getExternalKeyStore({ externalKeyStoreId: store.krn })).externalKeyStore!.externalKeyStoreId, storeId);
    assert.deepEqual(await refusal(service.as("444455556666").keys.getExternalKeyStore({ externalKeyStoreId: storeId })), {
      code: Code.NotFound,
      reason: "EXTERNAL_KEY_STORE_NOT_FOUND",
      field: "external_key_store_id",
    });
  });

  test("bad input on the store RPCs is INVALID_ARGUMENT naming the field", async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ externalKeyStoreName: "" }, "external_key_store_name"],
      [{ xksProxyUriEndpoint: "" }, "xks_proxy_uri_endpoint"],
      [{ xksProxyUriEndpoint: "http://xks.example.com" }, "xks_proxy_uri_endpoint"],
      [{ xksProxyUriEndpoint: "https://xks.example.com/kms" }, "xks_proxy_uri_endpoint"],
      [{ xksProxyUriPath: "/tenant/kms/xks/v2" }, "xks_proxy_uri_path"],
      [{ xksProxyUriPath: "/ten ant/kms/xks/v1" }, "xks_proxy_uri_path"],
      [{ xksProxyAuthenticationCredential: undefined }, "xks_proxy_authentication_credential"],
      [{ xksProxyAuthenticationCredential: { accessKeyId: "short", rawSecretAccessKey: proxy.credential.rawSecretAccessKey } }, "xks_proxy_authentication_credential.access_key_id"],
      [{ xksProxyAuthenticationCredential: { accessKeyId: proxy.credential.accessKeyId, rawSecretAccessKey: "too-short" } }, "xks_proxy_authentication_credential.raw_secret_access_key"],
      [{ tls: { caCertificatePem: "not pem" } }, "tls.ca_certificate_pem"],
      [{ tls: { clientCertificatePem: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----" } }, "tls.client_private_key_pem"],
    ];
    for (const [overrides, field] of cases) {
      assert.deepEqual(await refusal(createStore(`bad-${field}`, overrides)), invalid(field), field);
    }
    const duplicate = await refusal(createStore("primary"));
    assert.deepEqual(duplicate, { code: Code.AlreadyExists, reason: "ALREADY_EXISTS", field: "external_key_store_name" });
    assert.deepEqual(await refusal(service.keys.getExternalKeyStore({ externalKeyStoreId: "" })), invalid("external_key_store_id"));
    assert.deepEqual(await refusal(service.keys.getExternalKeyStore({ externalKeyStoreId: "nope" })), invalid("external_key_store_id"));
    assert.deepEqual(await refusal(service.keys.connectExternalKeyStore({ externalKeyStoreId: "00000000-0000-4000-8000-000000000000" })), {
      code: Code.NotFound,
      reason: "EXTERNAL_KEY_STORE_NOT_FOUND",
      field: "external_key_store_id",
    });
    assert.deepEqual(await refusal(service.keys.updateExternalKeyStore({ externalKeyStoreId: storeId })), invalid("external_key_store_id"));
    const update = (fields: Record<string, unknown>) => service.keys.updateExternalKeyStore({ externalKeyStoreId: storeId, ...fields });
    assert.deepEqual(await refusal(update({ newExternalKeyStoreName: "" })), invalid("new_external_key_store_name"));
    assert.deepEqual(await refusal(update({ newExternalKeyStoreName: "n".repeat(257) })), invalid("new_external_key_store_name"));
    assert.deepEqual(await refusal(update({ xksProxyUriEndpoint: "xks.example.com" })), invalid("xks_proxy_uri_endpoint"));
    assert.deepEqual(await refusal(update({ xksProxyUriPath: "/kms/xks" })), invalid("xks_proxy_uri_path"));
    assert.deepEqual(await refusal(update({ tls: { serverName: "not a name" } })), invalid("tls.server_name"));
    assert.deepEqual(
      await refusal(update({ xksProxyAuthenticationCredential: { accessKeyId: "lowercase-is-not-allowed", rawSecretAccessKey: proxy.credential.rawSecretAccessKey } })),
      invalid("xks_proxy_authentication_credential.access_key_id"),
    );
    // Refused updates changed nothing.
    assert.equal((await service.keys.getExternalKeyStore({ externalKeyStoreId: storeId })).externalKeyStore!.externalKeyStoreName, "primary");
  });

  test("a key cannot be created in a store that is not connected", async () => {
    assert.deepEqual(await refusal(service.keys.createKey({ origin: Origin.EXTERNAL_KEY_STORE, externalKeyStoreId: storeId, xksKeyId: "ext-key-1" })), {
      code: Code.FailedPrecondition,
      reason: "EXTERNAL_KEY_STORE_INVALID_STATE",
      field: "external_key_store_id",
    });
  });

  test("connecting checks the proxy's health and ends CONNECTED; the request names the caller", async () => {
    const connected = (await service.keys.connectExternalKeyStore({ externalKeyStoreId: storeId })).externalKeyStore!;
    assert.equal(connected.connectionState, State.CONNECTED);
    assert.equal(connected.connectionErrorCode, ErrorCode.UNSPECIFIED);
    const health = proxy.requests.filter((r) => r.operation === "health").at(-1)!;
    assert.equal(health.requestMetadata.awsPrincipalArn, `krn:keyhold:iam::${TEST_ACCOUNT}:root`);
    assert.equal(health.requestMetadata.kmsOperation, "ConnectExternalKeyStore");
    assert.notEqual(health.requestMetadata.kmsRequestId, "");
  });

  test("CreateKey checks the external key with GetKeyMetadata, and refuses bad external keys", async () => {
    const create = (fields: Record<string, unknown>) => service.keys.createKey({ origin: Origin.EXTERNAL_KEY_STORE, externalKeyStoreId: storeId, xksKeyId: "ext-key-1", ...fields });
    assert.deepEqual(await refusal(create({ xksKeyId: "" })), invalid("xks_key_id"));
    assert.deepEqual(await refusal(create({ xksKeyId: "bad id!" })), invalid("xks_key_id"));
    assert.deepEqual(await refusal(create({ externalKeyStoreId: "" })), invalid("external_key_store_id"));
    assert.deepEqual(await refusal(create({ keySpec: KeySpec.HMAC_256 })), invalid("key_spec"));
    assert.deepEqual(await refusal(service.keys.createKey({ xksKeyId: "ext-key-1" })), invalid("xks_key_id"));
    assert.deepEqual(await refusal(service.keys.createKey({ externalKeyStoreId: storeId })), invalid("external_key_store_id"));
    assert.deepEqual(await refusal(create({ xksKeyId: "missing-key" })), invalid("xks_key_id"));
    proxy.createNonAesKey("rsa-key");
    assert.deepEqual(await refusal(create({ xksKeyId: "rsa-key" })), invalid("xks_key_id"));
    await proxy.createKey("disabled-key");
    await proxy.disableKey("disabled-key");
    assert.deepEqual(await refusal(create({ xksKeyId: "disabled-key" })), invalid("xks_key_id"));

    const key = await createKey("ext-key-1");
    assert.equal(key.origin, Origin.EXTERNAL_KEY_STORE);
    assert.equal(key.keyState, KeyState.ENABLED);
    assert.equal(key.externalKeyStoreId, storeId);
    assert.equal(key.xksKeyId, "ext-key-1");
    const metadataCall = proxy.requests.filter((r) => r.operation === "metadata").at(-1)!;
    assert.equal(metadataCall.externalKeyId, "ext-key-1");
    assert.equal(metadataCall.requestMetadata.kmsOperation, "CreateKey");
    // Several Keyhold keys may reference one external key.
    const second = await createKey("ext-key-1");
    assert.notEqual(second.keyId, key.keyId);
  });

  test("Encrypt, Decrypt, GenerateDataKey(WithoutPlaintext) and ReEncrypt double-encrypt through the proxy", async () => {
    const key = await createKey("ext-key-1");
    const encryptionContext = { tenant: "a" };
    const sealed = await service.crypto.encrypt({ keyId: key.keyId, plaintext: bytes("hold your own key"), encryptionContext });
    assert.equal(sealed.ciphertextBlob[0], 0x02, "format v2 (double encryption)");
    const encryptCall = proxy.requests.filter((r) => r.operation === "encrypt").at(-1)!;
    assert.equal(encryptCall.requestMetadata.kmsKeyArn, key.krn);
    assert.equal(encryptCall.requestMetadata.kmsOperation, "Encrypt");
    assert.equal(encryptCall.requestMetadata.awsPrincipalArn, `krn:keyhold:iam::${TEST_ACCOUNT}:root`);

    const opened = await service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob, encryptionContext });
    assert.equal(new TextDecoder().decode(opened.plaintext), "hold your own key");
    assert.equal(opened.keyId, key.krn);
    assert.equal(proxy.requests.at(-1)!.requestMetadata.kmsOperation, "Decrypt");

    // The context is bound: another one does not decrypt; nor does a flipped byte anywhere.
    assert.equal((await refusal(service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob, encryptionContext: { tenant: "b" } }))).reason, "INVALID_CIPHERTEXT");
    for (const at of [18, 19, 40, sealed.ciphertextBlob.length - 1]) {
      const tampered = Uint8Array.from(sealed.ciphertextBlob);
      tampered[at]! ^= 1;
      assert.equal((await refusal(service.crypto.decrypt({ ciphertextBlob: tampered, encryptionContext }))).reason, "INVALID_CIPHERTEXT", `byte ${at}`);
    }
    // Another key that references the same external key cannot open it (the Keyhold layer differs).
    const sibling = await createKey("ext-key-1");
    assert.equal((await refusal(service.crypto.decrypt({ keyId: sibling.keyId, ciphertextBlob: sealed.ciphertextBlob, encryptionContext }))).reason, "INVALID_CIPHERTEXT");

    const dataKey = await service.crypto.generateDataKey({ keyId: key.keyId, numberOfBytes: 32 });
    const unwrapped = await service.crypto.decrypt({ ciphertextBlob: dataKey.ciphertextBlob });
    assert.deepEqual(unwrapped.plaintext, dataKey.plaintext);
    const withoutPlaintext = await service.crypto.generateDataKeyWithoutPlaintext({ keyId: key.keyId, numberOfBytes: 16 });
    assert.equal((await service.crypto.decrypt({ ciphertextBlob: withoutPlaintext.ciphertextBlob })).plaintext.length, 16);

    // ReEncrypt from the external key to a software key and back.
    const software = (await service.keys.createKey({})).keyMetadata!;
    const moved = await service.crypto.reEncrypt({ ciphertextBlob: sealed.ciphertextBlob, sourceEncryptionContext: encryptionContext, destinationKeyId: software.keyId });
    assert.equal(moved.ciphertextBlob[0], 0x01);
    const back = await service.crypto.reEncrypt({ ciphertextBlob: moved.ciphertextBlob, destinationKeyId: key.keyId, destinationEncryptionContext: encryptionContext });
    assert.equal(back.ciphertextBlob[0], 0x02);
    assert.equal(new TextDecoder().decode((await service.crypto.decrypt({ ciphertextBlob: back.ciphertextBlob, encryptionContext })).plaintext), "hold your own key");
  });

  test("a key disabled in the external key manager is refused with KEY_INVALID_STATE, and works again once enabled", async () => {
    await proxy.createKey("ext-key-2");
    const key = await createKey("ext-key-2");
    const sealed = await service.crypto.encrypt({ keyId: key.keyId, plaintext: bytes("x") });
    await proxy.disableKey("ext-key-2");
    const refused = { code: Code.FailedPrecondition, reason: "KEY_INVALID_STATE", field: "key_id" };
    assert.deepEqual(await refusal(service.crypto.encrypt({ keyId: key.keyId, plaintext: bytes("x") })), refused);
    assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })), refused);
    await proxy.enableKey("ext-key-2");
    assert.equal(new TextDecoder().decode((await service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })).plaintext), "x");
  });

  test("a stopped proxy makes the key Unavailable and calls UNAVAILABLE; started again, it recovers", async () => {
    const key = await createKey("ext-key-1");
    const sealed = await service.crypto.encrypt({ keyId: key.keyId, plaintext: bytes("y") });
    await proxy.stop();
    try {
      assert.deepEqual(await refusal(service.crypto.encrypt({ keyId: key.keyId, plaintext: bytes("y") })), unavailable("key_id"));
      assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })), unavailable("key_id"));
      assert.equal((await service.keys.getKey({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.UNAVAILABLE);
    } finally {
      await proxy.start();
    }
    assert.equal((await service.keys.getKey({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.ENABLED);
    assert.equal(new TextDecoder().decode((await service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })).plaintext), "y");
  });

  test("a proxy slower than the deadline is UNAVAILABLE within about the deadline, never a fallback", async () => {
    const key = await createKey("ext-key-1");
    proxy.delayMs = 1500;
    try {
      const started = performance.now();
      assert.deepEqual(await refusal(service.crypto.encrypt({ keyId: key.keyId, plaintext: bytes("z") })), unavailable("key_id"));
      const elapsed = performance.now() - started;
      assert.ok(elapsed >= 240 && elapsed < 1200, `refused after ${elapsed.toFixed(0)} ms (deadline 250 ms)`);
    } finally {
      proxy.delayMs = 0;
    }
    await service.crypto.encrypt({ keyId: key.keyId, plaintext: bytes("z") });
  });

  test("each XKS error the proxy answers maps to one Keyhold reason", async () => {
    const key = await createKey("ext-key-1");
    const sealed = await service.crypto.encrypt({ keyId: key.keyId, plaintext: bytes("e") });
    const expected: Record<XksErrorName, { code: Code; reason: string; field: string }> = {
      ValidationException: unavailable("key_id"),
      InvalidStateException: { code: Code.FailedPrecondition, reason: "KEY_INVALID_STATE", field: "key_id" },
      InvalidCiphertextException: { code: Code.InvalidArgument, reason: "INVALID_CIPHERTEXT", field: "ciphertext_blob" },
      InvalidKeyUsageException: { code: Code.FailedPrecondition, reason: "KEY_INVALID_STATE", field: "key_id" },
      AuthenticationFailedException: unavailable("key_id"),
      AccessDeniedException: unavailable("key_id"),
      KeyNotFoundException: { code: Code.FailedPrecondition, reason: "KEY_INVALID_STATE", field: "key_id" },
      InvalidUriPathException: unavailable("key_id"),
      ThrottlingException: unavailable("key_id"),
      InternalException: unavailable("key_id"),
      UnsupportedOperationException: unavailable("key_id"),
      DependencyTimeoutException: unavailable("key_id"),
    };
    try {
      for (const [name, outcome] of Object.entries(expected)) {
        proxy.forcedError = name as XksErrorName;
        assert.deepEqual(await refusal(service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob })), outcome, name);
      }
    } finally {
      proxy.forcedError = undefined;
    }
    await service.crypto.decrypt({ ciphertextBlob: sealed.ciphertextBlob });
  });

  test("bad credentials: connecting FAILS with XKS_PROXY_ACCESS_DENIED; a connected store refuses them in UpdateExternalKeyStore", async () => {
    const wrong = { accessKeyId: proxy.credential.accessKeyId, rawSecretAccessKey: Buffer.alloc(32, 7).toString("base64") };
    const store = (await createStore("wrong-secret", { xksProxyAuthenticationCredential: wrong })).externalKeyStore!;
    const failed = (await service.keys.connectExternalKeyStore({ externalKeyStoreId: store.externalKeyStoreId })).externalKeyStore!;
    assert.equal(failed.connectionState, State.FAILED);
    assert.equal(failed.connectionErrorCode, ErrorCode.XKS_PROXY_ACCESS_DENIED);
    // Fixed while not connected: connects.
    await service.keys.updateExternalKeyStore({ externalKeyStoreId: store.externalKeyStoreId, xksProxyAuthenticationCredential: proxy.credential });
    const fixed = (await service.keys.connectExternalKeyStore({ externalKeyStoreId: store.externalKeyStoreId })).externalKeyStore!;
    assert.equal(fixed.connectionState, State.CONNECTED);
    // Connected: a credential the proxy refuses is not taken.
    assert.deepEqual(
      await refusal(service.keys.updateExternalKeyStore({ externalKeyStoreId: store.externalKeyStoreId, xksProxyAuthenticationCredential: wrong })),
      invalid("xks_proxy_authentication_credential"),
    );
    assert.deepEqual(await refusal(service.keys.updateExternalKeyStore({ externalKeyStoreId: store.externalKeyStoreId, xksProxyUriEndpoint: "https://other.example.com" })), {
      code: Code.FailedPrecondition,
      reason: "EXTERNAL_KEY_STORE_INVALID_STATE",
      field: "xks_proxy_uri_endpoint",
    });
    const renamed = (await service.keys.updateExternalKeyStore({ externalKeyStoreId: store.externalKeyStoreId, newExternalKeyStoreName: "renamed" })).externalKeyStore!;
    assert.equal(renamed.externalKeyStoreName, "renamed");
    // Unreachable and timed-out proxies have their own codes.
    await service.keys.disconnectExternalKeyStore({ externalKeyStoreId: store.externalKeyStoreId });
    await service.keys.updateExternalKeyStore({ externalKeyStoreId: store.externalKeyStoreId, xksProxyUriEndpoint: "http://127.0.0.1:1" });
    const refused = (await service.keys.connectExternalKeyStore({ externalKeyStoreId: store.externalKeyStoreId })).externalKeyStore!;
    assert.deepEqual([refused.connectionState, refused.connectionErrorCode], [State.FAILED, ErrorCode.XKS_PROXY_NOT_REACHABLE]);
    // Not connected and used by no key: it can be deleted.
    await service.keys.deleteExternalKeyStore({ externalKeyStoreId: store.externalKeyStoreId });
    assert.equal((await refusal(service.keys.getExternalKeyStore({ externalKeyStoreId: store.externalKeyStoreId }))).reason, "EXTERNAL_KEY_STORE_NOT_FOUND");
  });

  test("rotation, versions and import are refused for external key store keys with a clear reason", async () => {
    const key = await createKey("ext-key-1");
    const unsupported = { code: Code.FailedPrecondition, reason: "UNSUPPORTED_OPERATION", field: "key_id" };
    assert.deepEqual(await refusal(service.keys.rotateKey({ keyId: key.keyId })), unsupported);
    assert.deepEqual(await refusal(service.keys.updateRotationPolicy({ keyId: key.keyId, enabled: true })), unsupported);
    assert.deepEqual(await refusal(service.keys.listKeyVersions({ keyId: key.keyId })), unsupported);
    assert.deepEqual(await refusal(service.keys.getKeyVersion({ keyId: key.keyId, keyVersionId: key.primaryVersionId })), unsupported);
    assert.deepEqual(await refusal(service.keys.getParametersForImport({ keyId: key.keyId, wrappingAlgorithm: WrappingAlgorithm.RSAES_OAEP_SHA_256 })), unsupported);
  });

  test("a disconnected store's keys are Unavailable; a connected or used store cannot be deleted", async () => {
    const key = await createKey("ext-key-1");
    const invalidState = { code: Code.FailedPrecondition, reason: "EXTERNAL_KEY_STORE_INVALID_STATE", field: "external_key_store_id" };
    assert.deepEqual(await refusal(service.keys.deleteExternalKeyStore({ externalKeyStoreId: storeId })), invalidState);
    const disconnected = (await service.keys.disconnectExternalKeyStore({ externalKeyStoreId: storeId })).externalKeyStore!;
    assert.equal(disconnected.connectionState, State.DISCONNECTED);
    assert.equal((await service.keys.getKey({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.UNAVAILABLE);
    assert.deepEqual(await refusal(service.crypto.encrypt({ keyId: key.keyId, plaintext: bytes("d") })), unavailable("key_id"));
    assert.deepEqual(await refusal(service.keys.deleteExternalKeyStore({ externalKeyStoreId: storeId })), invalidState);
    await service.keys.connectExternalKeyStore({ externalKeyStoreId: storeId });
    assert.equal((await service.keys.getKey({ keyId: key.keyId })).keyMetadata!.keyState, KeyState.ENABLED);
  });
});

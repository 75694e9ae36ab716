// The managed policies and the new key-service RPCs agree on action names: a KeyUser uses
// keys (Sign, Verify, MACs, asymmetric encryption, data key pairs, public keys) and cannot
// manage them; a KeyAdministrator manages them (rotation, deletion, protection, import) and
// cannot use them. Over real gRPC against `keyhold dev`.
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  CryptoService,
  DataKeyPairSpec,
  EncryptionAlgorithm,
  ErrorInfoSchema,
  IamService,
  KeyService,
  KeySpec,
  KeyUsage,
  MacAlgorithm,
  Origin,
  SigningAlgorithm,
  WrappingAlgorithm,
} from "@keyhold/proto";
import { withCredential } from "../support/auth.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const outcome = (promise: Promise<unknown>) =>
  promise.then(
    () => "ok",
    (error: unknown) => {
      const e = ConnectError.from(error);
      return e.code === Code.PermissionDenied ? "denied" : `other: ${e.findDetails(ErrorInfoSchema)[0]?.reason ?? e.code}`;
    },
  );

describe("KeyUser and KeyAdministrator on the new RPCs", () => {
  let server: TestServer;
  let admin: { keys: Client<typeof KeyService>; crypto: Client<typeof CryptoService> };
  let user: { keys: Client<typeof KeyService>; crypto: Client<typeof CryptoService> };
  let keyAdmin: { keys: Client<typeof KeyService>; crypto: Client<typeof CryptoService> };
  const ids = { symmetric: "", hmac: "", ec: "", rsa: "", external: "" };

  const clients = (transport: Transport) => ({ keys: createClient(KeyService, transport), crypto: createClient(CryptoService, transport) });

  before(async () => {
    server = await startTestServer();
    const adminTransport = createGrpcTransport({ baseUrl: server.grpcBaseUrl, interceptors: [withCredential(server.credential)] });
    admin = clients(adminTransport);
    const iam = createClient(IamService, adminTransport);
    const principal = async (name: string, managed: string) => {
      const krn = (await iam.createUser({ userName: name })).principal!.krn;
      await iam.attachPolicy({ principalKrn: krn, policyKrn: `krn:keyhold:iam::keyhold:policy/${managed}` });
      const { secret } = await iam.createApiKey({ principalKrn: krn });
      return clients(createGrpcTransport({ baseUrl: server.grpcBaseUrl, interceptors: [withCredential(secret)] }));
    };
    user = await principal("key-user", "KeyUser");
    keyAdmin = await principal("key-admin", "KeyAdministrator");
    ids.symmetric = (await admin.keys.createKey({})).keyMetadata!.keyId;
    ids.hmac = (await admin.keys.createKey({ keySpec: KeySpec.HMAC_256 })).keyMetadata!.keyId;
    ids.ec = (await admin.keys.createKey({ keySpec: KeySpec.EC_P256 })).keyMetadata!.keyId;
    ids.rsa = (await admin.keys.createKey({ keySpec: KeySpec.RSA_2048, keyUsage: KeyUsage.ENCRYPT_DECRYPT })).keyMetadata!.keyId;
    ids.external = (await admin.keys.createKey({ origin: Origin.EXTERNAL })).keyMetadata!.keyId;
  });
  after(() => server.stop());

  const message = new TextEncoder().encode("m");
  const useCalls = (c: typeof user) => ({
    GenerateMac: () => c.crypto.generateMac({ keyId: ids.hmac, message, macAlgorithm: MacAlgorithm.HMAC_SHA_256 }),
    Sign: () => c.crypto.sign({ keyId: ids.ec, message, signingAlgorithm: SigningAlgorithm.ECDSA_SHA_256 }),
    GetPublicKey: () => c.keys.getPublicKey({ keyId: ids.ec }),
    AsymmetricEncrypt: () => c.crypto.asymmetricEncrypt({ keyId: ids.rsa, plaintext: message, encryptionAlgorithm: EncryptionAlgorithm.RSAES_OAEP_SHA_256 }),
    GenerateDataKeyPair: () => c.crypto.generateDataKeyPair({ keyId: ids.symmetric, keyPairSpec: DataKeyPairSpec.ECC_NIST_P256 }),
    GenerateDataKeyPairWithoutPlaintext: () => c.crypto.generateDataKeyPairWithoutPlaintext({ keyId: ids.symmetric, keyPairSpec: DataKeyPairSpec.ECC_NIST_P256 }),
    GenerateAndExportDataKey: () =>
      c.crypto.generateAndExportDataKey({ keyId: ids.symmetric, publicKey: crypto.generateKeyPairSync("rsa", { modulusLength: 2048 }).publicKey.export({ type: "spki", format: "der" }) }),
    ListKeyVersions: () => c.keys.listKeyVersions({ keyId: ids.symmetric }),
  });
  const manageCalls = (c: typeof user) => ({
    RotateKey: () => c.keys.rotateKey({ keyId: ids.symmetric }),
    UpdateRotationPolicy: () => c.keys.updateRotationPolicy({ keyId: ids.symmetric, enabled: true }),
    GetRotationPolicy: () => c.keys.getRotationPolicy({ keyId: ids.symmetric }),
    UpdateDeletionProtection: () => c.keys.updateDeletionProtection({ keyId: ids.symmetric, enabled: false }),
    GetParametersForImport: () => c.keys.getParametersForImport({ keyId: ids.external, wrappingAlgorithm: WrappingAlgorithm.RSAES_OAEP_SHA_256 }),
    DeleteImportedKeyMaterial: () => c.keys.deleteImportedKeyMaterial({ keyId: ids.external }),
  });

  test("a KeyUser uses keys and cannot manage them", async () => {
    for (const [name, call] of Object.entries(useCalls(user))) assert.equal(await outcome(call()), "ok", name);
    for (const [name, call] of Object.entries(manageCalls(user))) assert.equal(await outcome(call()), "denied", name);
    assert.equal(await outcome(user.keys.scheduleKeyDeletion({ keyId: ids.symmetric })), "denied");
  });

  test("a KeyAdministrator manages keys and cannot use them", async () => {
    for (const [name, call] of Object.entries(manageCalls(keyAdmin))) assert.equal(await outcome(call()), "ok", name);
    for (const name of ["GenerateMac", "Sign", "AsymmetricEncrypt", "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateAndExportDataKey"] as const) {
      assert.equal(await outcome(useCalls(keyAdmin)[name]()), "denied", name);
    }
    const doomed = (await admin.keys.createKey({})).keyMetadata!.keyId;
    assert.equal(await outcome(keyAdmin.keys.scheduleKeyDeletion({ keyId: doomed })), "ok");
    assert.equal(await outcome(keyAdmin.keys.cancelKeyDeletion({ keyId: doomed })), "ok");
  });
});

// Audit over real gRPC with `keyhold dev`: every public RPC of every service leaves exactly one
// event (table-driven over the service descriptors, so an RPC added without audit fails here),
// denied and unauthenticated calls included; no marker sent as plaintext, context value,
// credential or secret reaches the audit store, the outboxes or the logs; the log verifies, and
// its export verifies offline; an unwritable outbox makes calls fail closed.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import {
  AuditService,
  CryptoService,
  DataKeyPairSpec,
  EncryptionAlgorithm,
  ErrorInfoSchema,
  IamService,
  KeyService,
  KeySpec,
  MacAlgorithm,
  SealService,
  Origin,
  SecretsService,
  SigningAlgorithm,
  StsService,
  WrappingAlgorithm,
  type AuditEvent,
} from "@keyhold/proto";
import { createJsonLogger } from "@keyhold/server-kit";
import { generateApiKey, withCredential } from "../support/auth.ts";

const PUBLIC_SERVICES: readonly { service: DescService; prefix: string }[] = [
  { service: KeyService, prefix: "kms" },
  { service: CryptoService, prefix: "kms" },
  { service: SealService, prefix: "kms" },
  { service: IamService, prefix: "iam" },
  { service: StsService, prefix: "sts" },
  { service: AuditService, prefix: "audit" },
  { service: SecretsService, prefix: "secrets" },
];

const marker = (what: string) => `MARKER${what}${randomBytes(8).toString("hex")}`;
const MARKERS = {
  plaintext: marker("plaintext"),
  contextValue: marker("context"),
  bearer: marker("bearer"),
  keyPolicy: marker("policy"),
  secretValue: marker("secret"),
  unsealShare: marker("share"),
  // An XKS proxy credential's secret access key (43-64 of A-Z a-z 0-9 + / =).
  xksSecret: `MARKERxkssecret${randomBytes(16).toString("hex")}`,
};

interface Outcome {
  readonly code: number;
  readonly reason: string;
}

async function outcomeOf(run: () => Promise<unknown>): Promise<{ outcome: Outcome; result: unknown }> {
  try {
    return { outcome: { code: 0, reason: "" }, result: await run() };
  } catch (error) {
    const connect = ConnectError.from(error);
    const reason = connect.findDetails(ErrorInfoSchema)[0]?.reason ?? "";
    return { outcome: { code: connect.code, reason }, result: undefined };
  }
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");

describe("audit end to end (keyhold dev over gRPC)", () => {
  let dataDir: string;
  let dev: DevInstance;
  let stopped = false;
  const logs: string[] = [];
  let credential: string;
  let grpcBaseUrl: string;
  let admin: Transport;
  let adminKrn: string;
  let audit: Client<typeof AuditService>;
  const secrets: string[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "keyhold-audit-e2e-"));
    credential = generateApiKey();
    const config = readDevConfig(
      {
        KEYHOLD_DATA_DIR: dataDir,
        KEYHOLD_GRPC_ADDR: "127.0.0.1:0",
        KEYHOLD_HTTP_ADDR: "127.0.0.1:0",
        KEYHOLD_SHUTDOWN_GRACE_MS: "2000",
        KEYHOLD_BOOTSTRAP_API_KEY: credential,
      },
      process.cwd(),
    );
    dev = await startDev(config, createJsonLogger({ level: "debug", write: (line) => logs.push(line) }));
    grpcBaseUrl = `http://127.0.0.1:${dev.addresses.grpcPort}`;
    admin = createGrpcTransport({ baseUrl: grpcBaseUrl, interceptors: [withCredential(credential)] });
    audit = createClient(AuditService, admin);
    adminKrn = (await createClient(StsService, admin).getCallerIdentity({})).principalKrn;
  });
  after(async () => {
    if (!stopped) await dev.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  /** Every event with this action (all pages). */
  async function eventsWith(action: string): Promise<AuditEvent[]> {
    const events: AuditEvent[] = [];
    let pageToken = "";
    do {
      const page = await audit.lookupEvents({ action, pageSize: 500, pageToken });
      events.push(...page.events);
      pageToken = page.nextPageToken;
    } while (pageToken !== "");
    return events;
  }

  test("every public RPC of every service leaves exactly one event, denied and unauthenticated calls too", async () => {
    const keys = createClient(KeyService, admin);
    const crypto = createClient(CryptoService, admin);
    const iam = createClient(IamService, admin);
    const keyId = (await keys.createKey({ description: "audit e2e" })).keyMetadata!.keyId;
    const encryptionContext = { app: MARKERS.contextValue };
    const sealed = await crypto.encrypt({ keyId, plaintext: new TextEncoder().encode(MARKERS.plaintext), encryptionContext });
    const hmacKeyId = (await keys.createKey({ keySpec: KeySpec.HMAC_256 })).keyMetadata!.keyId;
    const signingKeyId = (await keys.createKey({ keySpec: KeySpec.EC_P256 })).keyMetadata!.keyId;
    const rsaKeyId = (await keys.createKey({ keySpec: KeySpec.RSA_2048 })).keyMetadata!.keyId;
    const externalKeyId = (await keys.createKey({ origin: Origin.EXTERNAL })).keyMetadata!.keyId;
    const spareKeyId = (await keys.createKey({ description: "audit e2e: scheduled for deletion and back" })).keyMetadata!.keyId;
    // An external key store whose proxy is nowhere (connecting it ends FAILED, and is audited).
    const xksStore = (overrides: Record<string, unknown>) => ({
      xksProxyUriEndpoint: "http://127.0.0.1:1",
      xksProxyUriPath: "/audited/kms/xks/v1",
      xksProxyAuthenticationCredential: { accessKeyId: "AUDITEDXKSACCESSKEY2", rawSecretAccessKey: MARKERS.xksSecret },
      ...overrides,
    });
    const xksStoreId = (await keys.createExternalKeyStore(xksStore({ externalKeyStoreName: "audit e2e store" }))).externalKeyStore!.externalKeyStoreId;
    const user = (await iam.createUser({ userName: "audited" })).principal!.krn;
    const policy = JSON.stringify({
      Version: "2012-10-17",
      Statement: [{ Sid: MARKERS.keyPolicy, Effect: "Allow", Principal: { Keyhold: adminKrn }, Action: "kms:*", Resource: "*" }],
    });

    // One request per RPC: a valid one where that is easy, any other (refused calls are audited too).
    type Request = Record<string, unknown>;
    const table: Record<string, () => Request> = {
      "KeyService/CreateKey": () => ({ description: "audited" }),
      "KeyService/GetKey": () => ({ keyId }),
      "KeyService/ListKeys": () => ({}),
      "KeyService/UpdateKey": () => ({ keyId, description: "updated" }),
      "KeyService/EnableKey": () => ({ keyId }),
      "KeyService/DisableKey": () => ({ keyId: "00000000-0000-4000-8000-000000000000" }),
      "KeyService/CreateAlias": () => ({ aliasName: "alias/audited", targetKeyId: keyId }),
      "KeyService/UpdateAlias": () => ({ aliasName: "alias/audited", targetKeyId: keyId }),
      "KeyService/DeleteAlias": () => ({ aliasName: "alias/missing" }),
      "KeyService/ListAliases": () => ({}),
      "KeyService/TagResource": () => ({ keyId, tags: [{ key: "team", value: "audit" }] }),
      "KeyService/UntagResource": () => ({ keyId, tagKeys: ["team"] }),
      "KeyService/ListResourceTags": () => ({ keyId }),
      "KeyService/CreateGrant": () => ({ keyId, granteePrincipal: user, operations: ["kms:Encrypt"] }),
      "KeyService/ListGrants": () => ({ keyId }),
      "KeyService/RetireGrant": () => ({}),
      "KeyService/RevokeGrant": () => ({ keyId, grantId: "" }),
      "KeyService/PutKeyPolicy": () => ({ keyId, policy }),
      "KeyService/GetKeyPolicy": () => ({ keyId }),
      "KeyService/RotateKey": () => ({ keyId }),
      "KeyService/ListKeyVersions": () => ({ keyId }),
      "KeyService/GetKeyVersion": () => ({ keyId, keyVersionId: sealed.keyVersionId }),
      "KeyService/UpdateRotationPolicy": () => ({ keyId, enabled: true }),
      "KeyService/GetRotationPolicy": () => ({ keyId }),
      "KeyService/ScheduleKeyDeletion": () => ({ keyId: spareKeyId }),
      "KeyService/CancelKeyDeletion": () => ({ keyId: spareKeyId }),
      "KeyService/UpdateDeletionProtection": () => ({ keyId, enabled: false }),
      "KeyService/GetPublicKey": () => ({ keyId: signingKeyId }),
      "KeyService/GetParametersForImport": () => ({ keyId: externalKeyId, wrappingAlgorithm: WrappingAlgorithm.RSAES_OAEP_SHA_256 }),
      "KeyService/ImportKeyMaterial": () => ({ keyId: externalKeyId, importToken: new Uint8Array(32), encryptedKeyMaterial: new Uint8Array(256) }),
      "KeyService/DeleteImportedKeyMaterial": () => ({ keyId: externalKeyId }),
      "KeyService/CreateExternalKeyStore": () => xksStore({ externalKeyStoreName: "audited" }),
      "KeyService/GetExternalKeyStore": () => ({ externalKeyStoreId: xksStoreId }),
      "KeyService/ListExternalKeyStores": () => ({}),
      "KeyService/UpdateExternalKeyStore": () => ({ externalKeyStoreId: xksStoreId, xksProxyAuthenticationCredential: { accessKeyId: "AUDITEDXKSACCESSKEY3", rawSecretAccessKey: MARKERS.xksSecret } }),
      "KeyService/DeleteExternalKeyStore": () => ({ externalKeyStoreId: "00000000-0000-4000-8000-000000000000" }),
      "KeyService/ConnectExternalKeyStore": () => ({ externalKeyStoreId: xksStoreId }),
      "KeyService/DisconnectExternalKeyStore": () => ({ externalKeyStoreId: xksStoreId }),
      "CryptoService/Encrypt": () => ({ keyId, plaintext: new TextEncoder().encode(MARKERS.plaintext), encryptionContext }),
      "CryptoService/Decrypt": () => ({ ciphertextBlob: sealed.ciphertextBlob, encryptionContext }),
      "CryptoService/ReEncrypt": () => ({ ciphertextBlob: sealed.ciphertextBlob, sourceEncryptionContext: encryptionContext, destinationKeyId: keyId }),
      "CryptoService/GenerateDataKey": () => ({ keyId, numberOfBytes: 32, encryptionContext }),
      "CryptoService/GenerateDataKeyWithoutPlaintext": () => ({ keyId, numberOfBytes: 32 }),
      "CryptoService/GenerateRandom": () => ({ numberOfBytes: 16 }),
      "CryptoService/GenerateMac": () => ({ keyId: hmacKeyId, message: new TextEncoder().encode(MARKERS.plaintext), macAlgorithm: MacAlgorithm.HMAC_SHA_256 }),
      "CryptoService/VerifyMac": () => ({ keyId: hmacKeyId, message: new Uint8Array([1]), macAlgorithm: MacAlgorithm.HMAC_SHA_256, mac: new Uint8Array(32) }),
      "CryptoService/Sign": () => ({ keyId: signingKeyId, message: new TextEncoder().encode(MARKERS.plaintext), signingAlgorithm: SigningAlgorithm.ECDSA_SHA_256 }),
      "CryptoService/Verify": () => ({ keyId: signingKeyId, message: new Uint8Array([1]), signingAlgorithm: SigningAlgorithm.ECDSA_SHA_256, signature: new Uint8Array(70) }),
      "CryptoService/AsymmetricEncrypt": () => ({ keyId: rsaKeyId, plaintext: new TextEncoder().encode(MARKERS.plaintext), encryptionAlgorithm: EncryptionAlgorithm.RSAES_OAEP_SHA_256 }),
      "CryptoService/AsymmetricDecrypt": () => ({ keyId: rsaKeyId, ciphertextBlob: new Uint8Array(256), encryptionAlgorithm: EncryptionAlgorithm.RSAES_OAEP_SHA_256 }),
      "CryptoService/GenerateDataKeyPair": () => ({ keyId, keyPairSpec: DataKeyPairSpec.ECC_NIST_P256, encryptionContext }),
      "CryptoService/GenerateDataKeyPairWithoutPlaintext": () => ({ keyId, keyPairSpec: DataKeyPairSpec.ECC_NIST_P256 }),
      "CryptoService/GenerateAndExportDataKey": () => ({ keyId, publicKey: new Uint8Array([1]) }),
      // The dev root key is not sealable: a well-formed share reaches the service and is refused.
      "SealService/Unseal": () => ({ share: `khs1-${MARKERS.unsealShare}` }),
      "SealService/GetSealStatus": () => ({}),
      "SealService/Seal": () => ({}),
      "IamService/CreateAccount": () => ({}),
      "IamService/ListAccounts": () => ({}),
      "IamService/CreateUser": () => ({ userName: "audited-2" }),
      "IamService/CreateRole": () => ({}),
      "IamService/UpdateRoleTrustPolicy": () => ({}),
      "IamService/GetPrincipal": () => ({ principalKrn: user }),
      "IamService/ListPrincipals": () => ({}),
      "IamService/DeletePrincipal": () => ({}),
      "IamService/CreateApiKey": () => ({ principalKrn: user }),
      "IamService/ListApiKeys": () => ({}),
      "IamService/UpdateApiKeyStatus": () => ({}),
      "IamService/DeleteApiKey": () => ({}),
      "IamService/PutPolicy": () => ({}),
      "IamService/GetPolicy": () => ({}),
      "IamService/ListPolicies": () => ({}),
      "IamService/DeletePolicy": () => ({}),
      "IamService/AttachPolicy": () => ({}),
      "IamService/DetachPolicy": () => ({}),
      "IamService/ListAttachedPolicies": () => ({}),
      "IamService/SimulatePrincipalPolicy": () => ({}),
      "IamService/AddCertificateIdentity": () => ({}),
      "IamService/RemoveCertificateIdentity": () => ({}),
      "IamService/ListCertificateIdentities": () => ({}),
      "StsService/AssumeRole": () => ({}),
      "StsService/GetCallerIdentity": () => ({}),
      "AuditService/LookupEvents": () => ({ pageSize: 1 }),
      "AuditService/GetEvent": () => ({ eventId: "missing" }),
      "AuditService/GetCheckpoint": () => ({}),
      "AuditService/VerifyLog": () => ({}),
      "AuditService/ExportEvents": () => ({}),
      "SecretsService/CreateSecret": () => ({ name: "audited/secret", secretString: MARKERS.secretValue }),
      "SecretsService/PutSecretValue": () => ({ secretId: "audited/secret", secretString: MARKERS.secretValue }),
      "SecretsService/GetSecretValue": () => ({ secretId: "audited/secret" }),
      "SecretsService/BatchGetSecretValue": () => ({ secretIds: ["audited/secret"] }),
      "SecretsService/DescribeSecret": () => ({ secretId: "audited/secret" }),
      "SecretsService/ListSecrets": () => ({}),
      "SecretsService/ListSecretVersionIds": () => ({ secretId: "audited/secret" }),
      "SecretsService/UpdateSecretVersionStage": () => ({ secretId: "audited/secret", versionStage: "blue", moveToVersionId: "0".repeat(32) }),
      "SecretsService/UpdateSecret": () => ({ secretId: "audited/secret", description: "audited" }),
      "SecretsService/RotateSecret": () => ({ secretId: "audited/secret" }),
      "SecretsService/UpdateSecretRotationPolicy": () => ({ secretId: "audited/secret", rotationEnabled: false }),
      "SecretsService/DeleteSecret": () => ({ secretId: "audited/missing" }),
      "SecretsService/RestoreSecret": () => ({ secretId: "audited/secret" }),
      "SecretsService/GetRandomPassword": () => ({}),
      "SecretsService/TagResource": () => ({ secretId: "audited/secret", tags: [{ key: "team", value: "audit" }] }),
      "SecretsService/UntagResource": () => ({ secretId: "audited/secret", tagKeys: ["team"] }),
    };

    interface Made {
      readonly name: string;
      readonly action: string;
      readonly traceId: string;
      readonly principal: string;
      readonly outcome: Outcome;
    }
    const made: Made[] = [];
    const call = async (transport: Transport, principal: string, service: DescService, prefix: string, method: DescMethod, request: Request, name: string) => {
      const traceId = hex(16);
      const headers = { traceparent: `00-${traceId}-${hex(8)}-01` };
      const client = createClient(service, transport) as unknown as Record<string, (request: Request, options: object) => unknown>;
      const invoke = client[method.localName]!;
      const { outcome, result } = await outcomeOf(async () => {
        if (method.methodKind === "server_streaming") {
          for await (const item of invoke(request, { headers }) as AsyncIterable<unknown>) void item;
          return undefined;
        }
        return await (invoke(request, { headers }));
      });
      if (method.name === "CreateApiKey" && result !== undefined) secrets.push((result as { secret: string }).secret);
      made.push({ name, action: `${prefix}:${method.name}`, traceId, principal, outcome });
      return outcome;
    };

    const missing: string[] = [];
    for (const { service, prefix } of PUBLIC_SERVICES) {
      for (const method of service.methods) {
        const name = `${service.name}/${method.name}`;
        const request = table[name];
        if (request === undefined) {
          missing.push(name);
          continue;
        }
        await call(admin, adminKrn, service, prefix, method, request(), name);
      }
    }
    assert.deepEqual(missing, [], "public RPCs without an audit case in this table");

    // Denied: a user with no policy. Unauthenticated: a secret-looking bearer token nobody issued.
    const deniedKey = secrets[0];
    assert.ok(deniedKey !== undefined, "CreateApiKey answered a secret");
    const denied = createGrpcTransport({ baseUrl: grpcBaseUrl, interceptors: [withCredential(deniedKey)] });
    const listKeys = KeyService.methods.find((m) => m.name === "ListKeys")!;
    const encrypt = CryptoService.methods.find((m) => m.name === "Encrypt")!;
    assert.deepEqual(await call(denied, user, KeyService, "kms", listKeys, {}, "denied ListKeys"), { code: Code.PermissionDenied, reason: "ACCESS_DENIED" });
    const stranger = createGrpcTransport({ baseUrl: grpcBaseUrl, interceptors: [withCredential(`khk_${hex(8)}_${MARKERS.bearer}`)] });
    const refused = await call(stranger, "", CryptoService, "kms", encrypt, { keyId, plaintext: new TextEncoder().encode(MARKERS.plaintext) }, "unauthenticated Encrypt");
    assert.equal(refused.code, Code.Unauthenticated);

    // Read back through LookupEvents once the shippers delivered.
    const byAction = new Map<string, AuditEvent[]>();
    const deadline = Date.now() + 10_000;
    let pending = made;
    while (pending.length > 0) {
      byAction.clear();
      for (const action of new Set(made.map((m) => m.action))) byAction.set(action, await eventsWith(action));
      pending = made.filter((m) => !(byAction.get(m.action) ?? []).some((e) => e.traceId === m.traceId));
      if (pending.length === 0 || Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.deepEqual(pending.map((m) => m.name), [], "calls whose event never arrived");
    for (const m of made) {
      const events = byAction.get(m.action)!.filter((e) => e.traceId === m.traceId);
      assert.equal(events.length, 1, `${m.name}: exactly one event`);
      const event = events[0]!;
      assert.equal(event.principalKrn, m.principal, `${m.name}: principal`);
      assert.deepEqual({ code: event.outcome?.code, reason: event.outcome?.reason }, m.outcome, `${m.name}: outcome`);
      assert.ok(event.requestId !== "", `${m.name}: request id`);
    }
    // Key usage names the key, its version, and the context keys with values HMAC'd.
    const encryptEvent = byAction.get("kms:Encrypt")!.find((e) => e.traceId === made.find((m) => m.name === "CryptoService/Encrypt")!.traceId)!;
    assert.match(encryptEvent.resource, new RegExp(`:key/${keyId}$`));
    assert.notEqual(encryptEvent.keyVersionId, "");
    assert.deepEqual(Object.keys(encryptEvent.encryptionContext), ["app"]);
    assert.notEqual(encryptEvent.encryptionContext["app"], MARKERS.contextValue);
    const decryptEvent = byAction.get("kms:Decrypt")!.find((e) => e.traceId === made.find((m) => m.name === "CryptoService/Decrypt")!.traceId)!;
    assert.equal(decryptEvent.resource, encryptEvent.resource);
    assert.equal(decryptEvent.keyVersionId, sealed.keyVersionId);
    // Secret reads name the secret and the version read, never the value.
    const secretEvent = byAction.get("secrets:GetSecretValue")!.find((e) => e.traceId === made.find((m) => m.name === "SecretsService/GetSecretValue")!.traceId)!;
    assert.match(secretEvent.resource, /:secret\/audited\/secret$/);
    assert.notEqual(secretEvent.keyVersionId, "");
    const deniedEvent = byAction.get("kms:ListKeys")!.find((e) => e.traceId === made.find((m) => m.name === "denied ListKeys")!.traceId)!;
    assert.notEqual(deniedEvent.resource, "", "a denied call names what it was denied on");
  });

  test("the whole log verifies, and its export verifies offline with only the public key", async () => {
    const checkpoint = await audit.getCheckpoint({ fresh: true });
    const verified = await audit.verifyLog({});
    assert.equal(verified.ok, true, verified.problem);
    assert.ok(verified.verifiedRecords > 0n);
    const chunks: Uint8Array[] = [];
    for await (const part of audit.exportEvents({})) chunks.push(part.jsonl);
    const exportFile = join(dataDir, "export.jsonl");
    const keyFile = join(dataDir, "export-public-key.pem");
    await writeFile(exportFile, Buffer.concat(chunks));
    await writeFile(keyFile, checkpoint.publicKeyPem);
    const cli = join(import.meta.dirname, "..", "..", "services", "audit-service", "src", "verify-cli.ts");
    const output = execFileSync(process.execPath, [cli, exportFile, "--public-key", keyFile], { encoding: "utf8" });
    assert.match(output, /^ok: /);
    await rm(exportFile);
  });

  test("an outbox that cannot be written makes calls fail closed, and they work again once it can", async (t) => {
    const probe = spawnSync("chattr", ["--help"]);
    if (probe.error !== undefined) {
      t.skip("chattr is not available");
      return;
    }
    const crypto = createClient(CryptoService, admin);
    const keyId = (await createClient(KeyService, admin).createKey({})).keyMetadata!.keyId;
    const files = (await readdir(dataDir)).filter((f) => /^key-service-audit-outbox\.sqlite(-wal)?$/.test(f)).map((f) => join(dataDir, f));
    const immutable = spawnSync("chattr", ["+i", ...files]);
    if (immutable.status !== 0) {
      t.skip(`chattr +i failed here: ${immutable.stderr.toString().trim()}`);
      return;
    }
    try {
      const { outcome, result } = await outcomeOf(() => crypto.encrypt({ keyId, plaintext: new Uint8Array([1, 2, 3]) }));
      assert.deepEqual(outcome, { code: Code.Unavailable, reason: "AUDIT_UNAVAILABLE" });
      assert.equal(result, undefined, "no ciphertext released");
    } finally {
      execFileSync("chattr", ["-i", ...files]);
    }
    const deadline = Date.now() + 15_000;
    for (;;) {
      const { outcome } = await outcomeOf(() => crypto.encrypt({ keyId, plaintext: new Uint8Array([1, 2, 3]) }));
      if (outcome.code === 0) break;
      assert.ok(Date.now() < deadline, `Encrypt still fails after the outbox is writable again: ${JSON.stringify(outcome)}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  });

  test("no marker reaches the audit store, the outboxes or the logs (raw, base64, hex)", async () => {
    await dev.stop();
    stopped = true;
    const forms = (value: string) => [value, Buffer.from(value).toString("base64"), Buffer.from(value).toString("base64url"), Buffer.from(value).toString("hex")];
    const all = [...Object.values(MARKERS), ...secrets];
    // The key policy is stored, by design, in policy-service's database: everything else holds none.
    const notInStores = all.filter((m) => m !== MARKERS.keyPolicy);
    const files = (await readdir(dataDir, { recursive: true })).map((f) => join(dataDir, f));
    let scanned = 0;
    for (const file of files) {
      let content: Buffer;
      try {
        content = await readFile(file);
      } catch {
        continue; // a directory
      }
      scanned++;
      const isAudit = /audit/.test(file);
      for (const value of isAudit ? all : notInStores) {
        for (const form of forms(value)) assert.equal(content.includes(form), false, `${file} holds a marker`);
      }
    }
    assert.ok(files.some((f) => f.endsWith("audit-service.sqlite")) && files.some((f) => f.endsWith("key-service-audit-outbox.sqlite")));
    assert.ok(scanned > 0 && logs.length > 0);
    const logText = logs.join("\n");
    for (const value of all) for (const form of forms(value)) assert.equal(logText.includes(form), false, "the logs hold a marker");
  });
});

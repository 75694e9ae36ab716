// Bad input for the fields of every SecretsService request, over real gRPC (HTTP/2 to `keyhold
// dev`): each refused call carries INVALID_ARGUMENT, ErrorInfo metadata.field naming the field,
// and a message starting with it; afterwards the secret is unchanged.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ErrorInfoSchema, SecretsService } from "@keyhold/proto";
import { withCredential } from "../support/auth.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const VERSION = "0123456789abcdef0123456789abcdef";

type Secrets = Client<typeof SecretsService>;
interface Row {
  readonly label: string;
  readonly call: (s: Secrets) => Promise<unknown>;
  readonly field: string;
}

const rows: Row[] = [
  { label: "CreateSecret name empty", call: (s) => s.createSecret({ name: "" }), field: "name" },
  { label: "CreateSecret name with a space", call: (s) => s.createSecret({ name: "a b" }), field: "name" },
  { label: "CreateSecret name 513 characters", call: (s) => s.createSecret({ name: "a".repeat(513) }), field: "name" },
  { label: "CreateSecret description too long", call: (s) => s.createSecret({ name: "n1", description: "d".repeat(2049) }), field: "description" },
  { label: "CreateSecret both values", call: (s) => s.createSecret({ name: "n1", secretString: "x", secretBinary: new Uint8Array([1]) }), field: "secret_binary" },
  { label: "CreateSecret value over 64 KiB", call: (s) => s.createSecret({ name: "n1", secretBinary: new Uint8Array(65_537) }), field: "secret_binary" },
  { label: "CreateSecret short version id", call: (s) => s.createSecret({ name: "n1", secretString: "x", versionId: "abc" }), field: "version_id" },
  { label: "CreateSecret kms_key_id with a space", call: (s) => s.createSecret({ name: "n1", kmsKeyId: "a b" }), field: "kms_key_id" },
  { label: "CreateSecret reserved tag key", call: (s) => s.createSecret({ name: "n1", tags: [{ key: "keyhold:x", value: "" }] }), field: "tags[0].key" },
  { label: "CreateSecret API key principal on a generic secret", call: (s) => s.createSecret({ name: "n1", apiKeyPrincipalKrn: "krn:keyhold:iam::000000000001:user/a" }), field: "api_key_principal_krn" },
  { label: "PutSecretValue no value", call: (s) => s.putSecretValue({ secretId: "fixture" }), field: "secret_string" },
  { label: "PutSecretValue bad label", call: (s) => s.putSecretValue({ secretId: "fixture", secretString: "x", versionStages: ["a b"] }), field: "version_stages[0]" },
  { label: "PutSecretValue bad version id", call: (s) => s.putSecretValue({ secretId: "fixture", secretString: "x", versionId: "has space" }), field: "version_id" },
  { label: "GetSecretValue no secret_id", call: (s) => s.getSecretValue({}), field: "secret_id" },
  { label: "GetSecretValue malformed krn", call: (s) => s.getSecretValue({ secretId: "krn:keyhold:secrets:local:1:secret/x" }), field: "secret_id" },
  { label: "GetSecretValue bad version id", call: (s) => s.getSecretValue({ secretId: "fixture", versionId: "x" }), field: "version_id" },
  { label: "GetSecretValue bad stage", call: (s) => s.getSecretValue({ secretId: "fixture", versionStage: "a b" }), field: "version_stage" },
  { label: "BatchGetSecretValue none", call: (s) => s.batchGetSecretValue({}), field: "secret_ids" },
  { label: "BatchGetSecretValue 21", call: (s) => s.batchGetSecretValue({ secretIds: Array.from({ length: 21 }, () => "fixture") }), field: "secret_ids" },
  { label: "DescribeSecret too long", call: (s) => s.describeSecret({ secretId: "a".repeat(2049) }), field: "secret_id" },
  { label: "ListSecrets page size", call: (s) => s.listSecrets({ pageSize: 1001 }), field: "page_size" },
  { label: "ListSecrets page token", call: (s) => s.listSecrets({ pageToken: "nope" }), field: "page_token" },
  { label: "ListSecrets tag value without key", call: (s) => s.listSecrets({ tagValue: "x" }), field: "tag_value" },
  { label: "ListSecretVersionIds page size", call: (s) => s.listSecretVersionIds({ secretId: "fixture", pageSize: -1 }), field: "page_size" },
  { label: "UpdateSecretVersionStage no stage", call: (s) => s.updateSecretVersionStage({ secretId: "fixture", moveToVersionId: VERSION }), field: "version_stage" },
  { label: "UpdateSecretVersionStage bad move_to", call: (s) => s.updateSecretVersionStage({ secretId: "fixture", versionStage: "x", moveToVersionId: "bad" }), field: "move_to_version_id" },
  { label: "UpdateSecretVersionStage bad remove_from", call: (s) => s.updateSecretVersionStage({ secretId: "fixture", versionStage: "x", removeFromVersionId: "bad" }), field: "remove_from_version_id" },
  { label: "UpdateSecretVersionStage remove CURRENT", call: (s) => s.updateSecretVersionStage({ secretId: "fixture", versionStage: "AWSCURRENT", removeFromVersionId: VERSION }), field: "move_to_version_id" },
  { label: "UpdateSecret description too long", call: (s) => s.updateSecret({ secretId: "fixture", description: "d".repeat(2049) }), field: "description" },
  { label: "RotateSecret bad version id", call: (s) => s.rotateSecret({ secretId: "fixture", versionId: "bad" }), field: "version_id" },
  { label: "UpdateSecretRotationPolicy interval too short", call: (s) => s.updateSecretRotationPolicy({ secretId: "fixture", rotationEnabled: true, rotationIntervalSeconds: 60n }), field: "rotation_interval_seconds" },
  { label: "UpdateSecretRotationPolicy bad handler URL", call: (s) => s.updateSecretRotationPolicy({ secretId: "fixture", rotationHandlerUrl: "ftp://x" }), field: "rotation_handler_url" },
  { label: "UpdateSecretRotationPolicy enabled without handler", call: (s) => s.updateSecretRotationPolicy({ secretId: "fixture", rotationEnabled: true, rotationIntervalSeconds: 86_400n }), field: "rotation_handler_url" },
  { label: "DeleteSecret window 6", call: (s) => s.deleteSecret({ secretId: "fixture", recoveryWindowInDays: 6 }), field: "recovery_window_in_days" },
  { label: "DeleteSecret window and force", call: (s) => s.deleteSecret({ secretId: "fixture", recoveryWindowInDays: 7, forceDeleteWithoutRecovery: true }), field: "recovery_window_in_days" },
  { label: "RestoreSecret empty", call: (s) => s.restoreSecret({}), field: "secret_id" },
  { label: "GetRandomPassword length", call: (s) => s.getRandomPassword({ passwordLength: 4097 }), field: "password_length" },
  { label: "GetRandomPassword nothing left", call: (s) => s.getRandomPassword({ excludeLowercase: true, excludeUppercase: true, excludeNumbers: true, excludePunctuation: true }), field: "exclude_characters" },
  { label: "TagResource no tags", call: (s) => s.tagResource({ secretId: "fixture" }), field: "tags" },
  { label: "TagResource long value", call: (s) => s.tagResource({ secretId: "fixture", tags: [{ key: "k", value: "v".repeat(257) }] }), field: "tags[0].value" },
  { label: "UntagResource no keys", call: (s) => s.untagResource({ secretId: "fixture" }), field: "tag_keys" },
  { label: "UntagResource empty key", call: (s) => s.untagResource({ secretId: "fixture", tagKeys: [""] }), field: "tag_keys[0]" },
];

describe("SecretsService bad input over gRPC", () => {
  let server: TestServer;
  let secrets: Secrets;
  before(async () => {
    server = await startTestServer();
    secrets = createClient(SecretsService, createGrpcTransport({ baseUrl: server.grpcBaseUrl, interceptors: [withCredential(server.credential)] }));
    await secrets.createSecret({ name: "fixture", secretString: "fixture value", versionId: VERSION });
  });
  after(async () => {
    await server.stop();
  });

  test("every RPC of the service has rows", () => {
    const covered = new Set(rows.map((row) => row.label.split(" ")[0]));
    assert.deepEqual(SecretsService.methods.map((m) => m.name).filter((name) => !covered.has(name)), []);
  });

  for (const row of rows) {
    test(row.label, async () => {
      const error = await row.call(secrets).then(
        () => assert.fail("accepted"),
        (e: unknown) => ConnectError.from(e),
      );
      const info = error.findDetails(ErrorInfoSchema)[0];
      assert.deepEqual({ code: error.code, reason: info?.reason, field: info?.metadata["field"] }, { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: row.field });
      assert.ok(error.rawMessage.startsWith(`${row.field}: `), error.rawMessage);
    });
  }

  test("the fixture is unchanged", async () => {
    const value = await secrets.getSecretValue({ secretId: "fixture" });
    assert.equal(value.secretString, "fixture value");
    assert.equal(value.versionId, VERSION);
    assert.equal((await secrets.describeSecret({ secretId: "fixture" })).metadata!.deletionDate, undefined);
  });
});

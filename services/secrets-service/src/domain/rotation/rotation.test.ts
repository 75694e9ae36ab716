// Rotation through a RotationHandler (AWS rotation function semantics, served as a real Connect
// service in process), failing at each of the four steps; the scheduler (due rotations, one per
// secret at a time, a crashed rotation's lease); managed rotation of Keyhold API key secrets.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { RotationHandler, RotationStep, SecretType } from "@keyhold/proto";
import { refusal, startTestSecretsService, type Clients, type TestSecretsService } from "../../test-support.ts";

const HOUR = 3_600_000;
const HANDLER_URL = "http://rotation-handler.test:8443";

/** The owner's side: an AWS-style rotation function over a toy downstream system. */
class OwnerHandler {
  failAt: RotationStep | undefined;
  calls: string[] = [];
  /** The downstream system: the password it accepts. */
  accepted = new Set<string>();
  private clients: Clients | undefined;
  use(clients: Clients): void {
    this.clients = clients;
  }
  async step(secretId: string, versionId: string, step: RotationStep): Promise<void> {
    this.calls.push(`${RotationStep[step]}:${versionId.slice(0, 8)}`);
    if (this.failAt === step) throw new ConnectError(`step ${RotationStep[step]} broke`, Code.Unavailable);
    const secrets = this.clients!.secrets;
    switch (step) {
      case RotationStep.CREATE: {
        const existing = await secrets.getSecretValue({ secretId, versionId, versionStage: "AWSPENDING" }).catch(() => undefined);
        if (existing !== undefined) return;
        const password = (await secrets.getRandomPassword({ passwordLength: 24 })).randomPassword;
        await secrets.putSecretValue({ secretId, versionId, secretString: password, versionStages: ["AWSPENDING"] });
        return;
      }
      case RotationStep.SET:
        this.accepted.add((await secrets.getSecretValue({ secretId, versionId, versionStage: "AWSPENDING" })).secretString);
        return;
      case RotationStep.TEST: {
        const pending = (await secrets.getSecretValue({ secretId, versionId, versionStage: "AWSPENDING" })).secretString;
        if (!this.accepted.has(pending)) throw new ConnectError("pending password does not log in", Code.FailedPrecondition);
        return;
      }
      case RotationStep.FINISH: {
        const metadata = (await secrets.describeSecret({ secretId })).metadata!;
        const current = metadata.versions.find((v) => v.versionStages.includes("CURRENT"))!.versionId;
        if (current === versionId) return;
        await secrets.updateSecretVersionStage({ secretId, versionStage: "AWSCURRENT", moveToVersionId: versionId, removeFromVersionId: current });
        return;
      }
      default:
        throw new ConnectError("unknown step", Code.InvalidArgument);
    }
  }
}

describe("rotation", () => {
  let t: TestSecretsService;
  const handler = new OwnerHandler();
  const urls: string[] = [];
  before(async () => {
    const transport = createRouterTransport(({ service }) => {
      service(RotationHandler, {
        rotateSecretStep: async (request) => {
          await handler.step(request.secretId, request.versionId, request.step);
          return {};
        },
      });
    });
    t = await startTestSecretsService({
      handlerTransports: (url) => {
        urls.push(url);
        return transport;
      },
    });
    handler.use(t.admin);
  });
  after(async () => {
    await t.close();
  });

  async function value(name: string, stage = "CURRENT") {
    return t.admin.secrets.getSecretValue({ secretId: name, versionStage: stage });
  }

  test("RotateSecret runs create, set, test and finish; CURRENT moves, PREVIOUS follows, PENDING goes", async () => {
    await t.admin.secrets.createSecret({ name: "rotated", secretString: "initial" });
    handler.accepted.add("initial");
    assert.equal((await refusal(t.admin.secrets.rotateSecret({ secretId: "rotated" }))).reason, "ROTATION_FAILED", "no handler yet");
    await t.admin.secrets.updateSecretRotationPolicy({ secretId: "rotated", rotationHandlerUrl: HANDLER_URL });
    handler.calls = [];
    const rotated = await t.admin.secrets.rotateSecret({ secretId: "rotated" });
    assert.deepEqual(handler.calls.map((c) => c.split(":")[0]), ["CREATE", "SET", "TEST", "FINISH"]);
    assert.equal((await value("rotated")).versionId, rotated.versionId);
    assert.equal((await value("rotated", "PREVIOUS")).secretString, "initial");
    assert.equal((await refusal(value("rotated", "PENDING"))).reason, "SECRET_VERSION_NOT_FOUND");
    assert.deepEqual(urls.at(-1), HANDLER_URL);
    const metadata = (await t.admin.secrets.describeSecret({ secretId: "rotated" })).metadata!;
    assert.ok(metadata.lastRotatedDate !== undefined);
    assert.equal(metadata.lastRotationError, "");
  });

  for (const failing of [RotationStep.CREATE, RotationStep.SET, RotationStep.TEST, RotationStep.FINISH]) {
    test(`a handler failing at ${RotationStep[failing]} leaves CURRENT untouched; the retry resumes the same version`, async () => {
      const name = `fails-at-${RotationStep[failing]}`;
      await t.admin.secrets.createSecret({ name, secretString: `${name} v1` });
      handler.accepted.add(`${name} v1`);
      await t.admin.secrets.updateSecretRotationPolicy({ secretId: name, rotationHandlerUrl: HANDLER_URL });
      handler.failAt = failing;
      const refused = await refusal(t.admin.secrets.rotateSecret({ secretId: name }));
      assert.deepEqual(refused, { code: Code.FailedPrecondition, reason: "ROTATION_FAILED", field: "secret_id" });
      assert.equal((await value(name)).secretString, `${name} v1`, "CURRENT untouched");
      const metadata = (await t.admin.secrets.describeSecret({ secretId: name })).metadata!;
      assert.match(metadata.lastRotationError, new RegExp(`^${RotationStep[failing].toLowerCase()} step failed`));
      let pendingId: string | undefined;
      if (failing !== RotationStep.CREATE) {
        const pending = await value(name, "PENDING");
        pendingId = pending.versionId;
        assert.notEqual(pending.secretString, `${name} v1`, "the new value waits under PENDING");
      }
      handler.failAt = undefined;
      const retried = await t.admin.secrets.rotateSecret({ secretId: name });
      if (pendingId !== undefined) assert.equal(retried.versionId, pendingId, "resumed with the same version id");
      assert.equal((await value(name)).versionId, retried.versionId);
      assert.equal((await value(name, "PREVIOUS")).secretString, `${name} v1`);
      assert.equal((await t.admin.secrets.describeSecret({ secretId: name })).metadata!.lastRotationError, "");
    });
  }

  test("the scheduler rotates when due, never two rotations of one secret at once, and a crashed rotation's lease expires", async () => {
    await t.admin.secrets.createSecret({ name: "scheduled", secretString: "s1" });
    handler.accepted.add("s1");
    const policy = await t.admin.secrets.updateSecretRotationPolicy({
      secretId: "scheduled",
      rotationEnabled: true,
      rotationIntervalSeconds: BigInt(6 * 3600),
      rotationHandlerUrl: HANDLER_URL,
    });
    assert.ok(policy.metadata!.nextRotationDate !== undefined);
    const before = (await value("scheduled")).versionId;
    await t.app.scheduler.tick();
    assert.equal((await value("scheduled")).versionId, before, "not due yet");
    t.clock.advance(6 * HOUR);
    await t.app.scheduler.tick();
    const first = (await value("scheduled")).versionId;
    assert.notEqual(first, before, "rotated when due");

    // Two at once: the second is refused while the first runs.
    t.clock.advance(6 * HOUR);
    const [a, b] = await Promise.allSettled([t.admin.secrets.rotateSecret({ secretId: "scheduled" }), t.admin.secrets.rotateSecret({ secretId: "scheduled" })]);
    const outcomes = [a.status, b.status].sort();
    assert.deepEqual(outcomes, ["fulfilled", "rejected"]);
    const rejected = (a.status === "rejected" ? a : b) as PromiseRejectedResult;
    assert.equal((await refusal(Promise.reject(rejected.reason as Error))).reason, "ROTATION_IN_PROGRESS");

    // A process that died mid-rotation holds the lease until it expires; then the rotation runs.
    const secret = (await t.app.context.store.getSecret("000000000001", "scheduled"))!;
    t.clock.advance(7 * HOUR);
    assert.ok(await t.app.context.store.acquireRotation(secret.secretId, "crashed-rotation-version-id-0000000", t.clock.now(), new Date(t.clock.now().getTime() + 15 * 60_000)));
    const held = (await value("scheduled")).versionId;
    await t.app.scheduler.tick();
    assert.equal((await value("scheduled")).versionId, held, "held by the crashed rotation");
    t.clock.advance(15 * 60_000);
    await t.app.scheduler.tick();
    assert.notEqual((await value("scheduled")).versionId, held, "rotated after the lease expired");
  });

  test("Keyhold API key secrets: rotation makes a new key and disables the old one after the grace period", async () => {
    const app = await t.user("app-principal", [{ Effect: "Allow", Action: "secrets:DescribeSecret", Resource: "*" }]);
    const created = await t.admin.secrets.createSecret({
      name: "api-key/app",
      secretType: SecretType.KEYHOLD_API_KEY,
      apiKeyPrincipalKrn: app.krn,
      apiKeyGracePeriodSeconds: BigInt(3600),
    });
    assert.notEqual(created.versionId, "");
    const first = JSON.parse((await value("api-key/app")).secretString) as { principalKrn: string; apiKeyId: string; apiKey: string };
    assert.equal(first.principalKrn, app.krn);
    // The key authenticates as the principal (ACCESS_DENIED on a call it may not make, not UNAUTHENTICATED).
    const probe = (apiKey: string) => refusal(t.as(apiKey).secrets.listSecrets({}));
    assert.equal((await probe(first.apiKey)).reason, "ACCESS_DENIED");
    await t.admin.secrets.rotateSecret({ secretId: "api-key/app" });
    const second = JSON.parse((await value("api-key/app")).secretString) as { apiKeyId: string; apiKey: string };
    assert.notEqual(second.apiKeyId, first.apiKeyId);
    assert.equal((await probe(second.apiKey)).reason, "ACCESS_DENIED", "the new key works");
    assert.equal((await probe(first.apiKey)).reason, "ACCESS_DENIED", "the old key still works during the grace period");
    t.clock.advance(3600_000 - 1);
    await t.app.scheduler.tick();
    assert.equal((await probe(first.apiKey)).reason, "ACCESS_DENIED");
    t.clock.advance(1);
    const result = await t.app.scheduler.tick();
    assert.equal(result.keysDisabled, 1);
    assert.equal((await probe(first.apiKey)).code, Code.Unauthenticated, "the old key is disabled");
    assert.equal((await probe(second.apiKey)).reason, "ACCESS_DENIED");
  });
});

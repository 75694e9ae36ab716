// secrets-service end to end in `keyhold dev` over gRPC: a generic secret rotated by the owner's
// RotationHandler served on its own HTTP/2 port (gRPC, as an AWS rotation function: it calls
// Keyhold back with its own API key and least-privilege policy), and an application reading the
// secret through @keyhold/secrets-client's cache across the rotation.
import assert from "node:assert/strict";
import { createServer, type Http2Server } from "node:http2";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { IamService, RotationHandler, RotationStep, SecretsService } from "@keyhold/proto";
import { SecretsCache } from "@keyhold/secrets-client";
import { withCredential } from "../support/auth.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

describe("secrets end to end (keyhold dev over gRPC)", () => {
  let server: TestServer;
  let admin: Client<typeof SecretsService>;
  let handlerServer: Http2Server;
  let handlerUrl: string;
  const steps: string[] = [];
  /** The downstream system the owner's handler keeps in step with the secret. */
  const downstream = { password: "initial" };

  before(async () => {
    server = await startTestServer();
    const transport = (credential: string) => createGrpcTransport({ baseUrl: server.grpcBaseUrl, interceptors: [withCredential(credential)] });
    admin = createClient(SecretsService, transport(server.credential));
    const iam = createClient(IamService, transport(server.credential));
    // The handler's own identity: only what a rotation function needs.
    const rotator = (await iam.createUser({ userName: "rotator" })).principal!.krn;
    const policy = await iam.putPolicy({
      policyName: "rotator",
      document: JSON.stringify({
        Version: "2012-10-17",
        Statement: [
          {
            Effect: "Allow",
            Action: ["secrets:GetSecretValue", "secrets:PutSecretValue", "secrets:DescribeSecret", "secrets:UpdateSecretVersionStage", "secrets:GetRandomPassword"],
            Resource: "*",
          },
        ],
      }),
    });
    await iam.attachPolicy({ principalKrn: rotator, policyKrn: policy.policy!.krn });
    const rotatorKey = (await iam.createApiKey({ principalKrn: rotator })).secret;
    const secrets = createClient(SecretsService, transport(rotatorKey));

    handlerServer = createServer(
      connectNodeAdapter({
        routes: (router) =>
          router.service(RotationHandler, {
            async rotateSecretStep(request) {
              const { secretId, versionId, step } = request;
              steps.push(RotationStep[step]);
              switch (step) {
                case RotationStep.CREATE: {
                  const exists = await secrets.getSecretValue({ secretId, versionId, versionStage: "AWSPENDING" }).catch(() => undefined);
                  if (exists === undefined) {
                    const password = (await secrets.getRandomPassword({ passwordLength: 20, excludePunctuation: true })).randomPassword;
                    await secrets.putSecretValue({ secretId, versionId, secretString: password, versionStages: ["AWSPENDING"] });
                  }
                  return {};
                }
                case RotationStep.SET:
                  downstream.password = (await secrets.getSecretValue({ secretId, versionId, versionStage: "AWSPENDING" })).secretString;
                  return {};
                case RotationStep.TEST: {
                  const pending = (await secrets.getSecretValue({ secretId, versionId, versionStage: "AWSPENDING" })).secretString;
                  if (pending !== downstream.password) throw new ConnectError("pending value not installed", Code.FailedPrecondition);
                  return {};
                }
                case RotationStep.FINISH: {
                  const metadata = (await secrets.describeSecret({ secretId })).metadata!;
                  const current = metadata.versions.find((v) => v.versionStages.includes("CURRENT"))!.versionId;
                  if (current !== versionId) {
                    await secrets.updateSecretVersionStage({ secretId, versionStage: "AWSCURRENT", moveToVersionId: versionId, removeFromVersionId: current });
                  }
                  return {};
                }
                default:
                  throw new ConnectError("unknown step", Code.InvalidArgument);
              }
            },
          }),
      }),
    );
    await new Promise<void>((resolve) => handlerServer.listen(0, "127.0.0.1", resolve));
    const address = handlerServer.address();
    if (address === null || typeof address === "string") throw new Error("no handler port");
    handlerUrl = `http://127.0.0.1:${address.port}`;
  });
  after(async () => {
    await server?.stop();
    await new Promise<void>((resolve) => (handlerServer === undefined ? resolve() : handlerServer.close(() => resolve())));
  });

  test("the owner's RotationHandler rotates a generic secret; the application's cache follows with refreshNow", async () => {
    await admin.createSecret({ name: "app/downstream", secretString: "initial" });
    await admin.updateSecretRotationPolicy({ secretId: "app/downstream", rotationHandlerUrl: handlerUrl });

    const cache = new SecretsCache({ client: admin, ttlMs: 3_600_000 });
    assert.equal(await cache.getSecretString("app/downstream"), "initial");

    const rotated = await admin.rotateSecret({ secretId: "app/downstream" });
    assert.deepEqual(steps, ["CREATE", "SET", "TEST", "FINISH"]);
    assert.notEqual(downstream.password, "initial");

    assert.equal(await cache.getSecretString("app/downstream"), "initial", "cached until its TTL");
    const fresh = await cache.refreshNow("app/downstream");
    assert.equal(fresh.secretString, downstream.password);
    assert.equal(fresh.versionId, rotated.versionId);
    assert.equal(await cache.getSecretString("app/downstream", { versionStage: "AWSPREVIOUS" }), "initial", "fetching by label");
  });
});

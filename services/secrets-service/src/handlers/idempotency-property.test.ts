// The labelling and idempotency rules as a property test through the real service: random
// sequences of PutSecretValue (version ids and values from small pools, so they repeat; random
// labels in every spelling) and UpdateSecretVersionStage. Against a model: a repeated version id
// with the same value succeeds and changes no value, with another value is ALREADY_EXISTS; and
// after every operation each label is on at most one version and CURRENT on exactly one.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@keyhold/proto";
import { startTestSecretsService, type TestSecretsService } from "../test-support.ts";

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const VERSION_POOL = Array.from({ length: 6 }, (_, i) => `${String(i).repeat(8)}-0000-4000-8000-000000000000`);
const VALUE_POOL = ["alpha", "beta", "gamma"];
const LABEL_POOL = ["CURRENT", "AWSCURRENT", "ACSPrevious", "PENDING", "AWSPENDING", "blue", "green"];

async function outcome(call: Promise<unknown>): Promise<{ ok: true } | { ok: false; code: Code; reason: string }> {
  try {
    await call;
    return { ok: true };
  } catch (error) {
    const e = ConnectError.from(error);
    return { ok: false, code: e.code, reason: e.findDetails(ErrorInfoSchema)[0]?.reason ?? "" };
  }
}

describe("idempotency and labels, property-based through the service", () => {
  let t: TestSecretsService;
  before(async () => {
    t = await startTestSecretsService();
  });
  after(async () => {
    await t.close();
  });

  test("any sequence keeps the rules", async () => {
    const { secrets } = t.admin;
    for (let seed = 1; seed <= 12; seed++) {
      const random = prng(seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      const name = `property/${seed}`;
      await secrets.createSecret({ name });
      /** The model: version id → the value it was first stored with. */
      const stored = new Map<string, string>();
      for (let step = 0; step < 40; step++) {
        const context = `seed ${seed} step ${step}`;
        if (random() < 0.7 || stored.size === 0) {
          const versionId = pick(VERSION_POOL);
          const value = pick(VALUE_POOL);
          const stages = Array.from({ length: Math.floor(random() * 3) }, () => pick(LABEL_POOL));
          const result = await outcome(secrets.putSecretValue({ secretId: name, versionId, secretString: value, versionStages: stages }));
          const first = stored.get(versionId);
          if (first === undefined) {
            if (result.ok) stored.set(versionId, value);
            else assert.equal(result.reason, "LIMIT_EXCEEDED", `${context}: a new version is refused only over the label limit`);
          } else if (first === value) {
            assert.ok(result.ok || result.reason === "LIMIT_EXCEEDED", `${context}: same id, same value succeeds (${JSON.stringify(result)})`);
          } else {
            assert.deepEqual(result, { ok: false, code: Code.AlreadyExists, reason: "ALREADY_EXISTS" }, `${context}: same id, other value`);
          }
        } else {
          const label = pick(LABEL_POOL);
          const versions = [...stored.keys()];
          const metadata = (await secrets.describeSecret({ secretId: name })).metadata!;
          const canonical = label === "AWSCURRENT" ? "CURRENT" : label === "ACSPrevious" ? "PREVIOUS" : label === "AWSPENDING" ? "PENDING" : label;
          const holder = metadata.versions.find((v) => v.versionStages.includes(canonical))?.versionId ?? "";
          const result = await outcome(
            secrets.updateSecretVersionStage({
              secretId: name,
              versionStage: label,
              moveToVersionId: random() < 0.8 ? pick(versions) : "",
              removeFromVersionId: random() < 0.85 ? holder : pick(versions),
            }),
          );
          if (!result.ok) assert.ok(result.code !== Code.Internal && result.code !== Code.Unknown, `${context}: a refusal, not a crash`);
        }
        // Invariants, and every stored value is still the first one stored under its id.
        const metadata = (await secrets.describeSecret({ secretId: name })).metadata!;
        const seen = new Map<string, string>();
        for (const version of metadata.versions) {
          for (const stage of version.versionStages) {
            assert.ok(!seen.has(stage), `${context}: ${stage} on two versions`);
            seen.set(stage, version.versionId);
          }
        }
        if (stored.size > 0) assert.ok(seen.has("CURRENT"), `${context}: CURRENT on no version`);
      }
      for (const [versionId, value] of stored) {
        assert.equal((await secrets.getSecretValue({ secretId: name, versionId })).secretString, value, `seed ${seed}: ${versionId} kept its first value`);
      }
    }
  });
});

import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { createSilentLogger } from "@keyhold/server-kit";
import { createPolicyServiceApp } from "../app.ts";
import { ConfigError, readPolicyServiceConfig } from "../config.ts";
import { openSqliteDatabase, SqlitePolicyStore } from "../store/sqlite-policy-store.ts";
import { bootstrap } from "./bootstrap.ts";
import { isWellFormedToken } from "./credentials.ts";
import { managedPolicyKrn, userKrn } from "./names.ts";
import { randomBytes } from "node:crypto";

const MANAGEMENT = "000000000001";
const ADMIN = userKrn(MANAGEMENT, "admin");
const CONFIGURED = `khk_00112233445566ff_${"Q".repeat(43)}`;

describe("bootstrap", () => {
  let dir: string;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), "keyhold-bootstrap-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("the first start creates the management account, admin with AdministratorAccess and a key shown once; later starts change nothing", async () => {
    const config = readPolicyServiceConfig({}, dir);
    const first = await createPolicyServiceApp(config, createSilentLogger());
    const credential = first.bootstrapCredential;
    assert.ok(credential !== undefined && isWellFormedToken(credential, "api-key"));
    const store = first.context.store;
    assert.equal((await store.getAccount(MANAGEMENT))?.name, "management");
    assert.equal((await store.getPrincipal(ADMIN))?.type, "user");
    assert.deepEqual(
      (await store.listAttachments(ADMIN)).map((a) => a.policyKrn),
      [managedPolicyKrn("AdministratorAccess")],
    );
    const keys = (await store.listApiKeys(ADMIN, undefined, 10)).items;
    assert.equal(keys.length, 1);
    assert.ok(!keys[0]!.secretHash.toString("latin1").includes(credential.slice(21)));
    assert.deepEqual(await first.authority.authenticate(credential), { krn: ADMIN, accountId: MANAGEMENT, kind: "user", name: "admin" });
    const sequence = await store.currentSequence();
    await first.close();

    const second = await createPolicyServiceApp(config, createSilentLogger());
    assert.equal(second.bootstrapCredential, undefined);
    assert.equal(await second.context.store.currentSequence(), sequence);
    assert.equal(await second.context.store.countAccounts(), 1);
    assert.equal((await second.context.store.listApiKeys(ADMIN, undefined, 10)).items.length, 1);
    assert.equal((await second.authority.authenticate(credential)).krn, ADMIN);
    await second.close();
  });

  test("a configured key is installed by its hash and not handed out again", async () => {
    const config = readPolicyServiceConfig({ KEYHOLD_BOOTSTRAP_API_KEY: CONFIGURED, KEYHOLD_MANAGEMENT_ACCOUNT_ID: "999900001111" }, dir);
    const app = await createPolicyServiceApp(config, createSilentLogger());
    assert.equal(app.bootstrapCredential, undefined);
    const key = await app.context.store.getApiKey("00112233445566ff");
    assert.equal(key?.principalKrn, userKrn("999900001111", "admin"));
    assert.equal(key?.secretHash.length, 32);
    assert.equal((await app.authority.authenticate(CONFIGURED)).accountId, "999900001111");
    await app.close();
  });

  test("a malformed configured key is a configuration error, never echoed", async () => {
    for (const bad of ["khk_short", `khk_00112233445566ff_${"Q".repeat(42)}`, `khs_00112233445566ff_${"Q".repeat(43)}`, "hunter2"]) {
      assert.throws(
        () => readPolicyServiceConfig({ KEYHOLD_BOOTSTRAP_API_KEY: bad }, dir),
        (error: unknown) => error instanceof ConfigError && !error.message.includes(bad),
      );
    }
    const store = new SqlitePolicyStore(openSqliteDatabase(":memory:"));
    await assert.rejects(
      bootstrap({ store, clock: { now: () => new Date() }, random: (n) => randomBytes(n) }, { managementAccountId: MANAGEMENT, apiKey: "khk_bad" }),
    );
    assert.equal(await store.countAccounts(), 0);
    await store.close();
  });

  test("bootstrap is skipped when any account exists", async () => {
    const store = new SqlitePolicyStore(openSqliteDatabase(":memory:"));
    await store.createAccount({ accountId: "111122223333", name: "x", createdAt: new Date() });
    const result = await bootstrap({ store, clock: { now: () => new Date() }, random: (n) => randomBytes(n) }, { managementAccountId: MANAGEMENT, apiKey: undefined });
    assert.deepEqual(result, { created: false, credential: undefined, apiKeyId: undefined });
    assert.equal(await store.getAccount(MANAGEMENT), undefined);
    await store.close();
  });
});

describe("readPolicyServiceConfig", () => {
  test("defaults and validation", async () => {
    const config = readPolicyServiceConfig({}, "/data");
    assert.deepEqual(config, {
      region: "local",
      databasePath: "/data/policy-service.sqlite",
      databaseUrl: undefined,
      managementAccountId: MANAGEMENT,
      bootstrapApiKey: undefined,
      credentialCacheSeconds: 300,
    });
    assert.equal(readPolicyServiceConfig({ KEYHOLD_POLICY_DB: "/x.db" }, "/data").databasePath, "/x.db");
    assert.throws(() => readPolicyServiceConfig({ KEYHOLD_MANAGEMENT_ACCOUNT_ID: "12" }, "/data"), ConfigError);
    assert.throws(() => readPolicyServiceConfig({ KEYHOLD_REGION: "Bad Region" }, "/data"), ConfigError);
    assert.throws(() => readPolicyServiceConfig({ KEYHOLD_CREDENTIAL_CACHE_SECONDS: "0" }, "/data"), ConfigError);
    const url = "postgres://policy:s3cret@db.internal:5432/keyhold";
    assert.equal(readPolicyServiceConfig({ KEYHOLD_DATABASE_URL: url }, "/data").databaseUrl, url);
    assert.equal(readPolicyServiceConfig({ KEYHOLD_DATABASE_URL: "" }, "/data").databaseUrl, undefined);
    assert.throws(
      () => readPolicyServiceConfig({ KEYHOLD_DATABASE_URL: "mysql://u:s3cret@h/db" }, "/data"),
      (error: unknown) => error instanceof ConfigError && error.message.includes("KEYHOLD_DATABASE_URL") && !error.message.includes("s3cret"),
    );
  });
});

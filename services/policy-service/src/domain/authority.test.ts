import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { afterEach, beforeEach, describe, test } from "node:test";
import type { AuthorizationQuery } from "@keyhold/authz";
import { createSilentLogger, KeyholdError, type Principal } from "@keyhold/server-kit";
import type { PolicyStore } from "../store/policy-store.ts";
import { openSqliteDatabase, SqlitePolicyStore } from "../store/sqlite-policy-store.ts";
import { LAST_USED_RESOLUTION_MS, LocalPolicyAuthority } from "./authority.ts";
import { formatToken, newSecret, secretDigest } from "./credentials.ts";
import { managedPolicyKrn, roleKrn, rootKrn, userKrn } from "./names.ts";

const A = "111122223333";
const B = "444455556666";
const T0 = new Date("2025-06-01T12:00:00.000Z");
const KEY = `krn:keyhold:kms:test-1:${A}:key/6b8f4c2e-1d3a-4e5f-9a7b-0c1d2e3f4a5b`;
const KEY_IDS = `krn:keyhold:kms:test-1:${A}:key/*`;
const doc = (statements: object | object[]) => JSON.stringify({ Version: "2012-10-17", Statement: statements });

class Clock {
  t = T0.getTime();
  now(): Date {
    return new Date(this.t);
  }
}

function isUnauthenticated(error: unknown): boolean {
  return error instanceof KeyholdError && error.reason === "UNAUTHENTICATED" && error.message === "invalid credential";
}

/** A store wrapper counting every call, to see what the hot path touches. */
function counting(store: PolicyStore): { store: PolicyStore; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls.push(String(property));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

describe("LocalPolicyAuthority", () => {
  let raw: SqlitePolicyStore;
  let store: PolicyStore;
  let calls: string[];
  let clock: Clock;
  let authority: LocalPolicyAuthority;

  beforeEach(async () => {
    raw = new SqlitePolicyStore(openSqliteDatabase(":memory:"));
    ({ store, calls } = counting(raw));
    clock = new Clock();
    authority = new LocalPolicyAuthority(store, clock, createSilentLogger());
    for (const accountId of [A, B]) await store.createAccount({ accountId, name: accountId, createdAt: T0 });
  });
  afterEach(async () => {
    authority.close();
    await raw.close();
  });

  async function user(accountId: string, name: string, managed: ("KeyUser" | "KeyAdministrator" | "AdministratorAccess")[] = []): Promise<Principal> {
    const krn = userKrn(accountId, name);
    await store.createPrincipal({ krn, accountId, type: "user", name, trustPolicy: undefined, createdAt: T0 });
    for (const m of managed) await store.attachPolicy({ principalKrn: krn, policyKrn: managedPolicyKrn(m), attachedAt: T0 }, false);
    return { krn, accountId, kind: "user", name };
  }

  async function apiKey(principalKrn: string, accountId: string, id = "0123456789abcdef"): Promise<string> {
    const secret = newSecret((n) => randomBytes(n));
    await store.createApiKey({
      apiKeyId: id,
      principalKrn,
      accountId,
      description: "",
      status: "active",
      createdAt: T0,
      lastUsedAt: undefined,
      secretHash: secretDigest(secret),
    });
    return formatToken("api-key", id, secret);
  }

  const root = (accountId: string): Principal => ({ krn: rootKrn(accountId), accountId, kind: "root", name: "root" });
  const query = (principal: Principal, action: string, resource = KEY, extra: Partial<AuthorizationQuery> = {}): AuthorizationQuery => ({
    principal,
    action,
    resource,
    secureTransport: true,
    ...extra,
  });
  const allowed = async (q: AuthorizationQuery) => (await authority.decide(q)).allowed;

  describe("authenticate", () => {
    test("a correct API key is its user; a root key is the account root", async () => {
      const alice = await user(A, "alice");
      const token = await apiKey(alice.krn, A);
      assert.deepEqual(await authority.authenticate(token), alice);
      const rootToken = await apiKey(rootKrn(B), B, "00000000000000bb");
      assert.deepEqual(await authority.authenticate(rootToken), root(B));
    });

    test("wrong secret, wrong length, unknown id, disabled, deleted and malformed are all the same 'invalid credential'", async () => {
      const alice = await user(A, "alice");
      const token = await apiKey(alice.krn, A);
      const secret = token.slice(21);
      const flip = (s: string, i: number) => s.slice(0, i) + (s[i] === "A" ? "B" : "A") + s.slice(i + 1);
      const bad = [
        `khk_0123456789abcdef_${flip(secret, 0)}`,
        `khk_0123456789abcdef_${flip(secret, secret.length - 1)}`,
        `khk_0123456789abcdef_${secret.slice(0, -1)}`,
        `khk_0123456789abcdef_${secret}A`,
        `khk_0123456789abcdef_x`,
        `khk_fedcba9876543210_${secret}`,
        `khs_0123456789abcdef_${secret}`,
        `khg_0123456789abcdef0123456789abcdef_${secret}`,
        "",
        "not a token",
        token.toUpperCase(),
      ];
      for (const credential of bad) await assert.rejects(authority.authenticate(credential), isUnauthenticated, credential);
      await store.updateApiKeyStatus("0123456789abcdef", "disabled");
      await assert.rejects(authority.authenticate(token), isUnauthenticated);
      await store.updateApiKeyStatus("0123456789abcdef", "active");
      assert.equal((await authority.authenticate(token)).krn, alice.krn);
      await store.deleteApiKey("0123456789abcdef");
      await assert.rejects(authority.authenticate(token), isUnauthenticated);
    });

    test("deleting the user revokes its keys", async () => {
      const alice = await user(A, "alice");
      const token = await apiKey(alice.krn, A);
      await store.deletePrincipal(alice.krn);
      await assert.rejects(authority.authenticate(token), isUnauthenticated);
    });

    test("an unknown id still costs a digest comparison (against the dummy digest)", async () => {
      // Indirect check: the lookup happens and the refusal is the same; timing is measured in
      // the end-to-end tests.
      calls.length = 0;
      await assert.rejects(authority.authenticate(`khk_ffffffffffffffff_${"A".repeat(43)}`), isUnauthenticated);
      assert.deepEqual(calls, ["getApiKey"]);
    });

    test("last use is recorded at most once a minute per key", async () => {
      const token = await apiKey((await user(A, "alice")).krn, A);
      await authority.authenticate(token);
      assert.deepEqual((await store.getApiKey("0123456789abcdef"))!.lastUsedAt, T0);
      calls.length = 0;
      clock.t += LAST_USED_RESOLUTION_MS - 1;
      await authority.authenticate(token);
      assert.ok(!calls.includes("touchApiKey"));
      clock.t += 1;
      await authority.authenticate(token);
      assert.deepEqual((await store.getApiKey("0123456789abcdef"))!.lastUsedAt, new Date(T0.getTime() + LAST_USED_RESOLUTION_MS));
    });

    test("a role session is the role, with its session name, until it expires", async () => {
      const role = roleKrn(A, "deployer");
      await store.createPrincipal({ krn: role, accountId: A, type: "role", name: "deployer", trustPolicy: "{}", createdAt: T0 });
      const secret = newSecret((n) => randomBytes(n));
      await store.createRoleSession(
        {
          sessionId: "00000000000000aa",
          roleKrn: role,
          accountId: A,
          sessionName: "ci-run",
          sourcePrincipal: userKrn(B, "bob"),
          secretHash: secretDigest(secret),
          createdAt: T0,
          expiresAt: new Date(T0.getTime() + 900_000),
        },
        T0,
      );
      const token = formatToken("session", "00000000000000aa", secret);
      const resolved = await authority.authenticateCredential(token);
      assert.deepEqual(resolved.principal, { krn: role, accountId: A, kind: "role", name: "deployer", sessionName: "ci-run" });
      assert.deepEqual(resolved.expiresAt, new Date(T0.getTime() + 900_000));
      await assert.rejects(authority.authenticate(formatToken("session", "00000000000000aa", secret.slice(1))), isUnauthenticated);
      clock.t += 900_000;
      await assert.rejects(authority.authenticate(token), isUnauthenticated);
    });
  });

  describe("authorize", () => {
    test("a user without policies is denied; KeyUser uses keys, KeyAdministrator manages them", async () => {
      const nobody = await user(A, "nobody");
      const keyUser = await user(A, "keyuser", ["KeyUser"]);
      const keyAdmin = await user(A, "keyadmin", ["KeyAdministrator"]);
      assert.equal(await allowed(query(nobody, "kms:Encrypt")), false);
      assert.equal((await authority.decide(query(nobody, "kms:Encrypt"))).reason, "implicit-deny");
      assert.equal(await allowed(query(keyUser, "kms:Encrypt")), true);
      assert.equal(await allowed(query(keyUser, "kms:Decrypt")), true);
      assert.equal(await allowed(query(keyUser, "kms:CreateKey", KEY_IDS)), false);
      assert.equal(await allowed(query(keyUser, "kms:DisableKey")), false);
      assert.equal(await allowed(query(keyAdmin, "kms:CreateKey", KEY_IDS)), true);
      assert.equal(await allowed(query(keyAdmin, "kms:DisableKey")), true);
      assert.equal(await allowed(query(keyAdmin, "kms:Encrypt")), false);
      assert.equal(await allowed(query(keyAdmin, "kms:CreateGrant")), false);
      const decided = await authority.decide(query(keyUser, "kms:Encrypt"));
      assert.deepEqual(decided.decidedBy, { kind: "identity", policyId: managedPolicyKrn("KeyUser"), policyName: "KeyUser", statementIndex: 0, sid: "KeyUse" });
    });

    test("managed policies apply to the principal's own account only", async () => {
      const bob = await user(B, "bob", ["AdministratorAccess"]);
      assert.equal(await allowed(query(bob, "kms:Encrypt")), false);
      assert.equal((await authority.decide(query(bob, "kms:Encrypt"))).reason, "cross-account-missing-resource-allow");
    });

    test("the account root may do everything in its account unless the key policy denies it explicitly", async () => {
      assert.equal(await allowed(query(root(A), "kms:Encrypt")), true);
      assert.equal(await allowed(query(root(A), "iam:CreateUser", userKrn(A, "x"))), true);
      assert.equal(await allowed(query(root(A), "kms:Encrypt", KEY.replace(A, B))), false);
      await store.putResourcePolicy({
        resourceKrn: KEY,
        accountId: A,
        document: doc([
          { Effect: "Allow", Principal: { KRN: rootKrn(A) }, Action: "kms:*", Resource: "*" },
          { Sid: "NoDecrypt", Effect: "Deny", Principal: "*", Action: "kms:Decrypt", Resource: "*" },
        ]),
        updatedAt: T0,
      });
      assert.equal(await allowed(query(root(A), "kms:Encrypt")), true);
      const denied = await authority.decide(query(root(A), "kms:Decrypt"));
      assert.equal(denied.allowed, false);
      assert.equal(denied.reason, "explicit-deny");
      assert.equal(denied.decidedBy?.sid, "NoDecrypt");
    });

    test("a key without a key policy has the default one: the owner's root, nobody else, not another account's root", async () => {
      const keyUser = await user(B, "user", ["KeyUser"]);
      assert.equal(await allowed(query(root(B), "kms:Encrypt")), false);
      assert.equal(await allowed(query(keyUser, "kms:Encrypt")), false);
      const byRoot = await authority.decide(query(root(A), "kms:Encrypt"));
      assert.equal(byRoot.decidedBy?.kind, "identity");
    });

    test("cross-account: the key policy and the caller's identity policies must both allow", async () => {
      const bob = await user(B, "bob");
      await store.putResourcePolicy({
        resourceKrn: KEY,
        accountId: A,
        document: doc({ Effect: "Allow", Principal: { KRN: B }, Action: ["kms:Encrypt", "kms:Decrypt"], Resource: "*" }),
        updatedAt: T0,
      });
      assert.equal((await authority.decide(query(bob, "kms:Encrypt"))).reason, "cross-account-missing-identity-allow");
      await store.attachPolicy({ principalKrn: bob.krn, policyKrn: managedPolicyKrn("KeyUser"), attachedAt: T0 }, false);
      assert.equal((await authority.decide(query(bob, "kms:Encrypt"))).reason, "cross-account-missing-identity-allow", "KeyUser names B's keys only");
      await store.putPolicy({
        krn: `krn:keyhold:iam::${B}:policy/use-a`,
        accountId: B,
        name: "use-a",
        description: "",
        document: doc({ Effect: "Allow", Action: "kms:Encrypt", Resource: `krn:keyhold:kms:*:${A}:key/*` }),
        createdAt: T0,
        updatedAt: T0,
      });
      await store.attachPolicy({ principalKrn: bob.krn, policyKrn: `krn:keyhold:iam::${B}:policy/use-a`, attachedAt: T0 }, true);
      assert.equal(await allowed(query(bob, "kms:Encrypt")), true);
      assert.equal(await allowed(query(bob, "kms:Decrypt")), false);
      assert.equal(await allowed(query(root(B), "kms:Decrypt")), true, "B's root has every identity permission");
    });

    test("grants give their operations on their key to their grantee, with context constraints", async () => {
      const bob = await user(B, "bob", []);
      await store.putPolicy({
        krn: `krn:keyhold:iam::${B}:policy/all`,
        accountId: B,
        name: "all",
        description: "",
        document: doc({ Effect: "Allow", Action: "kms:*", Resource: "*" }),
        createdAt: T0,
        updatedAt: T0,
      });
      await store.attachPolicy({ principalKrn: bob.krn, policyKrn: `krn:keyhold:iam::${B}:policy/all`, attachedAt: T0 }, true);
      assert.equal(await allowed(query(bob, "kms:Encrypt")), false);
      await store.createGrant({
        grantId: "0".repeat(32),
        keyKrn: KEY,
        accountId: A,
        granteePrincipal: bob.krn,
        retiringPrincipal: undefined,
        operations: ["kms:Encrypt"],
        constraints: { encryptionContextEquals: undefined, encryptionContextSubset: { tenant: "t1" } },
        name: "",
        issuingPrincipal: rootKrn(A),
        tokenHash: secretDigest("x"),
        createdAt: T0,
      });
      assert.equal(await allowed(query(bob, "kms:Encrypt")), false);
      const withContext = await authority.decide(query(bob, "kms:Encrypt", KEY, { encryptionContext: { tenant: "t1", extra: "y" } }));
      assert.equal(withContext.allowed, true);
      assert.equal(withContext.decidedBy?.kind, "grant");
      assert.equal(withContext.dependsOn.encryptionContext, true);
      assert.equal(await allowed(query(bob, "kms:Decrypt", KEY, { encryptionContext: { tenant: "t1" } })), false);
      await store.deleteGrant("0".repeat(32));
      assert.equal(await allowed(query(bob, "kms:Encrypt", KEY, { encryptionContext: { tenant: "t1" } })), false);
    });

    test("sts:AssumeRole needs the trust policy, even in the same account; across accounts the caller's identity too", async () => {
      const role = roleKrn(A, "deployer");
      const alice = await user(A, "alice", ["AdministratorAccess"]);
      const carol = await user(A, "carol");
      const bob = await user(B, "bob");
      await store.createPrincipal({
        krn: role,
        accountId: A,
        type: "role",
        name: "deployer",
        trustPolicy: doc({ Effect: "Allow", Principal: { KRN: [carol.krn, B] }, Action: "sts:AssumeRole" }),
        createdAt: T0,
      });
      assert.equal(await allowed(query(alice, "sts:AssumeRole", role)), false, "an identity allow alone is not enough");
      assert.equal((await authority.decide(query(alice, "sts:AssumeRole", role))).reason, "implicit-deny");
      assert.equal(await allowed(query(carol, "sts:AssumeRole", role)), true, "the trust policy names carol");
      assert.equal(await allowed(query(bob, "sts:AssumeRole", role)), false, "B is trusted, but bob's own policies must allow too");
      await store.attachPolicy({ principalKrn: bob.krn, policyKrn: managedPolicyKrn("AdministratorAccess"), attachedAt: T0 }, false);
      assert.equal(await allowed(query(bob, "sts:AssumeRole", role)), true);
      assert.equal(await allowed(query(root(A), "sts:AssumeRole", role)), false, "the root is not named by the trust policy");
      assert.equal(await allowed(query(bob, "sts:AssumeRole", roleKrn(A, "missing"))), false);
      // A trust policy gives nothing but sts: actions.
      assert.equal(await allowed(query(carol, "iam:DeletePrincipal", role)), false);
    });

    test("an assumed-role session acts with its role's policies", async () => {
      const role = roleKrn(A, "reader");
      await store.createPrincipal({ krn: role, accountId: A, type: "role", name: "reader", trustPolicy: "{}", createdAt: T0 });
      await store.attachPolicy({ principalKrn: role, policyKrn: managedPolicyKrn("KeyUser"), attachedAt: T0 }, false);
      const session: Principal = { krn: role, accountId: A, kind: "role", name: "reader", sessionName: "s1" };
      assert.equal(await allowed(query(session, "kms:Decrypt")), true);
      assert.equal(await allowed(query(session, "kms:DisableKey")), false);
    });

    test("root powers need the root krn: a principal claiming kind root with another krn gets none", async () => {
      const impostor: Principal = { krn: userKrn(A, "mallory"), accountId: A, kind: "root", name: "root" };
      assert.equal(await allowed(query(impostor, "kms:Encrypt")), false);
    });

    test("a Keyhold service acting as itself has no permissions", async () => {
      const service: Principal = { krn: "krn:keyhold:iam::keyhold:service/key-service", accountId: "", kind: "service", name: "key-service" };
      assert.equal(await allowed(query(service, "kms:Encrypt")), false);
    });

    test("the hot path: a repeated decision reads nothing from the store; any change is seen at once", async () => {
      const alice = await user(A, "alice", ["KeyUser"]);
      await authority.decide(query(alice, "kms:Encrypt"));
      calls.length = 0;
      for (let i = 0; i < 5; i++) assert.equal(await allowed(query(alice, "kms:Encrypt")), true);
      assert.deepEqual(calls, []);
      await store.detachPolicy(alice.krn, managedPolicyKrn("KeyUser"));
      assert.equal(await allowed(query(alice, "kms:Encrypt")), false);
      await store.attachPolicy({ principalKrn: alice.krn, policyKrn: managedPolicyKrn("KeyUser"), attachedAt: T0 }, false);
      assert.equal(await allowed(query(alice, "kms:Encrypt")), true);
      await store.putResourcePolicy({
        resourceKrn: KEY,
        accountId: A,
        document: doc({ Effect: "Deny", Principal: { KRN: alice.krn }, Action: "kms:*", Resource: "*" }),
        updatedAt: T0,
      });
      assert.equal(await allowed(query(alice, "kms:Encrypt")), false);
    });

    test("a stored document that no longer parses applies as absent", async () => {
      const alice = await user(A, "alice");
      await store.putPolicy({ krn: `krn:keyhold:iam::${A}:policy/broken`, accountId: A, name: "broken", description: "", document: "{", createdAt: T0, updatedAt: T0 });
      await store.attachPolicy({ principalKrn: alice.krn, policyKrn: `krn:keyhold:iam::${A}:policy/broken`, attachedAt: T0 }, true);
      assert.equal(await allowed(query(alice, "kms:Encrypt")), false);
    });

    test("the context reaches the engine: source address and time conditions", async () => {
      const alice = await user(A, "alice");
      await store.putPolicy({
        krn: `krn:keyhold:iam::${A}:policy/office`,
        accountId: A,
        name: "office",
        description: "",
        document: doc({
          Effect: "Allow",
          Action: "kms:Encrypt",
          Resource: "*",
          Condition: { IpAddress: { "keyhold:SourceIp": "203.0.113.0/24" }, DateLessThan: { "keyhold:CurrentTime": "2025-07-01T00:00:00Z" } },
        }),
        createdAt: T0,
        updatedAt: T0,
      });
      await store.attachPolicy({ principalKrn: alice.krn, policyKrn: `krn:keyhold:iam::${A}:policy/office`, attachedAt: T0 }, true);
      const inOffice = await authority.decide(query(alice, "kms:Encrypt", KEY, { sourceIp: "203.0.113.9" }));
      assert.equal(inOffice.allowed, true);
      assert.deepEqual(inOffice.dependsOn, { encryptionContext: false, sourceIp: true, time: true });
      assert.equal(await allowed(query(alice, "kms:Encrypt", KEY, { sourceIp: "198.51.100.1" })), false);
      clock.t = Date.parse("2025-07-01T00:00:00Z");
      assert.equal(await allowed(query(alice, "kms:Encrypt", KEY, { sourceIp: "203.0.113.9" })), false);
    });
  });

  test("onChange reports every committed change's sequence; changesLive is true", async () => {
    const heard: bigint[] = [];
    const off = authority.onChange((sequence) => heard.push(sequence));
    const before = await store.currentSequence();
    await user(A, "alice");
    await store.createApiKey({
      apiKeyId: "00000000000000cc",
      principalKrn: userKrn(A, "alice"),
      accountId: A,
      description: "",
      status: "active",
      createdAt: T0,
      lastUsedAt: undefined,
      secretHash: secretDigest("s"),
    });
    off();
    await user(A, "bob");
    assert.deepEqual(heard, [before + 1n, before + 2n]);
    assert.equal(authority.changesLive, true);
  });
});

// The PolicyStore conformance suite: what every implementation must do, run against each
// (sqlite-policy-store.test.ts, postgres-policy-store.test.ts) with a factory that opens a fresh,
// empty store per test.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { afterEach, beforeEach, describe, test } from "node:test";
import type { Page, PolicyStore } from "./policy-store.ts";
import type { ApiKeyRecord, CertificateIdentityRecord, ChangeEvent, GrantRecord, PrincipalRecord } from "./records.ts";

/** A fresh, empty store, and how to dispose of it (after the store is closed). */
export interface ConformanceStore {
  readonly store: PolicyStore;
  dispose(): Promise<void>;
}

export const ACCOUNT = "111122223333";
export const OTHER = "444455556666";
export const T0 = new Date("2025-01-02T03:04:05.678Z");
export const T1 = new Date("2025-01-02T04:00:00.000Z");
export const KEY = `krn:keyhold:kms:test-1:${ACCOUNT}:key/6b8f4c2e-1d3a-4e5f-9a7b-0c1d2e3f4a5b`;
export const digest = (text: string): Buffer => createHash("sha256").update(text).digest();

export function user(name: string, accountId = ACCOUNT): PrincipalRecord {
  return { krn: `krn:keyhold:iam::${accountId}:user/${name}`, accountId, type: "user", name, trustPolicy: undefined, createdAt: T0 };
}

export function role(name: string, trust = '{"trust":true}', accountId = ACCOUNT): PrincipalRecord {
  return { krn: `krn:keyhold:iam::${accountId}:role/${name}`, accountId, type: "role", name, trustPolicy: trust, createdAt: T0 };
}

export function apiKey(id: string, principalKrn: string, accountId = ACCOUNT): ApiKeyRecord {
  return {
    apiKeyId: id,
    principalKrn,
    accountId,
    description: `key ${id}`,
    status: "active",
    createdAt: T0,
    lastUsedAt: undefined,
    secretHash: digest(id),
  };
}

export function grant(id: string, overrides: Partial<GrantRecord> = {}): GrantRecord {
  return {
    grantId: id,
    keyKrn: KEY,
    accountId: ACCOUNT,
    granteePrincipal: `krn:keyhold:iam::${OTHER}:role/isv`,
    retiringPrincipal: undefined,
    operations: ["kms:Encrypt", "kms:Decrypt"],
    constraints: undefined,
    name: "",
    issuingPrincipal: `krn:keyhold:iam::${ACCOUNT}:root`,
    tokenHash: digest(`token ${id}`),
    createdAt: T0,
    ...overrides,
  };
}

async function walk<T>(fetch: (after: string | undefined) => Promise<Page<T>>): Promise<T[][]> {
  const pages: T[][] = [];
  let after: string | undefined;
  do {
    const page = await fetch(after);
    pages.push([...page.items]);
    after = page.next;
    assert.ok(pages.length < 1000, "paging does not end");
  } while (after !== undefined);
  return pages;
}

/** Registers the conformance suite for one implementation. */
export function policyStoreConformance(name: string, open: () => Promise<ConformanceStore>): void {
describe(`${name}: PolicyStore conformance`, () => {
  let opened: ConformanceStore;
  let store: PolicyStore;
  let events: ChangeEvent[];

  beforeEach(async () => {
    opened = await open();
    store = opened.store;
    await store.createAccount({ accountId: ACCOUNT, name: "main", createdAt: T0 });
    await store.createAccount({ accountId: OTHER, name: "other", createdAt: T0 });
    events = [];
    store.onChange((event) => events.push(event));
  });
  afterEach(async () => {
    await store.close();
    await opened.dispose();
  });

  describe("accounts", () => {
    test("create, get, count, list in pages; a second create of the same id is 'exists'", async () => {
      assert.equal(await store.countAccounts(), 2);
      assert.deepEqual(await store.getAccount(ACCOUNT), { accountId: ACCOUNT, name: "main", createdAt: T0 });
      assert.equal(await store.getAccount("999999999999"), undefined);
      assert.equal(await store.createAccount({ accountId: ACCOUNT, name: "again", createdAt: T1 }), "exists");
      assert.equal((await store.getAccount(ACCOUNT))!.name, "main");
      for (let i = 0; i < 5; i++) (await store.createAccount({ accountId: `00000000000${i}`, name: `a${i}`, createdAt: T0 }));
      const pages = await walk((after) => store.listAccounts(after, 3));
      assert.deepEqual(
        pages.map((p) => p.length),
        [3, 3, 1],
      );
      const ids = pages.flat().map((a) => a.accountId);
      assert.deepEqual(ids, [...ids].sort());
    });
  });

  describe("principals", () => {
    test("users and roles round-trip; duplicates are 'exists'; list is per account and paged", async () => {
      assert.equal(await store.createPrincipal(user("alice")), "ok");
      assert.equal(await store.createPrincipal(role("deployer")), "ok");
      assert.equal(await store.createPrincipal(user("alice")), "exists");
      assert.equal(await store.createPrincipal(user("carol", OTHER)), "ok");
      assert.deepEqual(await store.getPrincipal(user("alice").krn), user("alice"));
      assert.deepEqual(await store.getPrincipal(role("deployer").krn), role("deployer"));
      const mine = (await walk((after) => store.listPrincipals(ACCOUNT, after, 1))).flat();
      assert.deepEqual(
        mine.map((p) => p.name),
        ["deployer", "alice"],
      );
      assert.deepEqual(
        (await store.listPrincipals(OTHER, undefined, 10)).items.map((p) => p.name),
        ["carol"],
      );
    });

    test("a principal needs an existing account", async () => {
      await assert.rejects(store.createPrincipal(user("ghost", "999999999999")), /foreign key/i);
      assert.equal(await store.getPrincipal(user("ghost", "999999999999").krn), undefined);
    });

    test("updateTrustPolicy changes roles only", async () => {
      await store.createPrincipal(role("deployer"));
      await store.createPrincipal(user("alice"));
      assert.equal((await store.updateTrustPolicy(role("deployer").krn, '{"new":1}'))!.trustPolicy, '{"new":1}');
      assert.equal(await store.updateTrustPolicy(user("alice").krn, '{"new":1}'), undefined);
      assert.equal((await store.getPrincipal(user("alice").krn))!.trustPolicy, undefined);
      assert.equal(await store.updateTrustPolicy(role("nobody").krn, "{}"), undefined);
    });

    test("deleting a principal deletes its API keys, attachments and sessions, and nothing of others", async () => {
      await store.createPrincipal(user("alice"));
      await store.createPrincipal(user("bob"));
      await store.createPrincipal(role("deployer"));
      await store.createApiKey(apiKey("00000000000000a1", user("alice").krn));
      await store.createApiKey(apiKey("00000000000000b1", user("bob").krn));
      await store.attachPolicy({ principalKrn: user("alice").krn, policyKrn: "krn:keyhold:iam::keyhold:policy/KeyUser", attachedAt: T0 }, false);
      await store.attachPolicy({ principalKrn: user("bob").krn, policyKrn: "krn:keyhold:iam::keyhold:policy/KeyUser", attachedAt: T0 }, false);
      await store.createRoleSession(
        {
          sessionId: "00000000000000c1",
          roleKrn: role("deployer").krn,
          accountId: ACCOUNT,
          sessionName: "s",
          sourcePrincipal: user("bob").krn,
          secretHash: digest("s"),
          createdAt: T0,
          expiresAt: T1,
        },
        T0,
      );
      assert.equal(await store.deletePrincipal(user("alice").krn), true);
      assert.equal(await store.deletePrincipal(user("alice").krn), false);
      assert.equal(await store.getPrincipal(user("alice").krn), undefined);
      assert.equal(await store.getApiKey("00000000000000a1"), undefined);
      assert.deepEqual(await store.listAttachments(user("alice").krn), []);
      assert.ok((await store.getApiKey("00000000000000b1")) !== undefined);
      assert.equal((await store.listAttachments(user("bob").krn)).length, 1);
      assert.equal(await store.deletePrincipal(role("deployer").krn), true);
      assert.equal(await store.getRoleSession("00000000000000c1"), undefined);
    });
  });

  describe("certificate identities", () => {
    const identity = (san: string, principal: PrincipalRecord, type: "uri" | "dns" = "uri"): CertificateIdentityRecord => ({
      san,
      type,
      principalKrn: principal.krn,
      accountId: principal.accountId,
      createdAt: T0,
    });

    test("add, get, list by SAN; a SAN maps to one principal system-wide; each change is a credential change", async () => {
      await store.createPrincipal(user("alice"));
      await store.createPrincipal(role("deployer"));
      await store.createPrincipal(user("carol", OTHER));
      events.length = 0;
      assert.equal(await store.addCertificateIdentity(identity("spiffe://example.org/b", user("alice")), 10), "ok");
      assert.equal(await store.addCertificateIdentity(identity("alice.example.org", user("alice"), "dns"), 10), "ok");
      assert.equal(await store.addCertificateIdentity(identity("spiffe://example.org/a", user("alice")), 10), "ok");
      assert.equal(await store.addCertificateIdentity(identity("spiffe://example.org/deploy", role("deployer")), 10), "ok");
      assert.deepEqual(events.map((e) => e.kind), ["credential", "credential", "credential", "credential"]);
      assert.equal(await store.addCertificateIdentity(identity("spiffe://example.org/a", user("alice")), 10), "exists");
      assert.equal(await store.addCertificateIdentity(identity("spiffe://example.org/a", user("carol", OTHER)), 10), "exists");
      assert.equal(events.length, 4, "refusals change nothing");
      assert.deepEqual(await store.getCertificateIdentity("spiffe://example.org/a"), identity("spiffe://example.org/a", user("alice")));
      assert.equal(await store.getCertificateIdentity("spiffe://example.org/none"), undefined);
      assert.deepEqual(
        (await store.listCertificateIdentities(user("alice").krn)).map((i) => i.san),
        ["alice.example.org", "spiffe://example.org/a", "spiffe://example.org/b"],
      );
      assert.deepEqual(await store.listCertificateIdentities(user("carol", OTHER).krn), []);
    });

    test("the principal must exist; a principal has at most the given number", async () => {
      assert.equal(await store.addCertificateIdentity(identity("spiffe://example.org/ghost", user("ghost")), 10), "principal-missing");
      await store.createPrincipal(user("alice"));
      assert.equal(await store.addCertificateIdentity(identity("spiffe://example.org/1", user("alice")), 2), "ok");
      assert.equal(await store.addCertificateIdentity(identity("spiffe://example.org/2", user("alice")), 2), "ok");
      assert.equal(await store.addCertificateIdentity(identity("spiffe://example.org/3", user("alice")), 2), "limit");
      assert.equal(await store.getCertificateIdentity("spiffe://example.org/3"), undefined);
    });

    test("remove only the principal's own mapping", async () => {
      await store.createPrincipal(user("alice"));
      await store.createPrincipal(user("bob"));
      await store.addCertificateIdentity(identity("spiffe://example.org/a", user("alice")), 10);
      const before = await store.currentSequence();
      assert.equal(await store.removeCertificateIdentity(user("bob").krn, "spiffe://example.org/a"), false);
      assert.equal(await store.currentSequence(), before);
      assert.equal(await store.removeCertificateIdentity(user("alice").krn, "spiffe://example.org/a"), true);
      assert.equal(await store.currentSequence(), before + 1n);
      assert.equal(await store.getCertificateIdentity("spiffe://example.org/a"), undefined);
      assert.equal(await store.removeCertificateIdentity(user("alice").krn, "spiffe://example.org/a"), false);
    });

    test("deleting a principal deletes its certificate identities (and frees the SANs)", async () => {
      await store.createPrincipal(user("alice"));
      await store.createPrincipal(user("bob"));
      await store.addCertificateIdentity(identity("spiffe://example.org/a", user("alice")), 10);
      await store.addCertificateIdentity(identity("spiffe://example.org/b", user("bob")), 10);
      assert.equal(await store.deletePrincipal(user("alice").krn), true);
      assert.equal(await store.getCertificateIdentity("spiffe://example.org/a"), undefined);
      assert.ok((await store.getCertificateIdentity("spiffe://example.org/b")) !== undefined);
      await store.createPrincipal(user("alice"));
      assert.deepEqual(await store.listCertificateIdentities(user("alice").krn), [], "a new principal of the same name inherits nothing");
      assert.equal(await store.addCertificateIdentity(identity("spiffe://example.org/a", user("bob")), 10), "ok");
    });
  });

  describe("API keys", () => {
    test("round-trip with the digest only; list per principal in pages; status and deletion", async () => {
      await store.createPrincipal(user("alice"));
      const krn = user("alice").krn;
      for (let i = 1; i <= 3; i++) assert.equal(await store.createApiKey(apiKey(`000000000000000${i}`, krn)), "ok");
      assert.equal(await store.createApiKey(apiKey("0000000000000001", krn)), "exists");
      const stored = (await store.getApiKey("0000000000000001"))!;
      assert.deepEqual(stored, apiKey("0000000000000001", krn));
      assert.equal(stored.secretHash.length, 32);
      assert.deepEqual(
        (await walk((after) => store.listApiKeys(krn, after, 2))).map((p) => p.map((k) => k.apiKeyId)),
        [["0000000000000001", "0000000000000002"], ["0000000000000003"]],
      );
      assert.equal((await store.updateApiKeyStatus("0000000000000002", "disabled"))!.status, "disabled");
      assert.equal(await store.updateApiKeyStatus("ffffffffffffffff", "disabled"), undefined);
      assert.equal(await store.deleteApiKey("0000000000000003"), true);
      assert.equal(await store.deleteApiKey("0000000000000003"), false);
      assert.equal((await store.listApiKeys(krn, undefined, 10)).items.length, 2);
    });

    test("the root principal (not a row) can own keys", async () => {
      const root = `krn:keyhold:iam::${ACCOUNT}:root`;
      assert.equal(await store.createApiKey(apiKey("00000000000000aa", root)), "ok");
      assert.equal((await store.getApiKey("00000000000000aa"))!.principalKrn, root);
    });

    test("a digest must be 32 bytes", async () => {
      await assert.rejects(store.createApiKey({ ...apiKey("00000000000000dd", user("x").krn), secretHash: Buffer.alloc(16) }), /check/i);
    });

    test("touch records the last use without a change event", async () => {
      await store.createApiKey(apiKey("00000000000000aa", user("x").krn));
      const before = await store.currentSequence();
      events.length = 0;
      await store.touchApiKey("00000000000000aa", T1);
      assert.deepEqual((await store.getApiKey("00000000000000aa"))!.lastUsedAt, T1);
      assert.equal(await store.currentSequence(), before);
      assert.equal(events.length, 0);
    });
  });

  describe("policies and attachments", () => {
    const policy = (name: string, document = "{}", at = T0) => ({
      krn: `krn:keyhold:iam::${ACCOUNT}:policy/${name}`,
      accountId: ACCOUNT,
      name,
      description: `about ${name}`,
      document,
      createdAt: at,
      updatedAt: at,
    });

    test("put creates, put again replaces the document and keeps the creation date", async () => {
      assert.deepEqual(await store.putPolicy(policy("ops", "v1")), policy("ops", "v1"));
      const replaced = await store.putPolicy(policy("ops", "v2", T1));
      assert.equal(replaced.document, "v2");
      assert.deepEqual(replaced.createdAt, T0);
      assert.deepEqual(replaced.updatedAt, T1);
      assert.equal((await store.listPolicies(ACCOUNT, undefined, 10)).items.length, 1);
      assert.equal((await store.listPolicies(OTHER, undefined, 10)).items.length, 0);
    });

    test("attach: principal and stored policy must exist; managed ones need no row; order is kept", async () => {
      await store.createPrincipal(user("alice"));
      await store.putPolicy(policy("ops"));
      const alice = user("alice").krn;
      const at = (policyKrn: string) => ({ principalKrn: alice, policyKrn, attachedAt: T0 });
      assert.equal(await store.attachPolicy(at(policy("missing").krn), true), "policy-missing");
      assert.equal(await store.attachPolicy({ ...at(policy("ops").krn), principalKrn: user("ghost").krn }, true), "principal-missing");
      assert.equal(await store.attachPolicy(at("krn:keyhold:iam::keyhold:policy/KeyUser"), false), "ok");
      assert.equal(await store.attachPolicy(at(policy("ops").krn), true), "ok");
      assert.equal(await store.attachPolicy(at(policy("ops").krn), true), "exists");
      assert.deepEqual(
        (await store.listAttachments(alice)).map((a) => a.policyKrn),
        ["krn:keyhold:iam::keyhold:policy/KeyUser", policy("ops").krn],
      );
      assert.equal(await store.detachPolicy(alice, "krn:keyhold:iam::keyhold:policy/KeyUser"), true);
      assert.equal(await store.detachPolicy(alice, "krn:keyhold:iam::keyhold:policy/KeyUser"), false);
    });

    test("deleting a policy detaches it everywhere", async () => {
      await store.createPrincipal(user("alice"));
      await store.createPrincipal(user("bob"));
      await store.putPolicy(policy("ops"));
      for (const p of [user("alice"), user("bob")]) (await store.attachPolicy({ principalKrn: p.krn, policyKrn: policy("ops").krn, attachedAt: T0 }, true));
      assert.equal(await store.deletePolicy(policy("ops").krn), true);
      assert.equal(await store.deletePolicy(policy("ops").krn), false);
      assert.deepEqual(await store.listAttachments(user("alice").krn), []);
      assert.deepEqual(await store.listAttachments(user("bob").krn), []);
    });
  });

  describe("resource policies", () => {
    test("put and replace by resource krn", async () => {
      assert.equal(await store.getResourcePolicy(KEY), undefined);
      await store.putResourcePolicy({ resourceKrn: KEY, accountId: ACCOUNT, document: "v1", updatedAt: T0 });
      await store.putResourcePolicy({ resourceKrn: KEY, accountId: ACCOUNT, document: "v2", updatedAt: T1 });
      assert.deepEqual(await store.getResourcePolicy(KEY), { resourceKrn: KEY, accountId: ACCOUNT, document: "v2", updatedAt: T1 });
    });
  });

  describe("grants", () => {
    test("round-trip with operations and constraints; list filters and pages; grantsForKey; delete", async () => {
      const constrained = grant("00000000000000000000000000000002", {
        constraints: { encryptionContextEquals: undefined, encryptionContextSubset: { tenant: "a" } },
        retiringPrincipal: `krn:keyhold:iam::${ACCOUNT}:user/ops`,
        name: "isv",
        granteePrincipal: `krn:keyhold:iam::${OTHER}:user/bob`,
      });
      assert.equal(await store.createGrant(grant("00000000000000000000000000000001")), "ok");
      assert.equal(await store.createGrant(constrained), "ok");
      assert.equal(await store.createGrant(grant("00000000000000000000000000000003")), "ok");
      assert.equal(await store.createGrant(grant("00000000000000000000000000000001")), "exists");
      assert.deepEqual(await store.getGrant(constrained.grantId), constrained);
      assert.deepEqual(await store.getGrant("00000000000000000000000000000001"), grant("00000000000000000000000000000001"));
      assert.deepEqual(
        (await walk((after) => store.listGrants(KEY, {}, after, 2))).map((p) => p.length),
        [2, 1],
      );
      assert.deepEqual(
        (await store.listGrants(KEY, { granteePrincipal: `krn:keyhold:iam::${OTHER}:user/bob` }, undefined, 10)).items.map((g) => g.grantId),
        [constrained.grantId],
      );
      assert.deepEqual(
        (await store.listGrants(KEY, { grantId: "00000000000000000000000000000003" }, undefined, 10)).items.map((g) => g.grantId),
        ["00000000000000000000000000000003"],
      );
      assert.equal((await store.listGrants(`${KEY}0`, {}, undefined, 10)).items.length, 0);
      assert.equal((await store.grantsForKey(KEY)).length, 3);
      assert.equal(await store.deleteGrant(constrained.grantId), true);
      assert.equal(await store.deleteGrant(constrained.grantId), false);
      assert.equal((await store.grantsForKey(KEY)).length, 2);
    });
  });

  describe("role sessions", () => {
    test("round-trip; creating one purges sessions that expired before the given time", async () => {
      const session = (id: string, expiresAt: Date) => ({
        sessionId: id,
        roleKrn: role("r").krn,
        accountId: ACCOUNT,
        sessionName: `s-${id}`,
        sourcePrincipal: user("alice").krn,
        secretHash: digest(id),
        createdAt: T0,
        expiresAt,
      });
      assert.equal(await store.createRoleSession(session("0000000000000001", T0), T0), "ok");
      assert.deepEqual(await store.getRoleSession("0000000000000001"), session("0000000000000001", T0));
      assert.equal(await store.createRoleSession(session("0000000000000002", T1), T1), "ok");
      assert.equal(await store.getRoleSession("0000000000000001"), undefined);
      assert.ok((await store.getRoleSession("0000000000000002")) !== undefined);
    });
  });

  describe("the change sequence", () => {
    test("every mutation bumps it by one and listeners hear sequence and kind after the commit", async () => {
      const start = await store.currentSequence();
      await store.createPrincipal(user("alice"));
      await store.createApiKey(apiKey("0000000000000001", user("alice").krn));
      await store.updateApiKeyStatus("0000000000000001", "disabled");
      await store.putPolicy({ krn: `krn:keyhold:iam::${ACCOUNT}:policy/p`, accountId: ACCOUNT, name: "p", description: "", document: "{}", createdAt: T0, updatedAt: T0 });
      await store.attachPolicy({ principalKrn: user("alice").krn, policyKrn: `krn:keyhold:iam::${ACCOUNT}:policy/p`, attachedAt: T0 }, true);
      await store.putResourcePolicy({ resourceKrn: KEY, accountId: ACCOUNT, document: "{}", updatedAt: T0 });
      await store.createGrant(grant("00000000000000000000000000000001"));
      await store.deleteGrant("00000000000000000000000000000001");
      await store.createAccount({ accountId: "777788889999", name: "third", createdAt: T0 });
      assert.deepEqual(
        events.map((e) => e.kind),
        ["principal", "credential", "credential", "policy", "policy", "resource-policy", "grant", "grant", "account"],
      );
      assert.deepEqual(
        events.map((e) => e.sequence),
        events.map((_, i) => start + BigInt(i + 1)),
      );
      assert.equal(await store.currentSequence(), start + 9n);
    });

    test("writes that change nothing do not bump it", async () => {
      await store.createPrincipal(user("alice"));
      const before = await store.currentSequence();
      events.length = 0;
      await store.createPrincipal(user("alice"));
      await store.deletePrincipal(user("ghost").krn);
      await store.deleteApiKey("ffffffffffffffff");
      await store.detachPolicy(user("alice").krn, "krn:keyhold:iam::keyhold:policy/KeyUser");
      await store.deleteGrant("ffffffffffffffffffffffffffffffff");
      await store.createAccount({ accountId: ACCOUNT, name: "dup", createdAt: T0 });
      assert.equal(await store.currentSequence(), before);
      assert.equal(events.length, 0);
    });

    test("a transaction announces its changes only after it commits, and nothing when it rolls back", async () => {
      const before = await store.currentSequence();
      const value = await store.transaction(async (tx) => {
        await tx.createPrincipal(user("alice"));
        await tx.createPrincipal(user("bob"));
        assert.equal(events.length, 0, "announced before the commit");
        return "done";
      });
      assert.equal(value, "done");
      assert.deepEqual(events.map((e) => e.sequence), [before + 1n, before + 2n]);
      assert.equal(await store.currentSequence(), before + 2n);
      events.length = 0;
      await assert.rejects(
        store.transaction(async (tx) => {
          await tx.createPrincipal(user("carol"));
          assert.ok((await tx.getPrincipal(user("carol").krn)) !== undefined, "the transaction sees its own write");
          throw new Error("abort");
        }),
        /abort/,
      );
      assert.equal(events.length, 0);
      assert.equal(await store.getPrincipal(user("carol").krn), undefined);
      assert.equal(await store.currentSequence(), before + 2n);
      // A failed inner write inside a committed transaction drops only its own event.
      await store.transaction(async (tx) => {
        await tx.createPrincipal(user("dave"));
        await assert.rejects(tx.createPrincipal(user("ghost", "999999999999")), /foreign key/i);
        assert.equal(await tx.createPrincipal(user("erin")), "ok");
      });
      assert.deepEqual(
        events.map((e) => e.sequence),
        [before + 3n, before + 4n],
      );
      assert.ok((await store.getPrincipal(user("dave").krn)) !== undefined);
      assert.ok((await store.getPrincipal(user("erin").krn)) !== undefined);
    });

    test("a transaction's uncommitted writes are not seen outside it", async () => {
      let release: () => void = () => undefined;
      const held = new Promise<void>((resolve) => (release = resolve));
      let written: () => void = () => undefined;
      const wrote = new Promise<void>((resolve) => (written = resolve));
      const transaction = store.transaction(async (tx) => {
        await tx.createPrincipal(user("pending"));
        written();
        await held;
      });
      await wrote;
      const outside = store.getPrincipal(user("pending").krn);
      // Either the read waits for the commit (SQLite) or it reads the committed state (PostgreSQL):
      // never the uncommitted row before the commit.
      const early = await Promise.race([outside.then((p) => (p === undefined ? "absent" : "present")), new Promise((r) => setTimeout(() => r("waiting"), 50))]);
      assert.notEqual(early, "present");
      release();
      await transaction;
      await outside;
      assert.ok((await store.getPrincipal(user("pending").krn)) !== undefined);
    });

    test("a throwing listener does not hide the write or starve other listeners", async () => {
      const heard: bigint[] = [];
      store.onChange(() => {
        throw new Error("listener bug");
      });
      store.onChange((e) => heard.push(e.sequence));
      await store.createPrincipal(user("alice"));
      assert.equal(heard.length, 1);
      assert.ok((await store.getPrincipal(user("alice").krn)) !== undefined);
    });

    test("unsubscribe stops the notifications", async () => {
      const heard: ChangeEvent[] = [];
      const off = store.onChange((e) => heard.push(e));
      await store.createPrincipal(user("alice"));
      off();
      await store.createPrincipal(user("bob"));
      assert.equal(heard.length, 1);
    });
  });
});
}

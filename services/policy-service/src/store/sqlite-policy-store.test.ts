import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { SQLITE_MIGRATIONS } from "./migrations.ts";
import type { Page } from "./policy-store.ts";
import type { ApiKeyRecord, CertificateIdentityRecord, ChangeEvent, GrantRecord, PrincipalRecord } from "./records.ts";
import { openSqliteDatabase, SqlitePolicyStore } from "./sqlite-policy-store.ts";

const ACCOUNT = "111122223333";
const OTHER = "444455556666";
const T0 = new Date("2025-01-02T03:04:05.678Z");
const T1 = new Date("2025-01-02T04:00:00.000Z");
const KEY = `krn:keyhold:kms:test-1:${ACCOUNT}:key/6b8f4c2e-1d3a-4e5f-9a7b-0c1d2e3f4a5b`;
const digest = (text: string): Buffer => createHash("sha256").update(text).digest();

function user(name: string, accountId = ACCOUNT): PrincipalRecord {
  return { krn: `krn:keyhold:iam::${accountId}:user/${name}`, accountId, type: "user", name, trustPolicy: undefined, createdAt: T0 };
}

function role(name: string, trust = '{"trust":true}', accountId = ACCOUNT): PrincipalRecord {
  return { krn: `krn:keyhold:iam::${accountId}:role/${name}`, accountId, type: "role", name, trustPolicy: trust, createdAt: T0 };
}

function apiKey(id: string, principalKrn: string, accountId = ACCOUNT): ApiKeyRecord {
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

function grant(id: string, overrides: Partial<GrantRecord> = {}): GrantRecord {
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

function walk<T>(fetch: (after: string | undefined) => Page<T>): T[][] {
  const pages: T[][] = [];
  let after: string | undefined;
  do {
    const page = fetch(after);
    pages.push([...page.items]);
    after = page.next;
    assert.ok(pages.length < 1000, "paging does not end");
  } while (after !== undefined);
  return pages;
}

describe("SqlitePolicyStore", () => {
  let store: SqlitePolicyStore;
  let events: ChangeEvent[];

  beforeEach(() => {
    store = new SqlitePolicyStore(openSqliteDatabase(":memory:"));
    store.createAccount({ accountId: ACCOUNT, name: "main", createdAt: T0 });
    store.createAccount({ accountId: OTHER, name: "other", createdAt: T0 });
    events = [];
    store.onChange((event) => events.push(event));
  });
  afterEach(() => store.close());

  describe("accounts", () => {
    test("create, get, count, list in pages; a second create of the same id is 'exists'", () => {
      assert.equal(store.countAccounts(), 2);
      assert.deepEqual(store.getAccount(ACCOUNT), { accountId: ACCOUNT, name: "main", createdAt: T0 });
      assert.equal(store.getAccount("999999999999"), undefined);
      assert.equal(store.createAccount({ accountId: ACCOUNT, name: "again", createdAt: T1 }), "exists");
      assert.equal(store.getAccount(ACCOUNT)!.name, "main");
      for (let i = 0; i < 5; i++) store.createAccount({ accountId: `00000000000${i}`, name: `a${i}`, createdAt: T0 });
      const pages = walk((after) => store.listAccounts(after, 3));
      assert.deepEqual(
        pages.map((p) => p.length),
        [3, 3, 1],
      );
      const ids = pages.flat().map((a) => a.accountId);
      assert.deepEqual(ids, [...ids].sort());
    });
  });

  describe("principals", () => {
    test("users and roles round-trip; duplicates are 'exists'; list is per account and paged", () => {
      assert.equal(store.createPrincipal(user("alice")), "ok");
      assert.equal(store.createPrincipal(role("deployer")), "ok");
      assert.equal(store.createPrincipal(user("alice")), "exists");
      assert.equal(store.createPrincipal(user("carol", OTHER)), "ok");
      assert.deepEqual(store.getPrincipal(user("alice").krn), user("alice"));
      assert.deepEqual(store.getPrincipal(role("deployer").krn), role("deployer"));
      const mine = walk((after) => store.listPrincipals(ACCOUNT, after, 1)).flat();
      assert.deepEqual(
        mine.map((p) => p.name),
        ["deployer", "alice"],
      );
      assert.deepEqual(
        store.listPrincipals(OTHER, undefined, 10).items.map((p) => p.name),
        ["carol"],
      );
    });

    test("a principal needs an existing account", () => {
      assert.throws(() => store.createPrincipal(user("ghost", "999999999999")), /FOREIGN KEY/);
      assert.equal(store.getPrincipal(user("ghost", "999999999999").krn), undefined);
    });

    test("updateTrustPolicy changes roles only", () => {
      store.createPrincipal(role("deployer"));
      store.createPrincipal(user("alice"));
      assert.equal(store.updateTrustPolicy(role("deployer").krn, '{"new":1}')!.trustPolicy, '{"new":1}');
      assert.equal(store.updateTrustPolicy(user("alice").krn, '{"new":1}'), undefined);
      assert.equal(store.getPrincipal(user("alice").krn)!.trustPolicy, undefined);
      assert.equal(store.updateTrustPolicy(role("nobody").krn, "{}"), undefined);
    });

    test("deleting a principal deletes its API keys, attachments and sessions, and nothing of others", () => {
      store.createPrincipal(user("alice"));
      store.createPrincipal(user("bob"));
      store.createPrincipal(role("deployer"));
      store.createApiKey(apiKey("00000000000000a1", user("alice").krn));
      store.createApiKey(apiKey("00000000000000b1", user("bob").krn));
      store.attachPolicy({ principalKrn: user("alice").krn, policyKrn: "krn:keyhold:iam::keyhold:policy/KeyUser", attachedAt: T0 }, false);
      store.attachPolicy({ principalKrn: user("bob").krn, policyKrn: "krn:keyhold:iam::keyhold:policy/KeyUser", attachedAt: T0 }, false);
      store.createRoleSession(
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
      assert.equal(store.deletePrincipal(user("alice").krn), true);
      assert.equal(store.deletePrincipal(user("alice").krn), false);
      assert.equal(store.getPrincipal(user("alice").krn), undefined);
      assert.equal(store.getApiKey("00000000000000a1"), undefined);
      assert.deepEqual(store.listAttachments(user("alice").krn), []);
      assert.ok(store.getApiKey("00000000000000b1") !== undefined);
      assert.equal(store.listAttachments(user("bob").krn).length, 1);
      assert.equal(store.deletePrincipal(role("deployer").krn), true);
      assert.equal(store.getRoleSession("00000000000000c1"), undefined);
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

    test("add, get, list by SAN; a SAN maps to one principal system-wide; each change is a credential change", () => {
      store.createPrincipal(user("alice"));
      store.createPrincipal(role("deployer"));
      store.createPrincipal(user("carol", OTHER));
      events.length = 0;
      assert.equal(store.addCertificateIdentity(identity("spiffe://example.org/b", user("alice")), 10), "ok");
      assert.equal(store.addCertificateIdentity(identity("alice.example.org", user("alice"), "dns"), 10), "ok");
      assert.equal(store.addCertificateIdentity(identity("spiffe://example.org/a", user("alice")), 10), "ok");
      assert.equal(store.addCertificateIdentity(identity("spiffe://example.org/deploy", role("deployer")), 10), "ok");
      assert.deepEqual(events.map((e) => e.kind), ["credential", "credential", "credential", "credential"]);
      assert.equal(store.addCertificateIdentity(identity("spiffe://example.org/a", user("alice")), 10), "exists");
      assert.equal(store.addCertificateIdentity(identity("spiffe://example.org/a", user("carol", OTHER)), 10), "exists");
      assert.equal(events.length, 4, "refusals change nothing");
      assert.deepEqual(store.getCertificateIdentity("spiffe://example.org/a"), identity("spiffe://example.org/a", user("alice")));
      assert.equal(store.getCertificateIdentity("spiffe://example.org/none"), undefined);
      assert.deepEqual(
        store.listCertificateIdentities(user("alice").krn).map((i) => i.san),
        ["alice.example.org", "spiffe://example.org/a", "spiffe://example.org/b"],
      );
      assert.deepEqual(store.listCertificateIdentities(user("carol", OTHER).krn), []);
    });

    test("the principal must exist; a principal has at most the given number", () => {
      assert.equal(store.addCertificateIdentity(identity("spiffe://example.org/ghost", user("ghost")), 10), "principal-missing");
      store.createPrincipal(user("alice"));
      assert.equal(store.addCertificateIdentity(identity("spiffe://example.org/1", user("alice")), 2), "ok");
      assert.equal(store.addCertificateIdentity(identity("spiffe://example.org/2", user("alice")), 2), "ok");
      assert.equal(store.addCertificateIdentity(identity("spiffe://example.org/3", user("alice")), 2), "limit");
      assert.equal(store.getCertificateIdentity("spiffe://example.org/3"), undefined);
    });

    test("remove only the principal's own mapping", () => {
      store.createPrincipal(user("alice"));
      store.createPrincipal(user("bob"));
      store.addCertificateIdentity(identity("spiffe://example.org/a", user("alice")), 10);
      const before = store.currentSequence();
      assert.equal(store.removeCertificateIdentity(user("bob").krn, "spiffe://example.org/a"), false);
      assert.equal(store.currentSequence(), before);
      assert.equal(store.removeCertificateIdentity(user("alice").krn, "spiffe://example.org/a"), true);
      assert.equal(store.currentSequence(), before + 1n);
      assert.equal(store.getCertificateIdentity("spiffe://example.org/a"), undefined);
      assert.equal(store.removeCertificateIdentity(user("alice").krn, "spiffe://example.org/a"), false);
    });

    test("deleting a principal deletes its certificate identities (and frees the SANs)", () => {
      store.createPrincipal(user("alice"));
      store.createPrincipal(user("bob"));
      store.addCertificateIdentity(identity("spiffe://example.org/a", user("alice")), 10);
      store.addCertificateIdentity(identity("spiffe://example.org/b", user("bob")), 10);
      assert.equal(store.deletePrincipal(user("alice").krn), true);
      assert.equal(store.getCertificateIdentity("spiffe://example.org/a"), undefined);
      assert.ok(store.getCertificateIdentity("spiffe://example.org/b") !== undefined);
      store.createPrincipal(user("alice"));
      assert.deepEqual(store.listCertificateIdentities(user("alice").krn), [], "a new principal of the same name inherits nothing");
      assert.equal(store.addCertificateIdentity(identity("spiffe://example.org/a", user("bob")), 10), "ok");
    });
  });

  describe("API keys", () => {
    test("round-trip with the digest only; list per principal in pages; status and deletion", () => {
      store.createPrincipal(user("alice"));
      const krn = user("alice").krn;
      for (let i = 1; i <= 3; i++) assert.equal(store.createApiKey(apiKey(`000000000000000${i}`, krn)), "ok");
      assert.equal(store.createApiKey(apiKey("0000000000000001", krn)), "exists");
      const stored = store.getApiKey("0000000000000001")!;
      assert.deepEqual(stored, apiKey("0000000000000001", krn));
      assert.equal(stored.secretHash.length, 32);
      assert.deepEqual(
        walk((after) => store.listApiKeys(krn, after, 2)).map((p) => p.map((k) => k.apiKeyId)),
        [["0000000000000001", "0000000000000002"], ["0000000000000003"]],
      );
      assert.equal(store.updateApiKeyStatus("0000000000000002", "disabled")!.status, "disabled");
      assert.equal(store.updateApiKeyStatus("ffffffffffffffff", "disabled"), undefined);
      assert.equal(store.deleteApiKey("0000000000000003"), true);
      assert.equal(store.deleteApiKey("0000000000000003"), false);
      assert.equal(store.listApiKeys(krn, undefined, 10).items.length, 2);
    });

    test("the root principal (not a row) can own keys", () => {
      const root = `krn:keyhold:iam::${ACCOUNT}:root`;
      assert.equal(store.createApiKey(apiKey("00000000000000aa", root)), "ok");
      assert.equal(store.getApiKey("00000000000000aa")!.principalKrn, root);
    });

    test("a digest must be 32 bytes", () => {
      assert.throws(() => store.createApiKey({ ...apiKey("00000000000000dd", user("x").krn), secretHash: Buffer.alloc(16) }), /CHECK/);
    });

    test("touch records the last use without a change event", () => {
      store.createApiKey(apiKey("00000000000000aa", user("x").krn));
      const before = store.currentSequence();
      events.length = 0;
      store.touchApiKey("00000000000000aa", T1);
      assert.deepEqual(store.getApiKey("00000000000000aa")!.lastUsedAt, T1);
      assert.equal(store.currentSequence(), before);
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

    test("put creates, put again replaces the document and keeps the creation date", () => {
      assert.deepEqual(store.putPolicy(policy("ops", "v1")), policy("ops", "v1"));
      const replaced = store.putPolicy(policy("ops", "v2", T1));
      assert.equal(replaced.document, "v2");
      assert.deepEqual(replaced.createdAt, T0);
      assert.deepEqual(replaced.updatedAt, T1);
      assert.equal(store.listPolicies(ACCOUNT, undefined, 10).items.length, 1);
      assert.equal(store.listPolicies(OTHER, undefined, 10).items.length, 0);
    });

    test("attach: principal and stored policy must exist; managed ones need no row; order is kept", () => {
      store.createPrincipal(user("alice"));
      store.putPolicy(policy("ops"));
      const alice = user("alice").krn;
      const at = (policyKrn: string) => ({ principalKrn: alice, policyKrn, attachedAt: T0 });
      assert.equal(store.attachPolicy(at(policy("missing").krn), true), "policy-missing");
      assert.equal(store.attachPolicy({ ...at(policy("ops").krn), principalKrn: user("ghost").krn }, true), "principal-missing");
      assert.equal(store.attachPolicy(at("krn:keyhold:iam::keyhold:policy/KeyUser"), false), "ok");
      assert.equal(store.attachPolicy(at(policy("ops").krn), true), "ok");
      assert.equal(store.attachPolicy(at(policy("ops").krn), true), "exists");
      assert.deepEqual(
        store.listAttachments(alice).map((a) => a.policyKrn),
        ["krn:keyhold:iam::keyhold:policy/KeyUser", policy("ops").krn],
      );
      assert.equal(store.detachPolicy(alice, "krn:keyhold:iam::keyhold:policy/KeyUser"), true);
      assert.equal(store.detachPolicy(alice, "krn:keyhold:iam::keyhold:policy/KeyUser"), false);
    });

    test("deleting a policy detaches it everywhere", () => {
      store.createPrincipal(user("alice"));
      store.createPrincipal(user("bob"));
      store.putPolicy(policy("ops"));
      for (const p of [user("alice"), user("bob")]) store.attachPolicy({ principalKrn: p.krn, policyKrn: policy("ops").krn, attachedAt: T0 }, true);
      assert.equal(store.deletePolicy(policy("ops").krn), true);
      assert.equal(store.deletePolicy(policy("ops").krn), false);
      assert.deepEqual(store.listAttachments(user("alice").krn), []);
      assert.deepEqual(store.listAttachments(user("bob").krn), []);
    });
  });

  describe("resource policies", () => {
    test("put and replace by resource krn", () => {
      assert.equal(store.getResourcePolicy(KEY), undefined);
      store.putResourcePolicy({ resourceKrn: KEY, accountId: ACCOUNT, document: "v1", updatedAt: T0 });
      store.putResourcePolicy({ resourceKrn: KEY, accountId: ACCOUNT, document: "v2", updatedAt: T1 });
      assert.deepEqual(store.getResourcePolicy(KEY), { resourceKrn: KEY, accountId: ACCOUNT, document: "v2", updatedAt: T1 });
    });
  });

  describe("grants", () => {
    test("round-trip with operations and constraints; list filters and pages; grantsForKey; delete", () => {
      const constrained = grant("00000000000000000000000000000002", {
        constraints: { encryptionContextEquals: undefined, encryptionContextSubset: { tenant: "a" } },
        retiringPrincipal: `krn:keyhold:iam::${ACCOUNT}:user/ops`,
        name: "isv",
        granteePrincipal: `krn:keyhold:iam::${OTHER}:user/bob`,
      });
      assert.equal(store.createGrant(grant("00000000000000000000000000000001")), "ok");
      assert.equal(store.createGrant(constrained), "ok");
      assert.equal(store.createGrant(grant("00000000000000000000000000000003")), "ok");
      assert.equal(store.createGrant(grant("00000000000000000000000000000001")), "exists");
      assert.deepEqual(store.getGrant(constrained.grantId), constrained);
      assert.deepEqual(store.getGrant("00000000000000000000000000000001"), grant("00000000000000000000000000000001"));
      assert.deepEqual(
        walk((after) => store.listGrants(KEY, {}, after, 2)).map((p) => p.length),
        [2, 1],
      );
      assert.deepEqual(
        store.listGrants(KEY, { granteePrincipal: `krn:keyhold:iam::${OTHER}:user/bob` }, undefined, 10).items.map((g) => g.grantId),
        [constrained.grantId],
      );
      assert.deepEqual(
        store.listGrants(KEY, { grantId: "00000000000000000000000000000003" }, undefined, 10).items.map((g) => g.grantId),
        ["00000000000000000000000000000003"],
      );
      assert.equal(store.listGrants(`${KEY}0`, {}, undefined, 10).items.length, 0);
      assert.equal(store.grantsForKey(KEY).length, 3);
      assert.equal(store.deleteGrant(constrained.grantId), true);
      assert.equal(store.deleteGrant(constrained.grantId), false);
      assert.equal(store.grantsForKey(KEY).length, 2);
    });
  });

  describe("role sessions", () => {
    test("round-trip; creating one purges sessions that expired before the given time", () => {
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
      assert.equal(store.createRoleSession(session("0000000000000001", T0), T0), "ok");
      assert.deepEqual(store.getRoleSession("0000000000000001"), session("0000000000000001", T0));
      assert.equal(store.createRoleSession(session("0000000000000002", T1), T1), "ok");
      assert.equal(store.getRoleSession("0000000000000001"), undefined);
      assert.ok(store.getRoleSession("0000000000000002") !== undefined);
    });
  });

  describe("the change sequence", () => {
    test("every mutation bumps it by one and listeners hear sequence and kind after the commit", () => {
      const start = store.currentSequence();
      store.createPrincipal(user("alice"));
      store.createApiKey(apiKey("0000000000000001", user("alice").krn));
      store.updateApiKeyStatus("0000000000000001", "disabled");
      store.putPolicy({ krn: `krn:keyhold:iam::${ACCOUNT}:policy/p`, accountId: ACCOUNT, name: "p", description: "", document: "{}", createdAt: T0, updatedAt: T0 });
      store.attachPolicy({ principalKrn: user("alice").krn, policyKrn: `krn:keyhold:iam::${ACCOUNT}:policy/p`, attachedAt: T0 }, true);
      store.putResourcePolicy({ resourceKrn: KEY, accountId: ACCOUNT, document: "{}", updatedAt: T0 });
      store.createGrant(grant("00000000000000000000000000000001"));
      store.deleteGrant("00000000000000000000000000000001");
      store.createAccount({ accountId: "777788889999", name: "third", createdAt: T0 });
      assert.deepEqual(
        events.map((e) => e.kind),
        ["principal", "credential", "credential", "policy", "policy", "resource-policy", "grant", "grant", "account"],
      );
      assert.deepEqual(
        events.map((e) => e.sequence),
        events.map((_, i) => start + BigInt(i + 1)),
      );
      assert.equal(store.currentSequence(), start + 9n);
    });

    test("writes that change nothing do not bump it", () => {
      store.createPrincipal(user("alice"));
      const before = store.currentSequence();
      events.length = 0;
      store.createPrincipal(user("alice"));
      store.deletePrincipal(user("ghost").krn);
      store.deleteApiKey("ffffffffffffffff");
      store.detachPolicy(user("alice").krn, "krn:keyhold:iam::keyhold:policy/KeyUser");
      store.deleteGrant("ffffffffffffffffffffffffffffffff");
      store.createAccount({ accountId: ACCOUNT, name: "dup", createdAt: T0 });
      assert.equal(store.currentSequence(), before);
      assert.equal(events.length, 0);
    });

    test("a transaction announces its changes only after it commits, and nothing when it rolls back", () => {
      const before = store.currentSequence();
      store.transaction(() => {
        store.createPrincipal(user("alice"));
        store.createPrincipal(user("bob"));
        assert.equal(events.length, 0, "announced before the commit");
      });
      assert.equal(events.length, 2);
      assert.equal(store.currentSequence(), before + 2n);
      events.length = 0;
      assert.throws(() =>
        store.transaction(() => {
          store.createPrincipal(user("carol"));
          throw new Error("abort");
        }),
      );
      assert.equal(events.length, 0);
      assert.equal(store.getPrincipal(user("carol").krn), undefined);
      assert.equal(store.currentSequence(), before + 2n);
      // A failed inner write inside a committed transaction drops only its own event.
      store.transaction(() => {
        store.createPrincipal(user("dave"));
        assert.throws(() => store.createPrincipal(user("ghost", "999999999999")));
      });
      assert.deepEqual(
        events.map((e) => e.sequence),
        [before + 3n],
      );
    });

    test("a throwing listener does not hide the write or starve other listeners", () => {
      const heard: bigint[] = [];
      store.onChange(() => {
        throw new Error("listener bug");
      });
      store.onChange((e) => heard.push(e.sequence));
      store.createPrincipal(user("alice"));
      assert.equal(heard.length, 1);
      assert.ok(store.getPrincipal(user("alice").krn) !== undefined);
    });

    test("unsubscribe stops the notifications", () => {
      const heard: ChangeEvent[] = [];
      const off = store.onChange((e) => heard.push(e));
      store.createPrincipal(user("alice"));
      off();
      store.createPrincipal(user("bob"));
      assert.equal(heard.length, 1);
    });
  });
});

describe("openSqliteDatabase", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "keyhold-policy-store-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test("WAL, synchronous=FULL, foreign keys, the latest schema; data and the sequence survive a reopen", () => {
    const path = join(dir, "nested", "policy.sqlite");
    const db = openSqliteDatabase(path);
    assert.equal(db.pragma("journal_mode", { simple: true }), "wal");
    assert.equal(db.pragma("synchronous", { simple: true }), 2);
    assert.equal(db.pragma("foreign_keys", { simple: true }), 1);
    assert.equal(db.pragma("user_version", { simple: true }), SQLITE_MIGRATIONS.length);
    const store = new SqlitePolicyStore(db);
    store.createAccount({ accountId: ACCOUNT, name: "main", createdAt: T0 });
    store.createPrincipal(user("alice"));
    const sequence = store.currentSequence();
    store.close();
    const reopened = new SqlitePolicyStore(openSqliteDatabase(path));
    assert.deepEqual(reopened.getPrincipal(user("alice").krn), user("alice"));
    assert.equal(reopened.currentSequence(), sequence);
    assert.equal(sequence, 2n);
    reopened.close();
  });
});

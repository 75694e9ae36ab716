import assert from "node:assert/strict";
import { test } from "node:test";
import type { Principal } from "@keyhold/server-kit";
import type { AuthorizationAnswer, AuthorizationQuery, PolicyAuthority } from "./authority.ts";
import { CachedPolicyAuthority } from "./cached-authority.ts";

const alice: Principal = { accountId: "111122223333", krn: "krn:keyhold:iam::111122223333:user/alice", kind: "user", name: "alice" };
const KEY = "krn:keyhold:kms:local:111122223333:key/00000000-0000-4000-8000-000000000001";

/** An authority that counts calls and answers from a mutable table. */
function fakeAuthority() {
  const listeners = new Set<(s: bigint) => void>();
  const state = {
    live: true,
    authenticateCalls: 0,
    certificateCalls: [] as string[],
    authorizeCalls: 0,
    allowed: true,
    dependsOn: { encryptionContext: false, sourceIp: false, time: false },
  };
  const authority: PolicyAuthority = {
    get changesLive() {
      return state.live;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async authenticate() {
      state.authenticateCalls++;
      return alice;
    },
    async authenticateCertificate(identity) {
      state.certificateCalls.push(`${identity.uris.join(" ")}|${identity.dnsNames.join(" ")}`);
      if (identity.uris.length === 0) throw new Error("unmapped");
      return alice;
    },
    async authorize(): Promise<AuthorizationAnswer> {
      state.authorizeCalls++;
      return { allowed: state.allowed, reason: state.allowed ? "allowed" : "implicit-deny", decidedBy: undefined, dependsOn: { ...state.dependsOn } };
    },
  };
  return { authority, state, change: () => listeners.forEach((l) => l(1n)) };
}

const query = (context?: Record<string, string>, sourceIp?: string): AuthorizationQuery => ({
  principal: alice,
  action: "kms:Encrypt",
  resource: KEY,
  secureTransport: false,
  ...(context === undefined ? {} : { encryptionContext: context }),
  ...(sourceIp === undefined ? {} : { sourceIp }),
});

const options = { maxEntries: 1000, ttlMs: 60_000, timeDependentTtlMs: 1_000 };

test("a warm cache answers without asking again", async () => {
  const fake = fakeAuthority();
  const cached = new CachedPolicyAuthority(fake.authority, options);
  for (let i = 0; i < 5; i++) assert.equal((await cached.authorize(query({ a: String(i) }))).allowed, true);
  assert.equal(fake.state.authorizeCalls, 1, "context did not matter, so one decision serves all contexts");
  for (let i = 0; i < 3; i++) await cached.authenticate("khk_secret");
  assert.equal(fake.state.authenticateCalls, 1);
});

test("a change notification drops every cached answer at once (revocation)", async () => {
  const fake = fakeAuthority();
  const cached = new CachedPolicyAuthority(fake.authority, options);
  assert.equal((await cached.authorize(query())).allowed, true);
  fake.state.allowed = false;
  assert.equal((await cached.authorize(query())).allowed, true, "still cached before the change event");
  fake.change();
  assert.equal((await cached.authorize(query())).allowed, false);
  await cached.authenticate("k");
  fake.change();
  await cached.authenticate("k");
  assert.equal(fake.state.authenticateCalls, 2);
});

test("while change notifications are down nothing cached is trusted", async () => {
  const fake = fakeAuthority();
  const cached = new CachedPolicyAuthority(fake.authority, options);
  await cached.authorize(query());
  fake.state.live = false;
  await cached.authorize(query());
  await cached.authorize(query());
  assert.equal(fake.state.authorizeCalls, 3);
});

test("answers that depend on the context or source IP are keyed on them", async () => {
  const fake = fakeAuthority();
  fake.state.dependsOn = { encryptionContext: true, sourceIp: true, time: false };
  const cached = new CachedPolicyAuthority(fake.authority, options);
  await cached.authorize(query({ tenant: "a" }, "10.0.0.1"));
  await cached.authorize(query({ tenant: "a" }, "10.0.0.1"));
  assert.equal(fake.state.authorizeCalls, 1);
  await cached.authorize(query({ tenant: "b" }, "10.0.0.1"));
  await cached.authorize(query({ tenant: "a" }, "10.0.0.2"));
  assert.equal(fake.state.authorizeCalls, 3);
  // Key order does not make a different context.
  await cached.authorize(query({ x: "1", tenant: "a" }, "10.0.0.1"));
  await cached.authorize(query({ tenant: "a", x: "1" }, "10.0.0.1"));
  assert.equal(fake.state.authorizeCalls, 4);
});

test("time-dependent answers expire after the short TTL", async () => {
  let now = 0;
  const fake = fakeAuthority();
  fake.state.dependsOn = { encryptionContext: false, sourceIp: false, time: true };
  const cached = new CachedPolicyAuthority(fake.authority, { ...options, now: () => now });
  await cached.authorize(query());
  now = 999;
  await cached.authorize(query());
  assert.equal(fake.state.authorizeCalls, 1);
  now = 1000;
  await cached.authorize(query());
  assert.equal(fake.state.authorizeCalls, 2);
});

test("credentials are cached by digest, never by the raw secret", async () => {
  const fake = fakeAuthority();
  const cached = new CachedPolicyAuthority(fake.authority, options);
  await cached.authenticate("khk_0123456789abcdef_supersecretvalue");
  const keys = [...(cached as unknown as { credentials: Map<string, unknown> }).credentials.keys()];
  assert.equal(keys.length, 1);
  assert.ok(!keys[0]!.includes("supersecret"));
});

test("certificate identities are cached by their joined names; refusals are not cached; a change flushes them", async () => {
  const fake = fakeAuthority();
  const cached = new CachedPolicyAuthority(fake.authority, options);
  const svc = { uris: ["spiffe://example.org/svc"], dnsNames: ["svc.example.org"] };
  for (let i = 0; i < 3; i++) assert.equal(await cached.authenticateCertificate({ uris: [...svc.uris], dnsNames: [...svc.dnsNames] }), alice);
  assert.deepEqual(fake.state.certificateCalls, ["spiffe://example.org/svc|svc.example.org"]);
  // The same names split differently are another identity, not a collision.
  await cached.authenticateCertificate({ uris: ["spiffe://example.org/svc", "svc.example.org"], dnsNames: [] });
  assert.equal(fake.state.certificateCalls.length, 2);
  for (let i = 0; i < 2; i++) await assert.rejects(cached.authenticateCertificate({ uris: [], dnsNames: ["nobody.example.org"] }));
  assert.equal(fake.state.certificateCalls.length, 4, "a refusal is asked again");
  fake.change();
  await cached.authenticateCertificate(svc);
  assert.equal(fake.state.certificateCalls.length, 5);
  assert.equal(cached.stats.hits, 2);
});

test("a credential answer is never reused past the principal's reusableUntil (role sessions)", async () => {
  let now = 0;
  let calls = 0;
  const fake = fakeAuthority();
  const sessionAuthority: PolicyAuthority = {
    ...fake.authority,
    get changesLive() {
      return true;
    },
    async authenticate() {
      calls++;
      return { ...alice, kind: "role", sessionName: "s", reusableUntil: new Date(500) };
    },
  };
  const cached = new CachedPolicyAuthority(sessionAuthority, { ...options, now: () => now });
  await cached.authenticate("khs_token");
  now = 499;
  await cached.authenticate("khs_token");
  assert.equal(calls, 1);
  now = 500;
  await cached.authenticate("khs_token");
  assert.equal(calls, 2, "the session's end bounds the cache even though the TTL is 60 s");
});

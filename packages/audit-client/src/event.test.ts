import assert from "node:assert/strict";
import { test } from "node:test";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError } from "@connectrpc/connect";
import { EchoService, ErrorInfoSchema } from "@keyhold/proto";
import { ERROR_DOMAIN, KeyholdError, type CallContext, type Principal } from "@keyhold/server-kit";
import { buildAuditEvent, MAX_USER_AGENT_LENGTH, outcomeOf, protectEncryptionContext, recordAuditDetails, traceIdOf } from "./event.ts";

const HMAC_KEY = new Uint8Array(32).fill(7);
const alice: Principal = { accountId: "111122223333", krn: "krn:keyhold:iam::111122223333:user/alice", kind: "user", name: "alice" };
const KEY = "krn:keyhold:kms:local:111122223333:key/0b6c1f6e-8f7e-4a4b-9d0e-5f1c2a3b4c5d";
const OTHER_ACCOUNT_KEY = "krn:keyhold:kms:local:444455556666:key/7d0e5f1c-2a3b-4c5d-8f7e-0b6c1f6e4a4b";

function fakeCall(headers: Record<string, string>, fields: Partial<Pick<CallContext, "peerAddress" | "callingService" | "principal">> = {}): CallContext {
  return {
    service: EchoService,
    method: EchoService.method.echo,
    protocol: "grpc",
    peerAddress: fields.peerAddress ?? "",
    header: (name: string) => headers[name],
    requestId: headers["x-request-id"] ?? "generated-request-id",
    signal: new AbortController().signal,
    timeoutMs: () => undefined,
    principal: fields.principal,
    callingService: fields.callingService,
    values: new Map<symbol, unknown>(),
  } as unknown as CallContext; // (only what an event reads)
}

const build = (call: CallContext, failed = false, error: unknown = undefined, plainContextAccounts: ReadonlySet<string> = new Set()) =>
  buildAuditEvent({
    call, service: "key-service", actionPrefix: "kms", eventId: "e-1", time: new Date("2026-01-02T03:04:05.678Z"),
    latencyMicros: 1234.4, failed, error, hmacKey: HMAC_KEY, plainContextAccounts,
  });

test("trace ids come only from valid W3C traceparent headers", () => {
  const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  assert.equal(traceIdOf(valid), "4bf92f3577b34da6a3ce929d0e0e4736");
  assert.equal(traceIdOf(` ${valid} `), "4bf92f3577b34da6a3ce929d0e0e4736");
  // A later version may carry more fields.
  assert.equal(traceIdOf("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"), "4bf92f3577b34da6a3ce929d0e0e4736");
  for (const invalid of [
    undefined,
    "",
    "garbage",
    "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", // upper case
    "00-00000000000000000000000000000000-00f067aa0ba902b7-01", // zero trace id
    "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", // zero parent id
    "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", // forbidden version
    "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra", // version 00 has four fields
    "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01", // short
  ]) {
    assert.equal(traceIdOf(invalid), "", String(invalid));
  }
});

test("outcomes: Keyhold errors by reason, a peer's ConnectError by its code, anything else INTERNAL", () => {
  assert.deepEqual(pick(outcomeOf(new KeyholdError("ACCESS_DENIED", "no"))), { code: Code.PermissionDenied, reason: "ACCESS_DENIED" });
  assert.deepEqual(pick(outcomeOf(new KeyholdError("AUDIT_UNAVAILABLE", "x"))), { code: Code.Unavailable, reason: "AUDIT_UNAVAILABLE" });
  const peer = new ConnectError("disabled", Code.FailedPrecondition, undefined, [
    { desc: ErrorInfoSchema, value: { domain: ERROR_DOMAIN, reason: "KEY_DISABLED" } },
  ]);
  assert.deepEqual(pick(outcomeOf(peer)), { code: Code.FailedPrecondition, reason: "KEY_DISABLED" });
  assert.deepEqual(pick(outcomeOf(new ConnectError("down", Code.Unavailable))), { code: Code.Unavailable, reason: "" });
  assert.deepEqual(pick(outcomeOf(new TypeError("bug"))), { code: Code.Internal, reason: "INTERNAL" });
  assert.deepEqual(pick(outcomeOf("a string")), { code: Code.Internal, reason: "INTERNAL" });
});

const pick = (outcome: { code: number; reason: string }) => ({ code: outcome.code, reason: outcome.reason });

test("context values are HMAC-SHA-256 (RFC 4231 test case 2), keys kept", () => {
  const key = new TextEncoder().encode("Jefe");
  assert.deepEqual(protectEncryptionContext({ purpose: "what do ya want for nothing?" }, key, false), {
    purpose: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
  });
  assert.deepEqual(protectEncryptionContext({ purpose: "x" }, key, true), { purpose: "x" });
});

test("an event carries the call's context and recorded details, never more", () => {
  const longAgent = "agent/" + "x".repeat(400);
  const call = fakeCall(
    { "user-agent": longAgent, traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "x-request-id": "req-42" },
    { peerAddress: "[::ffff:10.1.2.3]:5000", principal: alice, callingService: "secrets-service" },
  );
  recordAuditDetails(call, { resource: KEY, encryptionContext: { tenant: "acme" } });
  recordAuditDetails(call, { keyVersionId: "v-1", action: undefined });
  const event = build(call);
  assert.equal(event.eventId, "e-1");
  assert.equal(timestampDate(event.time!).toISOString(), "2026-01-02T03:04:05.678Z");
  assert.equal(event.service, "key-service");
  assert.equal(event.action, "kms:Echo");
  assert.equal(event.principalKrn, alice.krn);
  assert.equal(event.accountId, "111122223333");
  assert.equal(event.sourceIp, "10.1.2.3");
  assert.equal(event.userAgent.length, MAX_USER_AGENT_LENGTH);
  assert.equal(event.requestId, "req-42");
  assert.equal(event.traceId, "4bf92f3577b34da6a3ce929d0e0e4736");
  assert.equal(event.resource, KEY);
  assert.equal(event.keyVersionId, "v-1");
  assert.deepEqual(Object.keys(event.encryptionContext), ["tenant"]);
  assert.match(event.encryptionContext["tenant"]!, /^[0-9a-f]{64}$/);
  assert.deepEqual(pick(event.outcome!), { code: 0, reason: "" });
  assert.equal(event.latencyMicros, 1234n);
  assert.equal(event.callingService, "secrets-service");
  assert.equal(event.source, "");
  assert.equal(event.sourceSequence, 0n);

  recordAuditDetails(call, { action: "kms:Decrypt" });
  assert.equal(build(call).action, "kms:Decrypt");
});

test("an unauthenticated call's event has no principal", () => {
  const event = build(fakeCall({}), true, new KeyholdError("UNAUTHENTICATED", "invalid credential"));
  assert.equal(event.principalKrn, "");
  assert.equal(event.accountId, "");
  assert.equal(event.sourceIp, "");
  assert.equal(event.requestId, "generated-request-id");
  assert.deepEqual(pick(event.outcome!), { code: Code.Unauthenticated, reason: "UNAUTHENTICATED" });
});

test("plain context values only when the caller's account and the resource's account opted in", () => {
  const withContext = (resource: string, principal: Principal | null = alice) => {
    const call = fakeCall({}, principal === null ? {} : { principal });
    recordAuditDetails(call, { resource, encryptionContext: { tenant: "acme" } });
    return call;
  };
  const optedIn = new Set(["111122223333"]);
  assert.equal(build(withContext(KEY), false, undefined, optedIn).encryptionContext["tenant"], "acme");
  assert.equal(build(withContext(""), false, undefined, optedIn).encryptionContext["tenant"], "acme");
  // The key belongs to an account that did not opt in.
  assert.notEqual(build(withContext(OTHER_ACCOUNT_KEY), false, undefined, optedIn).encryptionContext["tenant"], "acme");
  assert.equal(
    build(withContext(OTHER_ACCOUNT_KEY), false, undefined, new Set(["111122223333", "444455556666"])).encryptionContext["tenant"],
    "acme",
  );
  // Nobody opted in; no principal.
  assert.notEqual(build(withContext(KEY)).encryptionContext["tenant"], "acme");
  assert.notEqual(build(withContext(KEY, null), false, undefined, optedIn).encryptionContext["tenant"], "acme");
});

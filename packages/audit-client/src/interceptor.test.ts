import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { AuditEventSchema, EchoService, ErrorInfoSchema, type AuditEvent } from "@keyhold/proto";
import {
  bindService, createInMemoryTransport, createSilentLogger, ERROR_DOMAIN, KeyholdError,
  type CallContext, type CallInterceptor, type InMemoryTransportOptions, type Principal,
} from "@keyhold/server-kit";
import { recordAuditDetails } from "./event.ts";
import { auditInterceptor } from "./interceptor.ts";
import { auditUnavailable, Outbox, type AuditSink } from "./outbox.ts";
import { outboxEvents, tempDir } from "./test-support.ts";

const HMAC_KEY = new Uint8Array(32).fill(1);
const KEY = "krn:keyhold:kms:local:111122223333:key/0b6c1f6e-8f7e-4a4b-9d0e-5f1c2a3b4c5d";
const alice: Principal = { accountId: "111122223333", krn: "krn:keyhold:iam::111122223333:user/alice", kind: "user", name: "alice" };
const NOW = new Date("2026-03-04T05:06:07.000Z");
const TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

/** A stand-in for authenticationInterceptor: "Bearer alice" is alice, a calling service is itself. */
const fakeAuthentication: CallInterceptor = (next) => async (request, call) => {
  if (call.callingService !== undefined) {
    call.principal = { accountId: "keyhold", krn: `krn:keyhold:iam::keyhold:service/${call.callingService}`, kind: "service", name: call.callingService };
  } else if (call.header("authorization") === "Bearer alice") {
    call.principal = alice;
  } else {
    throw new KeyholdError("UNAUTHENTICATED", "invalid credential");
  }
  return next(request, call);
};

let handlerRuns = 0;

/** The payload says what the handler does. */
const echo = bindService(EchoService, {
  async echo(request, call: CallContext) {
    handlerRuns += 1;
    const what = new TextDecoder().decode(request.payload);
    recordAuditDetails(call, { resource: KEY });
    switch (what) {
      case "denied":
        throw new KeyholdError("ACCESS_DENIED", `access denied: kms:Echo on ${KEY}`);
      case "bug":
        throw new TypeError("cannot read properties of undefined");
      case "peer":
        throw new ConnectError("hsm down", Code.Unavailable, undefined, [
          { desc: ErrorInfoSchema, value: { domain: ERROR_DOMAIN, reason: "HSM_UNAVAILABLE" } },
        ]);
      case "slow":
        await new Promise((resolve) => setTimeout(resolve, 30));
        break;
      default:
        recordAuditDetails(call, { keyVersionId: "version-1", encryptionContext: { tenant: "acme" }, action: "kms:Encrypt" });
    }
    return { payload: request.payload };
  },
});

function client(sink: AuditSink, options: InMemoryTransportOptions = { headers: { authorization: "Bearer alice" } }) {
  const interceptors = [auditInterceptor({ service: "key-service", actionPrefix: "kms", outbox: sink, clock: { now: () => NOW }, hmacKey: HMAC_KEY }), fakeAuthentication];
  return createClient(EchoService, createInMemoryTransport([echo], interceptors, createSilentLogger(), options));
}

const say = (text: string) => ({ payload: new TextEncoder().encode(text) });
const failure = async (call: Promise<unknown>) => ConnectError.from(await call.then(() => assert.fail("expected an error"), (e: unknown) => e));
const reasonOf = (error: ConnectError) => error.findDetails(ErrorInfoSchema)[0]?.reason;

const dir = tempDir();
let outbox: Outbox;
before(async () => {
  outbox = await Outbox.open({ path: dir.file("outbox.db"), service: "key-service" });
});
after(async () => {
  await outbox.close();
  dir.remove();
});

/** Runs `calls` and returns the events they appended (exactly one per call is asserted). */
async function eventsOf(calls: number, run: () => Promise<void>): Promise<AuditEvent[]> {
  const before = outbox.lastSequence;
  await run();
  const events = (await outboxEvents(outbox)).filter((row) => row.sequence > before).map((row) => row.event);
  assert.equal(events.length, calls, `expected ${calls} event(s), got ${events.length}`);
  return events;
}

test("a successful call: one event with the call's fields, written before the answer", async () => {
  const [event] = await eventsOf(1, async () => {
    const answer = await client(outbox, {
      headers: { authorization: "Bearer alice", "user-agent": "keyhold-test/1.0", traceparent: TRACEPARENT, "x-request-id": "req-1" },
    }).echo(say("ok"));
    assert.equal(new TextDecoder().decode(answer.payload), "ok");
  });
  assert.match(event!.eventId, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/, "a UUIDv7 (time-ordered)");
  assert.equal(timestampDate(event!.time!).toISOString(), NOW.toISOString());
  assert.equal(event!.service, "key-service");
  assert.equal(event!.action, "kms:Encrypt");
  assert.equal(event!.principalKrn, alice.krn);
  assert.equal(event!.accountId, alice.accountId);
  assert.equal(event!.userAgent, "keyhold-test/1.0");
  assert.equal(event!.requestId, "req-1");
  assert.equal(event!.traceId, "0af7651916cd43dd8448eb211c80319c");
  assert.equal(event!.resource, KEY);
  assert.equal(event!.keyVersionId, "version-1");
  assert.deepEqual(Object.keys(event!.encryptionContext), ["tenant"]);
  assert.notEqual(event!.encryptionContext["tenant"], "acme");
  assert.equal(event!.outcome?.code, 0);
  assert.equal(event!.outcome?.reason, "");
  assert.ok(event!.latencyMicros >= 0n);
  assert.equal(event!.callingService, "");
});

test("a domain error, an unexpected error, a peer's error, a refused credential: one event each, the client's error unchanged", async () => {
  const events = await eventsOf(4, async () => {
    const denied = await failure(client(outbox).echo(say("denied")));
    assert.equal(denied.code, Code.PermissionDenied);
    assert.equal(reasonOf(denied), "ACCESS_DENIED");
    const bug = await failure(client(outbox).echo(say("bug")));
    assert.equal(bug.code, Code.Internal);
    assert.equal(bug.rawMessage, "internal error");
    await failure(client(outbox).echo(say("peer")));
    const anonymous = await failure(client(outbox, { headers: { authorization: "Bearer nobody" } }).echo(say("ok")));
    assert.equal(anonymous.code, Code.Unauthenticated);
  });
  const [denied, bug, peer, anonymous] = events;
  assert.deepEqual([denied!.outcome?.code, denied!.outcome?.reason, denied!.action, denied!.resource], [Code.PermissionDenied, "ACCESS_DENIED", "kms:Echo", KEY]);
  assert.equal(denied!.principalKrn, alice.krn);
  assert.deepEqual([bug!.outcome?.code, bug!.outcome?.reason], [Code.Internal, "INTERNAL"]);
  assert.deepEqual([peer!.outcome?.code, peer!.outcome?.reason], [Code.Unavailable, "HSM_UNAVAILABLE"]);
  assert.deepEqual([anonymous!.outcome?.code, anonymous!.outcome?.reason], [Code.Unauthenticated, "UNAUTHENTICATED"]);
  assert.deepEqual([anonymous!.principalKrn, anonymous!.accountId, anonymous!.resource, anonymous!.action], ["", "", "", "kms:Echo"]);
});

test("a call made by a peer service records the calling service; latency covers the handler", async () => {
  const [event] = await eventsOf(1, async () => {
    await client(outbox, { callingService: "secrets-service" }).echo(say("slow"));
  });
  assert.equal(event!.callingService, "secrets-service");
  assert.equal(event!.principalKrn, "krn:keyhold:iam::keyhold:service/secrets-service");
  assert.ok(event!.latencyMicros >= 25_000n, `latency ${event!.latencyMicros} µs`);
});

test("the answer waits for the event to be recorded", async () => {
  let release: (() => void) | undefined;
  const appended: Uint8Array[] = [];
  const slowSink: AuditSink = {
    append: (event) => {
      appended.push(event);
      return new Promise<void>((resolve) => {
        release = resolve;
      });
    },
  };
  let answered = false;
  const call = client(slowSink).echo(say("ok")).then(() => {
    answered = true;
  });
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(appended.length, 1);
  assert.equal(answered, false, "the answer went out before its audit event was recorded");
  release!();
  await call;
  assert.equal(answered, true);
});

test("fail closed: when the event cannot be recorded the call fails with AUDIT_UNAVAILABLE, success or not", async () => {
  let appends = 0;
  const broken: AuditSink = {
    append: async () => {
      appends += 1;
      throw auditUnavailable(new Error("SQLITE_FULL: database or disk is full"));
    },
  };
  const runsBefore = handlerRuns;
  const ok = await failure(client(broken).echo(say("ok")));
  assert.equal(handlerRuns, runsBefore + 1, "the handler ran");
  assert.equal(ok.code, Code.Unavailable);
  assert.equal(reasonOf(ok), "AUDIT_UNAVAILABLE");
  assert.equal(ok.rawMessage, "audit log unavailable");
  const denied = await failure(client(broken).echo(say("denied")));
  assert.equal(reasonOf(denied), "AUDIT_UNAVAILABLE");
  // A sink that throws something else still fails closed.
  const buggy: AuditSink = { append: () => Promise.reject(new Error("bug")) };
  assert.equal(reasonOf(await failure(client(buggy).echo(say("ok")))), "AUDIT_UNAVAILABLE");
  assert.equal(appends, 2);
});

test("a server stream is audited before its first message goes out", async () => {
  const appended: AuditEvent[] = [];
  const sink: AuditSink = { append: async (event) => void appended.push(fromBinary(AuditEventSchema, event)) };
  const interceptor = auditInterceptor({ service: "audit-service", actionPrefix: "audit", outbox: sink, clock: { now: () => NOW }, hmacKey: HMAC_KEY });
  const call = {
    service: EchoService, method: { ...EchoService.method.echo, name: "ExportEvents" }, peerAddress: "", principal: alice,
    header: () => undefined, requestId: "r", callingService: undefined, values: new Map<symbol, unknown>(),
  } as unknown as CallContext;
  const stream = (async function* () {
    yield 1;
  })();
  const result = await interceptor(async () => stream)({}, call);
  assert.equal(result, stream);
  assert.equal(appended.length, 1);
  assert.equal(appended[0]!.action, "audit:ExportEvents");
});

test("an HMAC key shorter than 32 bytes is refused", () => {
  assert.throws(() => auditInterceptor({ service: "s", actionPrefix: "kms", outbox: { append: async () => {} }, clock: { now: () => NOW }, hmacKey: new Uint8Array(16) }));
});

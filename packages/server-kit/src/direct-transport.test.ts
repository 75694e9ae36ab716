// The direct transport: the handler entry with its interceptors, the calling service and headers
// handed over, errors mapped exactly as over the wire (the same code, ErrorInfo and RetryInfo as
// the in-memory router transport), and the caller's deadline visible to the handler.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { EchoService, ErrorInfoSchema, RetryInfoSchema } from "@keyhold/proto";
import { bindService, type CallContext } from "./call.ts";
import { createDirectTransport } from "./direct-transport.ts";
import { invalidArgument, KeyholdError } from "./errors.ts";
import { createInMemoryTransport } from "./in-memory.ts";
import { createSilentLogger } from "./logger.ts";
import type { CallInterceptor } from "./pipeline.ts";

const seen: { call?: CallContext; intercepted: number } = { intercepted: 0 };
const counting: CallInterceptor = (next) => (request, call) => {
  seen.intercepted++;
  return next(request, call);
};

const binding = bindService(
  EchoService,
  {
    async echo(request, call) {
      seen.call = call;
      switch (new TextDecoder().decode(request.payload)) {
        case "invalid":
          throw invalidArgument("payload", "is not acceptable");
        case "throttle":
          throw new KeyholdError("THROTTLED", "slow down", { retryAfterMs: 1500 });
        case "crash":
          throw new Error("secret-internal-detail");
        default:
          return { payload: request.payload };
      }
    },
  },
  [counting],
);

async function refusal(call: Promise<unknown>) {
  const error = await call.then(() => assert.fail("expected a refusal"), (e: unknown) => ConnectError.from(e));
  return {
    code: error.code,
    message: error.rawMessage,
    info: error.findDetails(ErrorInfoSchema).map((i) => ({ reason: i.reason, domain: i.domain, field: i.metadata["field"] })),
    retry: error.findDetails(RetryInfoSchema).map((r) => Number(r.retryDelay?.seconds ?? 0)),
  };
}

describe("createDirectTransport", () => {
  const direct = createClient(EchoService, createDirectTransport([binding], [], createSilentLogger(), { callingService: "key-service" }));
  const routed = createClient(EchoService, createInMemoryTransport([binding], [], createSilentLogger(), { callingService: "key-service" }));

  test("calls the handler through its interceptors, as the calling service, with headers and deadline", async () => {
    const before = seen.intercepted;
    const answer = await direct.echo({ payload: new Uint8Array([1, 2, 3]) }, { headers: { "x-request-id": "req-1" }, timeoutMs: 5_000 });
    assert.deepEqual(answer.payload, new Uint8Array([1, 2, 3]));
    assert.equal(seen.intercepted, before + 1);
    const call = seen.call!;
    assert.equal(call.callingService, "key-service");
    assert.equal(call.requestId, "req-1");
    assert.equal(call.method.name, "Echo");
    const remaining = call.timeoutMs();
    assert.ok(remaining !== undefined && remaining > 4_000 && remaining <= 5_000, String(remaining));
    assert.equal(call.signal.aborted, false);
    await direct.echo({});
    assert.equal(seen.call!.timeoutMs(), undefined, "no deadline when the caller sets none");
  });

  test("refusals look exactly as through the router transport (code, ErrorInfo, RetryInfo; no internal detail)", async () => {
    for (const command of ["invalid", "throttle", "crash"]) {
      const payload = new TextEncoder().encode(command);
      const viaDirect = await refusal(direct.echo({ payload }));
      assert.deepEqual(viaDirect, await refusal(routed.echo({ payload })), command);
      assert.doesNotMatch(viaDirect.message, /secret-internal-detail/);
    }
    assert.equal((await refusal(direct.echo({ payload: new TextEncoder().encode("invalid") }))).code, Code.InvalidArgument);
  });
  test("client interceptors run around the call: a header they add reaches the handler, and they see the answer or the refusal", async () => {
    const log: string[] = [];
    const tracing: Interceptor = (next) => async (request) => {
      request.header.set("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
      log.push(`out ${request.method.name}`);
      try {
        const response = await next(request);
        log.push("ok");
        return response;
      } catch (error) {
        log.push(`failed ${ConnectError.from(error).code}`);
        throw error;
      }
    };
    const intercepted = createClient(EchoService, createDirectTransport([binding], [], createSilentLogger(), { callingService: "key-service", clientInterceptors: [tracing] }));
    const answer = await intercepted.echo({ payload: new Uint8Array([7]) });
    assert.deepEqual(answer.payload, new Uint8Array([7]));
    assert.equal(seen.call!.header("traceparent"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
    assert.equal((await refusal(intercepted.echo({ payload: new TextEncoder().encode("invalid") }))).code, Code.InvalidArgument);
    assert.deepEqual(log, ["out Echo", "ok", "out Echo", `failed ${Code.InvalidArgument}`]);
  });
});

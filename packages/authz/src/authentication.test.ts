import assert from "node:assert/strict";
import { test } from "node:test";
import { EchoService } from "@keyhold/proto";
import { createClient, ConnectError, Code } from "@connectrpc/connect";
import { bindService, callerOf, createInMemoryTransport, createSilentLogger, type Principal } from "@keyhold/server-kit";
import { authenticationInterceptor } from "./authentication.ts";
import { forwardedCallerHeaders } from "./forwarded-caller.ts";
import { rootCredential, rootOnlyAuthority } from "./root-only-authority.ts";
import { sourceIpOf } from "./source-ip.ts";

const whoami = bindService(
  EchoService,
  { async echo(_request, call) { const p = callerOf(call); return { payload: new TextEncoder().encode(`${p.kind} ${p.krn} ${call.callingService ?? "-"}`) }; } },
  [authenticationInterceptor(rootOnlyAuthority())],
);

async function ask(options: Parameters<typeof createInMemoryTransport>[3]): Promise<string> {
  const client = createClient(EchoService, createInMemoryTransport([whoami], [], createSilentLogger(), options));
  return new TextDecoder().decode((await client.echo({})).payload);
}

const codeOf = async (p: Promise<unknown>) => ConnectError.from(await p.then(() => assert.fail("expected an error"), (e: unknown) => e)).code;

test("a bearer credential becomes the principal", async () => {
  assert.equal(await ask({ headers: { authorization: `Bearer ${rootCredential("111122223333")}` } }), "root krn:keyhold:iam::111122223333:root -");
});

test("the Bearer scheme is case-insensitive", async () => {
  assert.equal(await ask({ headers: { authorization: `bearer ${rootCredential("111122223333")}` } }), "root krn:keyhold:iam::111122223333:root -");
});

test("no, malformed or wrong credentials are UNAUTHENTICATED", async () => {
  assert.equal(await codeOf(ask({})), Code.Unauthenticated);
  assert.equal(await codeOf(ask({ headers: { authorization: "Basic abc" } })), Code.Unauthenticated);
  assert.equal(await codeOf(ask({ headers: { authorization: "Bearer wrong" } })), Code.Unauthenticated);
});

test("a forwarded caller is honoured only from a trusted calling service", async () => {
  const alice: Principal = { accountId: "111122223333", krn: "krn:keyhold:iam::111122223333:user/alice", kind: "user", name: "alice" };
  assert.equal(
    await ask({ callingService: "secrets-service", headers: forwardedCallerHeaders(alice) }),
    "user krn:keyhold:iam::111122223333:user/alice secrets-service",
  );
  // From an outside client the header means nothing: no bearer credential, no entry.
  assert.equal(await codeOf(ask({ headers: forwardedCallerHeaders(alice) })), Code.Unauthenticated);
  // A trusted service with no end caller acts as itself.
  assert.equal(await ask({ callingService: "key-service" }), "service krn:keyhold:iam::keyhold:service/key-service key-service");
});

test("source addresses are normalised", () => {
  assert.equal(sourceIpOf("127.0.0.1:5000"), "127.0.0.1");
  assert.equal(sourceIpOf("[::1]:5000"), "::1");
  assert.equal(sourceIpOf("::ffff:10.1.2.3"), "10.1.2.3");
  assert.equal(sourceIpOf("10.1.2.3"), "10.1.2.3");
  assert.equal(sourceIpOf(""), undefined);
});

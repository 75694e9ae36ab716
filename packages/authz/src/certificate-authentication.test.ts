// Client certificate authentication in authenticationInterceptor: the verified certificate of the
// connection, or — from a trusted mesh proxy only — the x-forwarded-client-cert header; and the
// XFCC parser itself.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { EchoService } from "@keyhold/proto";
import { bindService, callerOf, createInMemoryTransport, createSilentLogger, KeyholdError, type PeerIdentity, type Principal } from "@keyhold/server-kit";
import { authenticationInterceptor, type AuthenticationOptions } from "./authentication.ts";
import type { AuthorizationQuery, PolicyAuthority } from "./authority.ts";
import { CallAccess } from "./call-access.ts";
import { forwardedCallerHeaders } from "./forwarded-caller.ts";
import { rootCredential, rootOnlyAuthority } from "./root-only-authority.ts";
import { parseXfcc, xfccPeerIdentity } from "./xfcc.ts";

const ACCOUNT = "111122223333";
const user = (name: string): Principal => ({ accountId: ACCOUNT, krn: `krn:keyhold:iam::${ACCOUNT}:user/${name}`, kind: "user", name });
const APP_ID = "spiffe://example.org/ns/prod/sa/app";
const SIDECAR_ID = "spiffe://example.org/ns/mesh/sa/sidecar";

/** Root credentials as rootOnlyAuthority; certificates: the first mapped URI, then DNS name. */
function certificateAuthority(): PolicyAuthority & { asked: PeerIdentity[] } {
  const mapped = new Map<string, Principal>([
    [APP_ID, user("app")],
    ["worker.example.org", user("worker")],
    [SIDECAR_ID, user("sidecar")],
  ]);
  const asked: PeerIdentity[] = [];
  return {
    ...rootOnlyAuthority(),
    asked,
    async authenticateCertificate(identity) {
      asked.push(identity);
      for (const name of [...identity.uris, ...identity.dnsNames]) {
        const principal = mapped.get(name);
        if (principal !== undefined) return principal;
      }
      throw new KeyholdError("UNAUTHENTICATED", "invalid credential");
    },
  };
}

interface Ask {
  readonly headers?: Record<string, string>;
  readonly peerAddress?: string;
  readonly peerIdentity?: PeerIdentity;
  readonly callingService?: string;
}

async function whoami(ask: Ask, options?: AuthenticationOptions, authority: PolicyAuthority = certificateAuthority()): Promise<string> {
  const binding = bindService(
    EchoService,
    { async echo(_request, call) { return { payload: new TextEncoder().encode(callerOf(call).krn) }; } },
    [authenticationInterceptor(authority, options)],
  );
  const client = createClient(EchoService, createInMemoryTransport([binding], [], createSilentLogger(), ask));
  return new TextDecoder().decode((await client.echo({})).payload);
}

async function refused(promise: Promise<unknown>): Promise<string> {
  const error = ConnectError.from(await promise.then(() => assert.fail("expected UNAUTHENTICATED"), (e: unknown) => e));
  assert.equal(error.code, Code.Unauthenticated, error.rawMessage);
  return error.rawMessage;
}

const app = user("app").krn;
const worker = user("worker").krn;
const root = `krn:keyhold:iam::${ACCOUNT}:root`;
const xfcc = (uri: string) => `By=spiffe://example.org/ns/keyhold/sa/keyhold;Hash=0f1e2d3c;Subject="CN=client,O=Example";URI=${uri}`;

describe("parseXfcc / xfccPeerIdentity", () => {
  test("Envoy's format: elements, pairs, case-insensitive keys, repeated DNS, the last element is the client", () => {
    assert.deepEqual(parseXfcc("By=spiffe://a/b;Hash=abc;URI=spiffe://c/d;DNS=x.example;dns=y.example"), [
      [["by", "spiffe://a/b"], ["hash", "abc"], ["uri", "spiffe://c/d"], ["dns", "x.example"], ["dns", "y.example"]],
    ]);
    const twoHops = "By=spiffe://hop/1;URI=spiffe://first/client,By=spiffe://hop/2;URI=spiffe://second/client;DNS=second.example";
    assert.deepEqual(xfccPeerIdentity(twoHops), { uris: ["spiffe://second/client"], dnsNames: ["second.example"] });
  });

  test("quoted values may hold , ; = and escaped quotes", () => {
    const header = 'Hash=1;Subject="CN=a,O=b;c";URI="spiffe://q/x";Cert="-----BEGIN%20CERT \\"q\\"",By=spiffe://b;URI=spiffe://last/one';
    assert.deepEqual(parseXfcc(header), [
      [["hash", "1"], ["subject", "CN=a,O=b;c"], ["uri", "spiffe://q/x"], ["cert", '-----BEGIN%20CERT "q"']],
      [["by", "spiffe://b"], ["uri", "spiffe://last/one"]],
    ]);
    assert.deepEqual(xfccPeerIdentity(header), { uris: ["spiffe://last/one"], dnsNames: [] });
  });

  test("an element without URI or DNS is an identity with no names; whitespace around pairs is ignored", () => {
    assert.deepEqual(xfccPeerIdentity("By=spiffe://a/b;Hash=abc"), { uris: [], dnsNames: [] });
    assert.deepEqual(xfccPeerIdentity(" URI=spiffe://a/b ; DNS=c.example , URI=spiffe://d/e "), { uris: ["spiffe://d/e"], dnsNames: [] });
  });

  test("malformed headers are undefined", () => {
    for (const bad of ["", "URI", 'URI="spiffe://open', "URI=a;", "URI=a,", "URI=a;;DNS=b", '=x', 'URI=a"b', 'URI="a"b', "By=x;URI"]) {
      assert.equal(xfccPeerIdentity(bad), undefined, bad);
    }
  });
});

describe("authentication by client certificate", () => {
  test("a verified client certificate's SANs authenticate when there is no bearer credential", async () => {
    assert.equal(await whoami({ peerIdentity: { uris: [APP_ID], dnsNames: [] } }), app);
    assert.equal(await whoami({ peerIdentity: { uris: ["spiffe://example.org/unmapped"], dnsNames: ["worker.example.org"] } }), worker);
  });

  test("a bearer credential wins over the certificate; a bad one is refused, never falling back to the certificate", async () => {
    const peerIdentity = { uris: [APP_ID], dnsNames: [] };
    assert.equal(await whoami({ peerIdentity, headers: { authorization: `Bearer ${rootCredential(ACCOUNT)}` } }), root);
    await refused(whoami({ peerIdentity, headers: { authorization: "Bearer wrong" } }));
    await refused(whoami({ peerIdentity, headers: { authorization: "Basic abc" } }));
  });

  test("an unmapped certificate, or one with no URI or DNS SAN, is UNAUTHENTICATED", async () => {
    assert.equal(await refused(whoami({ peerIdentity: { uris: ["spiffe://example.org/nobody"], dnsNames: ["nobody.example.org"] } })), "invalid credential");
    assert.match(await refused(whoami({ peerIdentity: { uris: [], dnsNames: [] } })), /^missing credential/);
    assert.match(await refused(whoami({})), /^missing credential/);
  });

  test("at most 32 URIs and 32 DNS names are passed on", async () => {
    const authority = certificateAuthority();
    const many = Array.from({ length: 40 }, (_, i) => `spiffe://example.org/n${i}`);
    await refused(whoami({ peerIdentity: { uris: many, dnsNames: many.map((_, i) => `n${i}.example`) } }, {}, authority));
    assert.equal(authority.asked[0]!.uris.length, 32);
    assert.equal(authority.asked[0]!.dnsNames.length, 32);
  });

  test("a trusted Keyhold service's forwarded caller still comes first", async () => {
    const alice = user("alice");
    assert.equal(await whoami({ callingService: "key-service", headers: forwardedCallerHeaders(alice), peerIdentity: { uris: [APP_ID], dnsNames: [] } }), alice.krn);
  });
});

describe("x-forwarded-client-cert from a mesh proxy", () => {
  const trusted = { trustedProxies: ["127.0.0.1", "10.0.0.0/8", "::1"] };

  test("from a trusted proxy address, the last element's URI / DNS identify the caller", async () => {
    for (const peerAddress of ["127.0.0.1:50123", "127.0.0.1", "::ffff:10.1.2.3", "[::1]:443"]) {
      assert.equal(await whoami({ peerAddress, headers: { "x-forwarded-client-cert": xfcc(APP_ID) } }, trusted), app, peerAddress);
    }
    assert.equal(await whoami({ peerAddress: "10.0.0.9:1", headers: { "x-forwarded-client-cert": "By=a;URI=spiffe://x/y,By=b;DNS=worker.example.org" } }, trusted), worker);
  });

  test("from any other peer the header is ignored: no identity, or the connection's own certificate", async () => {
    const headers = { "x-forwarded-client-cert": xfcc(APP_ID) };
    for (const peerAddress of ["192.0.2.10:40000", "11.0.0.1", "[fe80::1]:1", ""]) {
      assert.match(await refused(whoami({ peerAddress, headers }, trusted)), /^missing credential/, peerAddress);
    }
    assert.equal(await whoami({ peerAddress: "192.0.2.10:40000", headers, peerIdentity: { uris: [], dnsNames: ["worker.example.org"] } }, trusted), worker);
  });

  test("with no trusted proxies configured (the default) the header is ignored from everyone", async () => {
    await refused(whoami({ peerAddress: "127.0.0.1:5000", headers: { "x-forwarded-client-cert": xfcc(APP_ID) } }));
    await refused(whoami({ peerAddress: "127.0.0.1:5000", headers: { "x-forwarded-client-cert": xfcc(APP_ID) } }, { trustedProxies: [] }));
  });

  test("from a trusted proxy only the forwarded identity counts: never the proxy's own certificate", async () => {
    const proxy = { peerAddress: "127.0.0.1:5000", peerIdentity: { uris: [SIDECAR_ID], dnsNames: [] } };
    assert.match(await refused(whoami(proxy, trusted)), /^missing credential/);
    assert.equal(await whoami({ ...proxy, headers: { "x-forwarded-client-cert": xfcc(APP_ID) } }, trusted), app);
  });

  test("a malformed header from a trusted proxy is refused; a bearer credential still wins over it", async () => {
    assert.match(await refused(whoami({ peerAddress: "127.0.0.1:1", headers: { "x-forwarded-client-cert": 'URI="spiffe://open' } }, trusted)), /malformed x-forwarded-client-cert/);
    const headers = { "x-forwarded-client-cert": xfcc(APP_ID), authorization: `Bearer ${rootCredential(ACCOUNT)}` };
    assert.equal(await whoami({ peerAddress: "127.0.0.1:1", headers }, trusted), root);
  });

  test("unmapped forwarded identities are UNAUTHENTICATED", async () => {
    assert.equal(await refused(whoami({ peerAddress: "127.0.0.1:1", headers: { "x-forwarded-client-cert": xfcc("spiffe://example.org/other") } }, trusted)), "invalid credential");
  });
});

test("CallAccess asks with the call's transport security", async () => {
  const queries: AuthorizationQuery[] = [];
  const authority: PolicyAuthority = {
    ...certificateAuthority(),
    async authorize(query) {
      queries.push(query);
      return { allowed: true, reason: "allowed", decidedBy: undefined, dependsOn: { encryptionContext: false, sourceIp: false, time: false } };
    },
  };
  const access = new CallAccess(authority);
  const binding = bindService(
    EchoService,
    { async echo(_request, call) { await access.require(call, "kms:Encrypt", "krn:keyhold:kms:local:111122223333:key/k"); return {}; } },
    [authenticationInterceptor(authority)],
  );
  for (const secureTransport of [false, true]) {
    const options = { secureTransport, headers: { authorization: `Bearer ${rootCredential(ACCOUNT)}` } };
    await createClient(EchoService, createInMemoryTransport([binding], [], createSilentLogger(), options)).echo({});
  }
  await createClient(EchoService, createInMemoryTransport([binding], [], createSilentLogger(), { peerIdentity: { uris: [APP_ID], dnsNames: [] } })).echo({});
  assert.deepEqual(queries.map((q) => [q.principal.krn, q.secureTransport]), [[root, false], [root, true], [app, true]]);
});

// TLS on both front doors through real sockets and a real (throwaway) PKI: server-only TLS,
// optional client certificates and required ones. What a handler sees: secureTransport, and the
// SANs of a client certificate only when it verified against the client CA.
import assert from "node:assert/strict";
import { connect as tlsConnect } from "node:tls";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { EchoService } from "@keyhold/proto";
import { bindService } from "./call.ts";
import { fixedIdentity, identityInterceptor } from "./identity.ts";
import { createSilentLogger } from "./logger.ts";
import { KeyholdServer } from "./server.ts";
import { createTestPki, TEST_DNS_NAME, TEST_SPIFFE_ID, type TestCertificate, type TestPki } from "./test-pki.ts";
import type { ServerTlsOptions } from "./tls.ts";

const principal = { accountId: "111122223333", krn: "krn:keyhold:iam::111122223333:root", kind: "root", name: "root" } as const;

interface Seen {
  secure: boolean;
  identity: { uris: string[]; dnsNames: string[] } | null;
}

let handled = 0;

/** Echo answers with what the call context says about the transport. */
const transportEcho = bindService(EchoService, {
  async echo(_request, call) {
    handled++;
    const identity = call.peerIdentity;
    const seen: Seen = { secure: call.secureTransport, identity: identity === undefined ? null : { uris: [...identity.uris], dnsNames: [...identity.dnsNames] } };
    return { payload: new TextEncoder().encode(JSON.stringify(seen)) };
  },
});

async function startServer(tls: ServerTlsOptions | undefined): Promise<{ server: KeyholdServer; grpcPort: number; httpPort: number }> {
  const server = new KeyholdServer({
    bindings: [transportEcho],
    interceptors: [identityInterceptor(fixedIdentity(principal))],
    logger: createSilentLogger(),
    grpc: { host: "127.0.0.1", port: 0 },
    http: { host: "127.0.0.1", port: 0 },
    maxMessageBytes: 64 * 1024,
    corsOrigins: [],
    shutdownGraceMs: 1000,
    tls,
  });
  const { grpcPort, httpPort } = await server.start();
  return { server, grpcPort: grpcPort!, httpPort: httpPort! };
}

type Protocol = "grpc" | "connect" | "grpcWeb";
const PROTOCOLS: readonly Protocol[] = ["grpc", "connect", "grpcWeb"];

function client(protocol: Protocol, ports: { grpcPort: number; httpPort: number }, ca: Buffer, certificate?: TestCertificate): Client<typeof EchoService> {
  const identity = certificate === undefined ? {} : { cert: certificate.cert, key: certificate.key };
  if (protocol === "grpc") {
    return createClient(EchoService, createGrpcTransport({ baseUrl: `https://127.0.0.1:${ports.grpcPort}`, nodeOptions: { ca, ...identity } }));
  }
  const options = { baseUrl: `https://127.0.0.1:${ports.httpPort}`, httpVersion: "1.1" as const, nodeOptions: { ca, agent: false as const, ...identity } };
  return createClient(EchoService, protocol === "connect" ? createConnectTransport(options) : createGrpcWebTransport(options));
}

async function seen(c: Client<typeof EchoService>): Promise<Seen> {
  const { payload } = await c.echo({}, { timeoutMs: 5000 });
  return JSON.parse(new TextDecoder().decode(payload)) as Seen;
}

/**
 * A raw TLS handshake with the port (as an h2 or HTTP/1.1 client), holding the connection open
 * briefly: the TLS alert the server sends, "closed" when it hangs up without one, or "accepted".
 */
async function handshake(port: number, alpn: string, ca: Buffer, certificate?: TestCertificate): Promise<string> {
  return new Promise((resolve) => {
    const identity = certificate === undefined ? {} : { cert: certificate.cert, key: certificate.key };
    const socket = tlsConnect({ host: "127.0.0.1", port, ca, ALPNProtocols: [alpn], ...identity });
    let timer: NodeJS.Timeout | undefined;
    socket.once("secureConnect", () => {
      socket.resume();
      // TLS 1.3: the server checks the client certificate after the client finished; its verdict follows.
      timer = setTimeout(() => {
        socket.destroy();
        resolve("accepted");
      }, 300);
    });
    socket.once("error", (error) => {
      clearTimeout(timer);
      resolve(error.message);
    });
    socket.once("close", () => {
      clearTimeout(timer);
      resolve("closed");
    });
  });
}

async function failure(promise: Promise<unknown>): Promise<ConnectError> {
  return promise.then(
    () => assert.fail("expected the call to fail"),
    (error: unknown) => ConnectError.from(error),
  );
}

let pki: TestPki;
before(() => {
  pki = createTestPki();
});
after(() => pki.remove());

describe("plaintext server", () => {
  test("secureTransport is false and there is no peer identity", async () => {
    const s = await startServer(undefined);
    try {
      const c = createClient(EchoService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${s.grpcPort}` }));
      assert.deepEqual(await seen(c), { secure: false, identity: null });
      const h = createClient(EchoService, createConnectTransport({ baseUrl: `http://127.0.0.1:${s.httpPort}`, httpVersion: "1.1" }));
      assert.deepEqual(await seen(h), { secure: false, identity: null });
    } finally {
      await s.server.stop();
    }
  });
});

describe("server TLS, no client CA", () => {
  let s: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    s = await startServer({ certFile: pki.server.certFile, keyFile: pki.server.keyFile, requireClientCert: false });
  });
  after(() => s.server.stop());

  for (const protocol of PROTOCOLS) {
    test(`${protocol}: answers over TLS; a client certificate is not asked for, so there is no identity`, async () => {
      assert.deepEqual(await seen(client(protocol, s, pki.ca)), { secure: true, identity: null });
      assert.deepEqual(await seen(client(protocol, s, pki.ca, pki.spiffeClient)), { secure: true, identity: null });
    });
  }

  test("a client that does not trust the server's CA refuses it; plaintext gets no answer", async () => {
    const untrusting = createClient(EchoService, createGrpcTransport({ baseUrl: `https://127.0.0.1:${s.grpcPort}`, nodeOptions: { ca: pki.untrustedClient.cert } }));
    assert.match((await failure(untrusting.echo({}, { timeoutMs: 5000 }))).rawMessage, /certificate/);
    const plaintext = createClient(EchoService, createConnectTransport({ baseUrl: `http://127.0.0.1:${s.httpPort}`, httpVersion: "1.1" }));
    await failure(plaintext.echo({}, { timeoutMs: 5000 }));
  });

  test("the raw handshake: accepted with or without a client certificate", async () => {
    assert.equal(await handshake(s.grpcPort, "h2", pki.ca), "accepted");
    assert.equal(await handshake(s.httpPort, "http/1.1", pki.ca, pki.untrustedClient), "accepted");
  });

  test("TLS 1.2 or later: both ports negotiate TLS 1.3 by default and refuse TLS 1.1", async () => {
    for (const port of [s.grpcPort, s.httpPort]) {
      const protocol = await new Promise<string | null>((resolve, reject) => {
        const socket = tlsConnect({ host: "127.0.0.1", port, ca: pki.ca, ALPNProtocols: port === s.grpcPort ? ["h2"] : ["http/1.1"] }, () => {
          resolve(socket.getProtocol());
          socket.end();
        });
        socket.once("error", reject);
      });
      assert.equal(protocol, "TLSv1.3");
      const old = await new Promise<Error | undefined>((resolve) => {
        // SECLEVEL=0 lets this client offer TLS 1.1, so the refusal is the server's.
        const socket = tlsConnect({ host: "127.0.0.1", port, ca: pki.ca, minVersion: "TLSv1", maxVersion: "TLSv1.1", ciphers: "DEFAULT@SECLEVEL=0" }, () => {
          socket.end();
          resolve(undefined);
        });
        socket.once("error", resolve);
      });
      assert.ok(old !== undefined, "a TLS 1.1 handshake must fail");
      assert.match(old.message, /alert protocol version|unsupported protocol/i);
    }
  });
});

describe("client CA, client certificates optional", () => {
  let s: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    s = await startServer({ certFile: pki.server.certFile, keyFile: pki.server.keyFile, clientCaFile: pki.caFile, requireClientCert: false });
  });
  after(() => s.server.stop());

  for (const protocol of PROTOCOLS) {
    test(`${protocol}: a verified certificate's URI and DNS SANs are the peer identity`, async () => {
      assert.deepEqual(await seen(client(protocol, s, pki.ca, pki.spiffeClient)), { secure: true, identity: { uris: [TEST_SPIFFE_ID], dnsNames: [] } });
      assert.deepEqual(await seen(client(protocol, s, pki.ca, pki.dnsClient)), { secure: true, identity: { uris: [], dnsNames: [TEST_DNS_NAME] } });
    });

    test(`${protocol}: no certificate, or one from another CA (same SAN), connects with no identity`, async () => {
      assert.deepEqual(await seen(client(protocol, s, pki.ca)), { secure: true, identity: null });
      assert.deepEqual(await seen(client(protocol, s, pki.ca, pki.untrustedClient)), { secure: true, identity: null });
    });
  }
});

describe("client CA, client certificates required", () => {
  let s: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    s = await startServer({ certFile: pki.server.certFile, keyFile: pki.server.keyFile, clientCaFile: pki.caFile, requireClientCert: true });
  });
  after(() => s.server.stop());

  for (const protocol of PROTOCOLS) {
    test(`${protocol}: a verified certificate is served, with its identity`, async () => {
      assert.deepEqual(await seen(client(protocol, s, pki.ca, pki.spiffeClient)), { secure: true, identity: { uris: [TEST_SPIFFE_ID], dnsNames: [] } });
    });

    test(`${protocol}: no certificate, or one from another CA, fails and never reaches a handler`, async () => {
      const before = handled;
      for (const certificate of [undefined, pki.untrustedClient]) {
        const error = await failure(client(protocol, s, pki.ca, certificate).echo({}, { timeoutMs: 5000 }));
        assert.ok([Code.Unavailable, Code.Canceled, Code.Aborted, Code.Internal].includes(error.code), `${protocol}: ${error.code} ${error.rawMessage}`);
      }
      assert.equal(handled, before);
    });
  }

  test("the handshake itself refuses: no certificate gets the 'certificate required' alert, another CA's is cut off", async () => {
    for (const [port, alpn] of [[s.grpcPort, "h2"], [s.httpPort, "http/1.1"]] as const) {
      assert.match(await handshake(port, alpn, pki.ca), /alert certificate required/, alpn);
      // Node verifies the chain once OpenSSL finished the handshake, and destroys the socket.
      assert.match(await handshake(port, alpn, pki.ca, pki.untrustedClient), /^closed$|ECONNRESET|alert unknown ca/, alpn);
      assert.equal(await handshake(port, alpn, pki.ca, pki.dnsClient), "accepted", alpn);
    }
  });
});

describe("TLS configuration errors", () => {
  test("requiring client certificates without a client CA, or an unreadable file, fails start()", async () => {
    await assert.rejects(startServer({ certFile: pki.server.certFile, keyFile: pki.server.keyFile, requireClientCert: true }), /client CA/);
    await assert.rejects(startServer({ certFile: `${pki.dir}/missing.pem`, keyFile: pki.server.keyFile, requireClientCert: false }), /TLS certificate file .*missing\.pem: ENOENT/);
  });
});

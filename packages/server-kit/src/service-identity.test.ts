// Peer service identity over the network, on both front doors (gRPC via grpc-js; Connect and
// gRPC-Web over HTTPS) with a real dev CA: a verified certificate whose only URI SAN is
// spiffe://keyhold.internal/service/<known service> makes the call that service's
// (CallContext.callingService); nothing else does — no header, no certificate from another CA,
// no unknown service name, no certificate mixing a service id with other URIs, no user's
// certificate, no plaintext connection.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { EchoService } from "@keyhold/proto";
import { bindService } from "./call.ts";
import { createDevCa, devCaFiles, type DevCaResult } from "./dev-ca.ts";
import { fixedIdentity, identityInterceptor } from "./identity.ts";
import { createSilentLogger } from "./logger.ts";
import { KeyholdServer } from "./server.ts";
import { KEYHOLD_SERVICES, serviceOfPeerIdentity } from "./service-identity.ts";
import { createTestPki, issueClientCertificate, type TestCertificate, type TestPki } from "./test-pki.ts";

const principal = { accountId: "111122223333", krn: "krn:keyhold:iam::111122223333:root", kind: "root", name: "root" } as const;

const whoCalls = bindService(EchoService, {
  async echo(_request, call) {
    return { payload: new TextEncoder().encode(call.callingService ?? "(none)") };
  },
});

type Protocol = "grpc" | "connect" | "grpcWeb";
const PROTOCOLS: readonly Protocol[] = ["grpc", "connect", "grpcWeb"];

interface Ports {
  readonly grpcPort: number;
  readonly httpPort: number;
}

function client(protocol: Protocol, ports: Ports, tls: { ca: Buffer; certificate?: TestCertificate } | undefined, headers: Record<string, string> = {}): Client<typeof EchoService> {
  const setHeaders: Interceptor = (next) => (request) => {
    for (const [name, value] of Object.entries(headers)) request.header.set(name, value);
    return next(request);
  };
  const interceptors = [setHeaders];
  const scheme = tls === undefined ? "http" : "https";
  const identity = tls?.certificate === undefined ? {} : { cert: tls.certificate.cert, key: tls.certificate.key };
  const ca = tls === undefined ? {} : { ca: tls.ca };
  if (protocol === "grpc") {
    return createClient(EchoService, createGrpcTransport({ baseUrl: `${scheme}://127.0.0.1:${ports.grpcPort}`, interceptors, nodeOptions: { ...ca, ...identity } }));
  }
  const options = { baseUrl: `${scheme}://127.0.0.1:${ports.httpPort}`, httpVersion: "1.1" as const, interceptors, nodeOptions: { ...ca, agent: false as const, ...identity } };
  return createClient(EchoService, protocol === "connect" ? createConnectTransport(options) : createGrpcWebTransport(options));
}

async function callingService(c: Client<typeof EchoService>): Promise<string> {
  const { payload } = await c.echo({}, { timeoutMs: 5000 });
  return new TextDecoder().decode(payload);
}

describe("serviceOfPeerIdentity", () => {
  test("exactly one URI SAN, a known service's SPIFFE id", () => {
    for (const service of KEYHOLD_SERVICES) {
      assert.equal(serviceOfPeerIdentity({ uris: [`spiffe://keyhold.internal/service/${service}`], dnsNames: ["localhost", service] }), service);
    }
    assert.equal(serviceOfPeerIdentity(undefined), undefined);
    assert.equal(serviceOfPeerIdentity({ uris: [], dnsNames: ["key-service"] }), undefined);
    assert.equal(serviceOfPeerIdentity({ uris: ["spiffe://keyhold.internal/service/intruder"], dnsNames: [] }), undefined);
    assert.equal(serviceOfPeerIdentity({ uris: ["spiffe://keyhold.internal/service/key-service/x"], dnsNames: [] }), undefined);
    assert.equal(serviceOfPeerIdentity({ uris: ["spiffe://other.domain/service/key-service"], dnsNames: [] }), undefined);
    assert.equal(serviceOfPeerIdentity({ uris: ["SPIFFE://keyhold.internal/service/key-service"], dnsNames: [] }), undefined);
    assert.equal(
      serviceOfPeerIdentity({ uris: ["spiffe://keyhold.internal/service/key-service", "spiffe://example.org/user/alice"], dnsNames: [] }),
      undefined,
    );
  });
});

describe("createDevCa", () => {
  test("a CA and one certificate per service, keys 0600, kept on a second run unless forced", () => {
    const dir = mkdtempSync(join(tmpdir(), "keyhold-devca-"));
    try {
      const first = createDevCa(join(dir, "ca"));
      assert.deepEqual(first.created, ["ca", ...KEYHOLD_SERVICES, "envoy"]);
      assert.equal(statSync(first.edge.keyFile).mode & 0o777, 0o600);
      assert.match(readFileSync(first.caFile, "utf8"), /^-----BEGIN CERTIFICATE-----/);
      assert.equal(statSync(join(dir, "ca", "ca.key")).mode & 0o777, 0o600);
      assert.equal(statSync(join(dir, "ca")).mode & 0o777, 0o700);
      for (const service of KEYHOLD_SERVICES) assert.equal(statSync(first.services[service].keyFile).mode & 0o777, 0o600);
      const caBefore = readFileSync(first.caFile);
      rmSync(first.services["audit-service"].certFile);
      const second = createDevCa(join(dir, "ca"));
      assert.deepEqual(second.created, ["audit-service"]);
      assert.deepEqual(readFileSync(second.caFile), caBefore);
      const forced = createDevCa(join(dir, "ca"), { force: true });
      assert.deepEqual(forced.created, ["ca", ...KEYHOLD_SERVICES, "envoy"]);
      assert.notDeepEqual(readFileSync(forced.caFile), caBefore);
      assert.deepEqual(devCaFiles(join(dir, "ca")).caFile, forced.caFile);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("callingService from a verified service certificate", () => {
  let ca: DevCaResult;
  let other: TestPki;
  let dir: string;
  let server: KeyholdServer;
  let plain: KeyholdServer;
  let ports: Ports;
  let plainPorts: Ports;
  const certs: Record<string, TestCertificate> = {};

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "keyhold-service-identity-"));
    ca = createDevCa(join(dir, "ca"));
    other = createTestPki();
    const fromFiles = (files: { certFile: string; keyFile: string }): TestCertificate => ({ ...files, cert: readFileSync(files.certFile), key: readFileSync(files.keyFile) });
    certs["key-service"] = fromFiles(ca.services["key-service"]);
    certs["xki-proxy"] = fromFiles(ca.services["xki-proxy"]);
    certs["envoy"] = fromFiles(ca.edge);
    const caFiles = { certFile: ca.caFile, keyFile: join(dir, "ca", "ca.key") };
    certs["user"] = issueClientCertificate(dir, caFiles, "user", ["URI:spiffe://keyhold.internal/user/alice", "DNS:alice.example.org"]);
    certs["unknown"] = issueClientCertificate(dir, caFiles, "unknown", ["URI:spiffe://keyhold.internal/service/intruder"]);
    certs["mixed"] = issueClientCertificate(dir, caFiles, "mixed", ["URI:spiffe://keyhold.internal/service/key-service", "URI:spiffe://example.org/user/alice"]);
    certs["dnsOnly"] = issueClientCertificate(dir, caFiles, "dns-only", ["DNS:key-service"]);
    // Another CA's certificate bearing key-service's SPIFFE id.
    certs["impostor"] = issueClientCertificate(other.dir, { certFile: join(other.dir, "other-ca.pem"), keyFile: join(other.dir, "other-ca.key") }, "impostor", [
      "URI:spiffe://keyhold.internal/service/key-service",
    ]);
    const options = {
      bindings: [whoCalls],
      interceptors: [identityInterceptor(fixedIdentity(principal))],
      logger: createSilentLogger(),
      grpc: { host: "127.0.0.1", port: 0 },
      http: { host: "127.0.0.1", port: 0 },
      maxMessageBytes: 64 * 1024,
      corsOrigins: [],
      shutdownGraceMs: 500,
    };
    const serverCert = ca.services["policy-service"];
    // Optional client certificates: the impostor connects, but its certificate does not verify.
    server = new KeyholdServer({ ...options, tls: { certFile: serverCert.certFile, keyFile: serverCert.keyFile, clientCaFile: ca.caFile, requireClientCert: false } });
    const bound = await server.start();
    ports = { grpcPort: bound.grpcPort!, httpPort: bound.httpPort! };
    plain = new KeyholdServer(options);
    const plainBound = await plain.start();
    plainPorts = { grpcPort: plainBound.grpcPort!, httpPort: plainBound.httpPort! };
  });

  after(async () => {
    await server.stop();
    await plain.stop();
    other.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const protocol of PROTOCOLS) {
    describe(protocol, () => {
      test("a service's certificate makes the call that service's", async () => {
        const tls = { ca: readFileSync(ca.caFile) };
        assert.equal(await callingService(client(protocol, ports, { ...tls, certificate: certs["key-service"]! })), "key-service");
        assert.equal(await callingService(client(protocol, ports, { ...tls, certificate: certs["xki-proxy"]! })), "xki-proxy");
      });

      test("no certificate: no service, whatever the headers claim", async () => {
        const tls = { ca: readFileSync(ca.caFile) };
        const forged = { "x-keyhold-calling-service": "key-service", "x-keyhold-caller": "e30", "x-forwarded-client-cert": "URI=spiffe://keyhold.internal/service/key-service" };
        assert.equal(await callingService(client(protocol, ports, tls, forged)), "(none)");
        assert.equal(await callingService(client(protocol, ports, tls)), "(none)");
      });

      test("the edge proxy's, a user's, an unknown service's, a mixed, a DNS-only and another CA's certificate are no service's", async () => {
        const tls = { ca: readFileSync(ca.caFile) };
        for (const name of ["envoy", "user", "unknown", "mixed", "dnsOnly", "impostor"]) {
          assert.equal(await callingService(client(protocol, ports, { ...tls, certificate: certs[name]! })), "(none)", name);
        }
      });

      test("plaintext: no service", async () => {
        assert.equal(await callingService(client(protocol, plainPorts, undefined, { "x-keyhold-calling-service": "key-service" })), "(none)");
      });
    });
  }
});

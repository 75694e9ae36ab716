// The XKS client against real HTTP and HTTPS servers on loopback: what it sends (path with the
// prefix, SigV4 for kms-xks-proxy, the JSON bodies), keep-alive reuse, the deadline, connection
// refused, each spec error name, answers that are not XKS, the CDIV check, and mTLS.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { verifyRequest } from "@keyhold/sigv4";
import { XksClient, XksTransportError, XKS_ERROR_STATUS, XksError, ciphertextDataIntegrityValue, type XksErrorName } from "./index.ts";

const CREDENTIALS = { accessKeyId: "ABCDEFGHIJKLMNOPQRST", secretAccessKey: "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA==" };
const REGION = "test-1";
const META = { awsPrincipalArn: "krn:keyhold:iam::111122223333:root", kmsKeyArn: "krn:keyhold:kms:test-1:111122223333:key/k", kmsOperation: "Encrypt", kmsRequestId: "r-1" };

interface Seen {
  readonly path: string;
  readonly body: Record<string, unknown>;
  readonly signed: boolean;
  readonly socket: unknown;
}

type Reply = (seen: Seen) => { status: number; body: unknown; delayMs?: number };

function headerPairs(request: http.IncomingMessage): [string, string][] {
  const pairs: [string, string][] = [];
  for (let i = 0; i < request.rawHeaders.length; i += 2) pairs.push([request.rawHeaders[i]!, request.rawHeaders[i + 1]!]);
  return pairs;
}

/** An HTTP(S) server that records requests, checks their signature and answers `reply`. */
async function startServer(options: { tls?: https.ServerOptions } = {}) {
  const seen: Seen[] = [];
  let reply: Reply = () => ({ status: 200, body: {} });
  const handler = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (c: Buffer) => chunks.push(c));
    request.on("end", () => {
      const body = Buffer.concat(chunks);
      const outcome = verifyRequest(
        { method: request.method!, path: request.url!, query: "", headers: headerPairs(request), body },
        { region: REGION, service: "kms-xks-proxy", now: new Date(), maxSkewMs: 300_000, secretsOf: (id) => (id === CREDENTIALS.accessKeyId ? [CREDENTIALS.secretAccessKey] : []) },
      );
      const entry: Seen = { path: request.url!, body: JSON.parse(body.toString("utf8")) as Record<string, unknown>, signed: outcome.ok, socket: request.socket };
      seen.push(entry);
      const answer = reply(entry);
      const send = () => {
        const text = typeof answer.body === "string" ? answer.body : JSON.stringify(answer.body);
        response.writeHead(answer.status, { "content-type": "application/json" });
        response.end(text);
      };
      if (answer.delayMs === undefined) send();
      else setTimeout(send, answer.delayMs);
    });
  };
  const server = options.tls === undefined ? http.createServer({ keepAlive: true }, handler) : https.createServer({ ...options.tls, keepAlive: true }, handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    seen,
    port,
    setReply(next: Reply) {
      reply = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("XksClient over HTTP", () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let client: XksClient;
  before(async () => {
    server = await startServer();
    client = new XksClient({ endpoint: `http://127.0.0.1:${server.port}`, pathPrefix: "tenant-a", credentials: CREDENTIALS, region: REGION, timeoutMs: 250 });
  });
  after(async () => {
    client.close();
    await server.close();
  });

  test("Encrypt: the prefixed path, a valid SigV4 signature, Base64 fields, AES_GCM and SHA_256 CDIV; the CDIV is checked", async () => {
    const iv = crypto.randomBytes(12);
    const tag = crypto.randomBytes(16);
    const ciphertext = crypto.randomBytes(5);
    const aad = Buffer.from("aad");
    const cdiv = ciphertextDataIntegrityValue({ additionalAuthenticatedData: aad, ciphertextMetadata: Buffer.alloc(0), initializationVector: iv, ciphertext, authenticationTag: tag });
    server.setReply(() => ({
      status: 200,
      body: { ciphertext: ciphertext.toString("base64"), initializationVector: iv.toString("base64"), authenticationTag: tag.toString("base64"), ciphertextDataIntegrityValue: cdiv.toString("base64") },
    }));
    const out = await client.encrypt("key-1", { requestMetadata: META, plaintext: Buffer.from("hello"), additionalAuthenticatedData: aad });
    assert.deepEqual(out.ciphertext, ciphertext);
    assert.deepEqual(out.initializationVector, iv);
    const seen = server.seen.at(-1)!;
    assert.equal(seen.path, "/tenant-a/kms/xks/v1/keys/key-1/encrypt");
    assert.equal(seen.signed, true);
    assert.deepEqual(seen.body, {
      requestMetadata: META,
      additionalAuthenticatedData: aad.toString("base64"),
      plaintext: Buffer.from("hello").toString("base64"),
      encryptionAlgorithm: "AES_GCM",
      ciphertextDataIntegrityValueAlgorithm: "SHA_256",
    });

    server.setReply(() => ({
      status: 200,
      body: { ciphertext: ciphertext.toString("base64"), initializationVector: iv.toString("base64"), authenticationTag: tag.toString("base64"), ciphertextDataIntegrityValue: Buffer.alloc(32).toString("base64") },
    }));
    await assert.rejects(client.encrypt("key-1", { requestMetadata: META, plaintext: Buffer.from("hello"), additionalAuthenticatedData: aad }), (e) => e instanceof XksTransportError && e.failure === "bad-response");
  });

  test("Decrypt, GetKeyMetadata and GetHealthStatus send and read the spec's shapes", async () => {
    server.setReply((seen) => {
      if (seen.path.endsWith("/decrypt")) return { status: 200, body: { plaintext: Buffer.from("pt").toString("base64") } };
      if (seen.path.endsWith("/metadata")) return { status: 200, body: { keySpec: "AES_256", keyUsage: ["ENCRYPT", "DECRYPT"], keyStatus: "ENABLED" } };
      return { status: 200, body: { xksProxyFleetSize: 2, xksProxyVendor: "v", xksProxyModel: "m", ekmVendor: "e", ekmFleetDetails: [{ id: "h1", model: "x", healthStatus: "ACTIVE" }] } };
    });
    const plaintext = await client.decrypt("key-1", {
      requestMetadata: META,
      ciphertext: Buffer.from("c"),
      initializationVector: Buffer.alloc(12, 1),
      authenticationTag: Buffer.alloc(16, 2),
      ciphertextMetadata: Buffer.alloc(0),
      additionalAuthenticatedData: Buffer.from("a"),
    });
    assert.equal(plaintext.toString(), "pt");
    assert.equal(server.seen.at(-1)!.body["ciphertextMetadata"], undefined, "no empty metadata is sent");
    assert.deepEqual(await client.getKeyMetadata("key-1", META), { keySpec: "AES_256", keyUsage: ["ENCRYPT", "DECRYPT"], keyStatus: "ENABLED" });
    assert.equal(server.seen.at(-1)!.path, "/tenant-a/kms/xks/v1/keys/key-1/metadata");
    const health = await client.health({ kmsOperation: "ConnectExternalKeyStore", kmsRequestId: "r" });
    assert.equal(health.xksProxyFleetSize, 2);
    assert.equal(health.ekmFleetDetails[0]!.healthStatus, "ACTIVE");
    assert.equal(server.seen.at(-1)!.path, "/tenant-a/kms/xks/v1/health");
  });

  test("connections are kept alive and reused", async () => {
    server.setReply(() => ({ status: 200, body: { keySpec: "AES_256", keyUsage: [], keyStatus: "ENABLED" } }));
    await client.getKeyMetadata("key-1", META);
    await client.getKeyMetadata("key-1", META);
    const [a, b] = server.seen.slice(-2);
    assert.equal(a!.socket, b!.socket);
  });

  test("every error name of the spec becomes an XksError of that name", async () => {
    for (const name of Object.keys(XKS_ERROR_STATUS) as XksErrorName[]) {
      server.setReply(() => ({ status: XKS_ERROR_STATUS[name], body: { errorName: name, errorMessage: "because" } }));
      await assert.rejects(client.getKeyMetadata("key-1", META), (e) => e instanceof XksError && e.errorName === name, name);
    }
  });

  test("answers that are not XKS are bad-response", async () => {
    for (const [status, body] of [[500, "<html>oops</html>"], [502, { message: "gateway" }], [200, "not json"], [200, { keySpec: 1 }]] as const) {
      server.setReply(() => ({ status, body }));
      await assert.rejects(client.getKeyMetadata("key-1", META), (e) => e instanceof XksTransportError && e.failure === "bad-response", `${status} ${JSON.stringify(body)}`);
    }
  });

  test("an answer slower than the deadline is a timeout, within about the deadline", async () => {
    server.setReply(() => ({ status: 200, body: {}, delayMs: 1000 }));
    const started = performance.now();
    await assert.rejects(client.getKeyMetadata("key-1", META), (e) => e instanceof XksTransportError && e.failure === "timeout");
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 240 && elapsed < 800, `${elapsed} ms`);
  });

  test("a refused connection is unreachable", async () => {
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const closed = new XksClient({ endpoint: `http://127.0.0.1:${port}`, pathPrefix: "", credentials: CREDENTIALS, region: REGION });
    try {
      await assert.rejects(closed.health({ kmsOperation: "x", kmsRequestId: "y" }), (e) => e instanceof XksTransportError && e.failure === "unreachable");
    } finally {
      closed.close();
    }
  });

  test("a wrong secret is refused by the server (the signature really covers the request)", async () => {
    server.setReply((seen) => (seen.signed ? { status: 200, body: { keySpec: "AES_256", keyUsage: [], keyStatus: "ENABLED" } } : { status: 401, body: { errorName: "AuthenticationFailedException" } }));
    const wrong = new XksClient({ endpoint: `http://127.0.0.1:${server.port}`, pathPrefix: "tenant-a", credentials: { ...CREDENTIALS, secretAccessKey: "x".repeat(44) }, region: REGION });
    try {
      await assert.rejects(wrong.getKeyMetadata("key-1", META), (e) => e instanceof XksError && e.errorName === "AuthenticationFailedException");
    } finally {
      wrong.close();
    }
  });

  test("bad settings are refused at construction", () => {
    assert.throws(() => new XksClient({ endpoint: "ftp://x", pathPrefix: "", credentials: CREDENTIALS, region: REGION }));
    assert.throws(() => new XksClient({ endpoint: "https://x", pathPrefix: "bad prefix", credentials: CREDENTIALS, region: REGION }));
  });
});

function openssl(dir: string, args: readonly string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

function makePki(dir: string) {
  openssl(dir, ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1", "-subj", "/CN=xks-test-ca",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  const issue = (name: string, extensions: string[]) => {
    writeFileSync(join(dir, `${name}.ext`), ["basicConstraints=CA:FALSE", ...extensions].join("\n") + "\n");
    openssl(dir, ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`]);
    openssl(dir, ["x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", `0x${crypto.randomBytes(8).toString("hex")}`, "-days", "1", "-extfile", `${name}.ext`, "-out", `${name}.pem`]);
    return { cert: readFileSync(join(dir, `${name}.pem`)), key: readFileSync(join(dir, `${name}.key`)) };
  };
  return {
    ca: readFileSync(join(dir, "ca.pem")),
    server: issue("server", ["extendedKeyUsage=serverAuth", "subjectAltName=DNS:xks.test,IP:127.0.0.1"]),
    client: issue("client", ["extendedKeyUsage=clientAuth"]),
  };
}

describe("XksClient over HTTPS with mTLS", () => {
  const dir = mkdtempSync(join(tmpdir(), "keyhold-xks-pki-"));
  let pki: ReturnType<typeof makePki>;
  let server: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    pki = makePki(dir);
    server = await startServer({ tls: { cert: pki.server.cert, key: pki.server.key, ca: pki.ca, requestCert: true, rejectUnauthorized: true } });
    server.setReply(() => ({ status: 200, body: { xksProxyFleetSize: 1, ekmFleetDetails: [] } }));
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const health = (tls: ConstructorParameters<typeof XksClient>[0]["tls"]) => {
    const client = new XksClient({ endpoint: `https://127.0.0.1:${server.port}`, pathPrefix: "", credentials: CREDENTIALS, region: REGION, timeoutMs: 2000, ...(tls === undefined ? {} : { tls }) });
    return client.health({ kmsOperation: "x", kmsRequestId: "y" }).finally(() => client.close());
  };

  test("with the CA and a client certificate the call succeeds", async () => {
    assert.equal((await health({ ca: pki.ca, cert: pki.client.cert, key: pki.client.key, serverName: "xks.test" })).xksProxyFleetSize, 1);
  });

  test("an untrusted server certificate is a tls failure; no client certificate is refused", async () => {
    await assert.rejects(health({ cert: pki.client.cert, key: pki.client.key }), (e) => e instanceof XksTransportError && e.failure === "tls");
    await assert.rejects(health({ ca: pki.ca }), (e) => e instanceof XksTransportError && (e.failure === "tls" || e.failure === "unreachable"));
  });
});

// mTLS end to end on `keyhold dev` with a real (throwaway) PKI made by the openssl CLI:
//   - required client certificates: the administrator maps a SPIFFE id to a user holding KeyUser;
//     a grpc-js client with that certificate and NO bearer token encrypts and decrypts as the
//     user; an unmapped certificate is UNAUTHENTICATED; one from another CA (with the same
//     SPIFFE id) is refused at the handshake; removing the mapping refuses the certificate
//     within a second;
//   - optional client certificates: the other CA's certificate connects but is UNAUTHENTICATED;
//   - a mesh sidecar in front (plaintext, KEYHOLD_TRUSTED_PROXIES=127.0.0.1): its
//     x-forwarded-client-cert authenticates from 127.0.0.1 and is ignored from 127.0.0.2.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { create, fromBinary, toBinary, type DescMessage, type DescMethodUnary, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import { CryptoService, IamService, KeyService, StsService } from "@keyhold/proto";
import { createSilentLogger } from "@keyhold/server-kit";

const ACCOUNT = "000000000001";
const APP_ID = "spiffe://example.org/ns/e2e/sa/app";
const STRANGER_ID = "spiffe://example.org/ns/e2e/sa/stranger";
const APP_USER = `krn:keyhold:iam::${ACCOUNT}:user/app`;

// ---------------------------------------------------------------------------------------------
// A throwaway PKI

interface Certificate {
  readonly cert: Buffer;
  readonly key: Buffer;
}

interface Pki {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: Buffer;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
  /** SAN URI:APP_ID, from the trusted CA. */
  readonly app: Certificate;
  /** SAN URI:STRANGER_ID, from the trusted CA, mapped to nobody. */
  readonly stranger: Certificate;
  /** SAN DNS:admin.example.org, from the trusted CA (the administrator's transport; it authenticates by API key). */
  readonly adminTransport: Certificate;
  /** SAN URI:APP_ID, from another CA. */
  readonly impostor: Certificate;
}

function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), "keyhold-mtls-pki-"));
  const openssl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  for (const ca of ["ca", "other-ca"]) {
    openssl(["req", "-x509", ...ec, "-keyout", `${ca}.key`, "-out", `${ca}.pem`, "-days", "2", "-subj", `/CN=${ca}`,
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  }
  const issue = (ca: string, name: string, usage: string, san: string): Certificate => {
    writeFileSync(join(dir, `${name}.ext`), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=${usage}\nsubjectAltName=${san}\n`);
    openssl(["req", ...ec, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/CN=${name}`]);
    openssl(["x509", "-req", "-in", `${name}.csr`, "-CA", `${ca}.pem`, "-CAkey", `${ca}.key`, "-set_serial", `0x${randomBytes(8).toString("hex")}`,
      "-days", "1", "-extfile", `${name}.ext`, "-out", `${name}.pem`]);
    return { cert: readFileSync(join(dir, `${name}.pem`)), key: readFileSync(join(dir, `${name}.key`)) };
  };
  issue("ca", "server", "serverAuth", "DNS:localhost,IP:127.0.0.1");
  return {
    dir,
    caFile: join(dir, "ca.pem"),
    ca: readFileSync(join(dir, "ca.pem")),
    serverCertFile: join(dir, "server.pem"),
    serverKeyFile: join(dir, "server.key"),
    app: issue("ca", "app", "clientAuth", `URI:${APP_ID}`),
    stranger: issue("ca", "stranger", "clientAuth", `URI:${STRANGER_ID}`),
    adminTransport: issue("ca", "admin", "clientAuth", "DNS:admin.example.org"),
    impostor: issue("other-ca", "impostor", "clientAuth", `URI:${APP_ID}`),
  };
}

// ---------------------------------------------------------------------------------------------
// Dev instances and clients

interface Instance {
  readonly dev: DevInstance;
  readonly dataDir: string;
  readonly adminKey: string;
  readonly grpcAddress: string;
  readonly httpPort: number;
}

async function startInstance(env: Record<string, string>): Promise<Instance> {
  const dataDir = mkdtempSync(join(tmpdir(), "keyhold-mtls-"));
  const adminKey = `khk_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}`;
  const config = readDevConfig(
    {
      KEYHOLD_DATA_DIR: dataDir,
      KEYHOLD_GRPC_ADDR: "127.0.0.1:0",
      KEYHOLD_HTTP_ADDR: "127.0.0.1:0",
      KEYHOLD_SHUTDOWN_GRACE_MS: "1000",
      KEYHOLD_BOOTSTRAP_API_KEY: adminKey,
      ...env,
    },
    process.cwd(),
  );
  const dev = await startDev(config, createSilentLogger());
  return { dev, dataDir, adminKey, grpcAddress: `127.0.0.1:${dev.addresses.grpcPort}`, httpPort: dev.addresses.httpPort! };
}

async function stopInstance(instance: Instance | undefined): Promise<void> {
  if (instance === undefined) return;
  await instance.dev.stop();
  rmSync(instance.dataDir, { recursive: true, force: true });
}

function tlsEnv(pki: Pki, requireClientCert: boolean): Record<string, string> {
  return {
    KEYHOLD_TLS_CERT_FILE: pki.serverCertFile,
    KEYHOLD_TLS_KEY_FILE: pki.serverKeyFile,
    KEYHOLD_TLS_CLIENT_CA_FILE: pki.caFile,
    KEYHOLD_TLS_REQUIRE_CLIENT_CERT: String(requireClientCert),
  };
}

interface AdminClients {
  readonly iam: Client<typeof IamService>;
  readonly keys: Client<typeof KeyService>;
}

/** The administrator over Connect's gRPC transport with its API key (and, on TLS, a transport certificate). */
function admin(instance: Instance, tls: { ca: Buffer; certificate: Certificate } | undefined): AdminClients {
  const bearer: Interceptor = (next) => (request) => {
    request.header.set("authorization", `Bearer ${instance.adminKey}`);
    return next(request);
  };
  const transport: Transport =
    tls === undefined
      ? createGrpcTransport({ baseUrl: `http://${instance.grpcAddress}`, interceptors: [bearer] })
      : createGrpcTransport({
          baseUrl: `https://${instance.grpcAddress}`,
          nodeOptions: { ca: tls.ca, cert: tls.certificate.cert, key: tls.certificate.key },
          interceptors: [bearer],
        });
  return { iam: createClient(IamService, transport), keys: createClient(KeyService, transport) };
}

/** The user `app` with KeyUser, a key to use, and APP_ID mapped to the user. */
async function setUp(clients: AdminClients): Promise<string> {
  await clients.iam.createUser({ userName: "app" });
  await clients.iam.attachPolicy({ principalKrn: APP_USER, policyKrn: "krn:keyhold:iam::keyhold:policy/KeyUser" });
  const mapped = await clients.iam.addCertificateIdentity({ principalKrn: APP_USER, san: APP_ID });
  assert.equal(mapped.certificateIdentity!.principalKrn, APP_USER);
  return (await clients.keys.createKey({ description: "mtls e2e" })).keyMetadata!.krn;
}

/** One unary call with grpc-js (protobuf-es for the messages). */
function unary<I extends DescMessage, O extends DescMessage>(
  client: grpc.Client,
  method: DescMethodUnary<I, O>,
  request: MessageInitShape<I>,
  metadata: grpc.Metadata = new grpc.Metadata(),
): Promise<MessageShape<O>> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      `/${method.parent.typeName}/${method.name}`,
      (message: MessageShape<I>) => Buffer.from(toBinary(method.input, message)),
      (bytes: Buffer) => fromBinary(method.output, bytes),
      create(method.input, request),
      metadata,
      { deadline: Date.now() + 10_000 },
      (error, response) => (error === null && response !== undefined ? resolve(response) : reject(error ?? new Error("no response"))),
    );
  });
}

async function grpcStatus(promise: Promise<unknown>): Promise<{ code: grpc.status; details: string }> {
  const error = await promise.then(
    () => assert.fail("expected the call to fail"),
    (e: unknown) => e as grpc.ServiceError,
  );
  return { code: error.code, details: error.details };
}

/** Connects to 127.0.0.1 and verifies the server as "localhost" (SNI takes no IP address). */
const SERVER_NAME = { "grpc.ssl_target_name_override": "localhost", "grpc.default_authority": "localhost" };

function mtlsClient(instance: Instance, pki: Pki, certificate: Certificate | undefined): grpc.Client {
  const credentials = certificate === undefined ? grpc.credentials.createSsl(pki.ca) : grpc.credentials.createSsl(pki.ca, certificate.key, certificate.cert);
  return new grpc.Client(instance.grpcAddress, credentials, SERVER_NAME);
}

const plaintext = new TextEncoder().encode("attack at dawn");

// ---------------------------------------------------------------------------------------------

let pki: Pki;
before(() => {
  pki = makePki();
});
after(() => rmSync(pki.dir, { recursive: true, force: true }));

describe("client certificates required", () => {
  let instance: Instance | undefined;
  let keyKrn: string;
  let adminClients: AdminClients;
  const channels: grpc.Client[] = [];
  const open = (certificate: Certificate) => {
    const client = mtlsClient(instance!, pki, certificate);
    channels.push(client);
    return client;
  };

  before(async () => {
    instance = await startInstance(tlsEnv(pki, true));
    adminClients = admin(instance, { ca: pki.ca, certificate: pki.adminTransport });
    keyKrn = await setUp(adminClients);
  });
  after(async () => {
    for (const channel of channels) channel.close();
    await stopInstance(instance);
  });

  test("a grpc-js client with the mapped SPIFFE certificate and no bearer token encrypts and decrypts as the user", async () => {
    const app = open(pki.app);
    const caller = await unary(app, StsService.method.getCallerIdentity, {});
    assert.equal(caller.principalKrn, APP_USER);
    const encrypted = await unary(app, CryptoService.method.encrypt, { keyId: keyKrn, plaintext, encryptionContext: { purpose: "mtls" } });
    assert.equal(encrypted.keyId, keyKrn);
    const decrypted = await unary(app, CryptoService.method.decrypt, { ciphertextBlob: encrypted.ciphertextBlob, encryptionContext: { purpose: "mtls" } });
    assert.deepEqual(Buffer.from(decrypted.plaintext), Buffer.from(plaintext));
  });

  test("the user's policies still apply: KeyUser may not create keys", async () => {
    const refused = await grpcStatus(unary(open(pki.app), KeyService.method.createKey, {}));
    assert.equal(refused.code, grpc.status.PERMISSION_DENIED);
  });

  test("an unmapped certificate from the trusted CA is UNAUTHENTICATED", async () => {
    const refused = await grpcStatus(unary(open(pki.stranger), CryptoService.method.encrypt, { keyId: keyKrn, plaintext }));
    assert.equal(refused.code, grpc.status.UNAUTHENTICATED);
  });

  test("a certificate from another CA, with the same SPIFFE id, is refused at the handshake", async () => {
    const refused = await grpcStatus(unary(open(pki.impostor), CryptoService.method.encrypt, { keyId: keyKrn, plaintext }));
    assert.equal(refused.code, grpc.status.UNAVAILABLE, refused.details);
  });

  test("removing the mapping refuses the certificate within a second (caches flush)", async () => {
    const app = open(pki.app);
    await unary(app, CryptoService.method.encrypt, { keyId: keyKrn, plaintext });
    const removedAt = Date.now();
    await adminClients.iam.removeCertificateIdentity({ principalKrn: APP_USER, san: APP_ID });
    for (;;) {
      const outcome = await unary(app, CryptoService.method.encrypt, { keyId: keyKrn, plaintext }).then(
        () => undefined,
        (error: grpc.ServiceError) => error.code,
      );
      if (outcome === grpc.status.UNAUTHENTICATED) break;
      assert.equal(outcome, undefined);
      assert.ok(Date.now() - removedAt < 1000, "still accepted a second after the mapping was removed");
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await adminClients.iam.addCertificateIdentity({ principalKrn: APP_USER, san: APP_ID });
    assert.equal((await unary(app, StsService.method.getCallerIdentity, {})).principalKrn, APP_USER);
  });
});

describe("client certificates optional", () => {
  let instance: Instance | undefined;
  let keyKrn: string;
  const channels: grpc.Client[] = [];

  before(async () => {
    instance = await startInstance(tlsEnv(pki, false));
    keyKrn = await setUp(admin(instance, { ca: pki.ca, certificate: pki.adminTransport }));
  });
  after(async () => {
    for (const channel of channels) channel.close();
    await stopInstance(instance);
  });

  test("the mapped certificate authenticates; another CA's connects but is UNAUTHENTICATED; the API key works without a certificate", async () => {
    const app = mtlsClient(instance!, pki, pki.app);
    const impostor = mtlsClient(instance!, pki, pki.impostor);
    const anonymous = mtlsClient(instance!, pki, undefined);
    channels.push(app, impostor, anonymous);
    assert.equal((await unary(app, CryptoService.method.encrypt, { keyId: keyKrn, plaintext })).keyId, keyKrn);
    assert.equal((await grpcStatus(unary(impostor, CryptoService.method.encrypt, { keyId: keyKrn, plaintext }))).code, grpc.status.UNAUTHENTICATED);
    assert.equal((await grpcStatus(unary(anonymous, CryptoService.method.encrypt, { keyId: keyKrn, plaintext }))).code, grpc.status.UNAUTHENTICATED);
    const bearer = new grpc.Metadata();
    bearer.set("authorization", `Bearer ${instance!.adminKey}`);
    assert.equal((await unary(anonymous, StsService.method.getCallerIdentity, {}, bearer)).principalKrn, `krn:keyhold:iam::${ACCOUNT}:user/admin`);
  });

  test("Connect over HTTPS sees the same identity", async () => {
    const transport = createConnectTransport({
      baseUrl: `https://127.0.0.1:${instance!.httpPort}`,
      httpVersion: "1.1",
      nodeOptions: { ca: pki.ca, cert: pki.app.cert, key: pki.app.key, agent: false },
    });
    assert.equal((await createClient(StsService, transport).getCallerIdentity({})).principalKrn, APP_USER);
  });
});

describe("a mesh sidecar in front (x-forwarded-client-cert)", () => {
  let instance: Instance | undefined;
  let keyKrn: string;
  let channel: grpc.Client | undefined;
  const xfcc = (uri: string) => `By=spiffe://example.org/ns/keyhold/sa/keyhold;Hash=9f86d081884c7d65;Subject="CN=app,O=Example";URI=${uri}`;

  before(async () => {
    instance = await startInstance({ KEYHOLD_TRUSTED_PROXIES: "127.0.0.1" });
    keyKrn = await setUp(admin(instance, undefined));
  });
  after(async () => {
    channel?.close();
    await stopInstance(instance);
  });

  test("from a trusted proxy address (127.0.0.1) the forwarded SPIFFE id authenticates, over gRPC and Connect", async () => {
    channel = new grpc.Client(instance!.grpcAddress, grpc.credentials.createInsecure());
    const metadata = new grpc.Metadata();
    metadata.set("x-forwarded-client-cert", xfcc(APP_ID));
    assert.equal((await unary(channel, CryptoService.method.encrypt, { keyId: keyKrn, plaintext }, metadata)).keyId, keyKrn);
    const unmapped = new grpc.Metadata();
    unmapped.set("x-forwarded-client-cert", xfcc(STRANGER_ID));
    assert.equal((await grpcStatus(unary(channel, CryptoService.method.encrypt, { keyId: keyKrn, plaintext }, unmapped))).code, grpc.status.UNAUTHENTICATED);

    const connect = createConnectTransport({ baseUrl: `http://127.0.0.1:${instance!.httpPort}`, httpVersion: "1.1", nodeOptions: { localAddress: "127.0.0.1", agent: false } });
    const caller = await createClient(StsService, connect).getCallerIdentity({}, { headers: { "x-forwarded-client-cert": xfcc(APP_ID) } });
    assert.equal(caller.principalKrn, APP_USER);
  });

  test("from an untrusted peer (127.0.0.2) the same header is ignored: UNAUTHENTICATED", async () => {
    const connect = createConnectTransport({ baseUrl: `http://127.0.0.1:${instance!.httpPort}`, httpVersion: "1.1", nodeOptions: { localAddress: "127.0.0.2", agent: false } });
    const client = createClient(CryptoService, connect);
    await assert.rejects(client.encrypt({ keyId: keyKrn, plaintext }, { headers: { "x-forwarded-client-cert": xfcc(APP_ID) } }), (error: Error & { code?: unknown }) => {
      assert.match(error.message, /unauthenticated/i);
      assert.match(error.message, /missing credential/);
      return true;
    });
  });
});

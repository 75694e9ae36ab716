// A sealed root key over real gRPC (`keyhold seal init`, then `keyhold dev` with
// KEYHOLD_ROOT_KEY=sealed): key-service starts sealed and refuses what needs the root key with
// FAILED_PRECONDITION SEALED; SealService/Unseal takes shares (wrong, corrupted, foreign, too
// few, repeated, reset, and the right ones in any order); Seal zeroes the root key and the
// cached material again; only management account administrators may do any of it; no share
// reaches a log or the audit trail.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Client, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import { openKeyStore } from "@keyhold/key-service";
import { createTestDatabase, postgresBinDir, startPostgres, type TestDatabase, type TestPostgres } from "@keyhold/postgres/testing";
import { AuditService, CryptoService, ErrorInfoSchema, IamService, KeyService, SealService, StsService } from "@keyhold/proto";
import { createJsonLogger, createSilentLogger } from "@keyhold/server-kit";
import { generateApiKey, withCredential } from "../support/auth.ts";

const CLI = join(import.meta.dirname, "..", "..", "packages", "cli", "src", "main.ts");

function sealInit(dataDir: string, shares: number, threshold: number): string[] {
  const out = execFileSync(process.execPath, [CLI, "seal", "init", "--shares", String(shares), "--threshold", String(threshold)], {
    env: { ...process.env, KEYHOLD_DATA_DIR: dataDir },
    encoding: "utf8",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const found = [...out.matchAll(/^share \d+: (khs1-\S+)$/gm)].map((m) => m[1]!);
  assert.equal(found.length, shares);
  return found;
}

interface Refusal {
  readonly code: Code;
  readonly reason: string;
  readonly field?: string;
}

async function refusal(call: Promise<unknown>): Promise<Refusal> {
  try {
    await call;
  } catch (error) {
    const connect = ConnectError.from(error);
    const info = connect.findDetails(ErrorInfoSchema)[0];
    const field = info?.metadata["field"];
    return { code: connect.code, reason: info?.reason ?? "", ...(field === undefined ? {} : { field }) };
  }
  assert.fail("the call succeeded");
}

const SEALED: Refusal = { code: Code.FailedPrecondition, reason: "SEALED" };
const BAD_SHARE: Refusal = { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field: "share" };

/** The same share with one y byte changed and its checksum recomputed: well-formed but wrong. */
function forged(share: string): string {
  const bytes = Buffer.from(share.slice("khs1-".length), "base64url");
  bytes[12]! ^= 0x5a;
  const body = bytes.subarray(0, bytes.length - 4);
  createHash("sha256").update(body).digest().copy(bytes, bytes.length - 4, 0, 4);
  return "khs1-" + bytes.toString("base64url");
}

describe("sealed root key (keyhold dev, KEYHOLD_ROOT_KEY=sealed, over gRPC)", () => {
  let dataDir: string;
  let dev: DevInstance | undefined;
  let shares: string[];
  let foreignShares: string[];
  const logs: string[] = [];
  const credential = generateApiKey();
  let admin: Transport;
  let seal: Client<typeof SealService>;
  let keys: Client<typeof KeyService>;
  let crypto: Client<typeof CryptoService>;

  async function start(): Promise<void> {
    const config = readDevConfig(
      {
        KEYHOLD_DATA_DIR: dataDir,
        KEYHOLD_GRPC_ADDR: "127.0.0.1:0",
        KEYHOLD_HTTP_ADDR: "127.0.0.1:0",
        KEYHOLD_SHUTDOWN_GRACE_MS: "2000",
        KEYHOLD_BOOTSTRAP_API_KEY: credential,
        KEYHOLD_ROOT_KEY: "sealed",
      },
      process.cwd(),
    );
    dev = await startDev(config, createJsonLogger({ level: "debug", write: (line) => logs.push(line) }));
    admin = createGrpcTransport({ baseUrl: `http://127.0.0.1:${dev.addresses.grpcPort}`, interceptors: [withCredential(credential)] });
    seal = createClient(SealService, admin);
    keys = createClient(KeyService, admin);
    crypto = createClient(CryptoService, admin);
  }

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "keyhold-sealing-e2e-"));
    shares = sealInit(dataDir, 5, 3);
    const other = await mkdtemp(join(tmpdir(), "keyhold-sealing-other-"));
    try {
      foreignShares = sealInit(other, 5, 3);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
    await start();
  });
  after(async () => {
    await dev?.stop();
    await rm(dataDir, { recursive: true, force: true });
  });

  const status = async () => (await seal.getSealStatus({})).status!;
  const unseal = async (share: string) => (await seal.unseal({ share })).status!;

  test("the seal file holds no share and no key", async () => {
    const file = await readFile(join(dataDir, "seal.json"), "utf8");
    for (const share of shares) assert.ok(!file.includes(share.slice(5, 30)));
    assert.deepEqual(Object.keys(JSON.parse(file) as object).sort(), ["createdAt", "format", "setId", "shares", "threshold", "verifier"]);
  });

  test("starts sealed: CreateKey answers FAILED_PRECONDITION SEALED; status 0 of 3 (5 shares)", async () => {
    const { sealable, sealed, threshold, shares: made, progress } = await status();
    assert.deepEqual({ sealable, sealed, threshold, shares: made, progress }, { sealable: true, sealed: true, threshold: 3, shares: 5, progress: 0 });
    assert.deepEqual(await refusal(keys.createKey({})), SEALED);
  });

  test("malformed, corrupted and foreign shares are INVALID_ARGUMENT on share, progress unchanged", async () => {
    assert.equal((await unseal(shares[0]!)).progress, 1);
    assert.deepEqual(await refusal(seal.unseal({ share: "" })), BAD_SHARE);
    assert.deepEqual(await refusal(seal.unseal({ share: "not a share" })), BAD_SHARE);
    const corrupted = shares[1]!.slice(0, 20) + (shares[1]![20] === "A" ? "B" : "A") + shares[1]!.slice(21);
    assert.deepEqual(await refusal(seal.unseal({ share: corrupted })), BAD_SHARE);
    assert.deepEqual(await refusal(seal.unseal({ share: foreignShares[1]! })), BAD_SHARE);
    assert.deepEqual(await refusal(seal.unseal({ share: "x".repeat(5000) })), BAD_SHARE);
    assert.equal((await status()).progress, 1);
  });

  test("a repeated share does not count twice; too few shares leave it sealed; reset forgets them", async () => {
    assert.equal((await unseal(shares[0]!)).progress, 1);
    const two = await unseal(shares[3]!);
    assert.deepEqual([two.sealed, two.progress], [true, 2]);
    assert.equal((await unseal(shares[3]!)).progress, 2);
    assert.deepEqual(await refusal(keys.createKey({})), SEALED);
    assert.deepEqual(await refusal(seal.unseal({ reset: true, share: shares[2]! })), BAD_SHARE);
    const reset = (await seal.unseal({ reset: true })).status!;
    assert.deepEqual([reset.sealed, reset.progress], [true, 0]);
  });

  test("shares that do not combine to the root key are refused and reset progress", async () => {
    await unseal(shares[0]!);
    await unseal(shares[1]!);
    assert.deepEqual(await refusal(seal.unseal({ share: forged(shares[2]!) })), BAD_SHARE);
    const after = await status();
    assert.deepEqual([after.sealed, after.progress], [true, 0]);
  });

  test("the right shares in any order unseal; Seal re-seals: Encrypt, Decrypt, GenerateDataKey answer SEALED; unseal again with others", async () => {
    const last = [shares[4]!, shares[1]!, shares[2]!];
    assert.equal((await unseal(last[0]!)).progress, 1);
    assert.equal((await unseal(last[1]!)).progress, 2);
    const open = await unseal(last[2]!);
    assert.deepEqual([open.sealed, open.progress], [false, 0]);
    // Once unsealed, a further share is a no-op.
    assert.equal((await unseal(shares[0]!)).sealed, false);

    const keyId = (await keys.createKey({ description: "sealing" })).keyMetadata!.keyId;
    const plaintext = randomBytes(32);
    const encrypted = await crypto.encrypt({ keyId, plaintext });
    const dataKey = await crypto.generateDataKey({ keyId, numberOfBytes: 32 });

    const sealed = (await seal.seal({})).status!;
    assert.deepEqual([sealed.sealed, sealed.progress], [true, 0]);
    assert.deepEqual(await refusal(crypto.encrypt({ keyId, plaintext })), SEALED);
    assert.deepEqual(await refusal(crypto.decrypt({ ciphertextBlob: encrypted.ciphertextBlob })), SEALED);
    assert.deepEqual(await refusal(crypto.generateDataKey({ keyId, numberOfBytes: 32 })), SEALED);
    assert.deepEqual(await refusal(crypto.decrypt({ ciphertextBlob: dataKey.ciphertextBlob })), SEALED);
    assert.deepEqual(await refusal(crypto.reEncrypt({ ciphertextBlob: encrypted.ciphertextBlob, destinationKeyId: keyId })), SEALED);
    // Metadata needs no root key.
    assert.equal((await keys.getKey({ keyId })).keyMetadata!.keyId, keyId);

    for (const share of [shares[3]!, shares[0]!, shares[2]!]) await unseal(share);
    assert.equal((await status()).sealed, false);
    assert.deepEqual(Buffer.from((await crypto.decrypt({ ciphertextBlob: encrypted.ciphertextBlob })).plaintext), plaintext);
    assert.deepEqual(Buffer.from((await crypto.decrypt({ ciphertextBlob: dataKey.ciphertextBlob })).plaintext), Buffer.from(dataKey.plaintext));
  });

  test("only management account principals with kms:Unseal may use SealService", async () => {
    const iam = createClient(IamService, admin);
    const user = (await iam.createUser({ userName: "no-seal-rights" })).principal!.krn;
    const secret = (await iam.createApiKey({ principalKrn: user })).secret;
    const nobody = createClient(SealService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${dev!.addresses.grpcPort}`, interceptors: [withCredential(secret)] }));
    const denied: Refusal = { code: Code.PermissionDenied, reason: "ACCESS_DENIED" };
    assert.deepEqual(await refusal(nobody.getSealStatus({})), denied);
    assert.deepEqual(await refusal(nobody.seal({})), denied);
    assert.deepEqual(await refusal(nobody.unseal({ share: shares[0]! })), denied);

    await iam.createAccount({ accountId: "222233334444", name: "tenant" });
    const session = await createClient(StsService, admin).assumeRole({ roleKrn: "krn:keyhold:iam::222233334444:role/AccountAccessRole", roleSessionName: "tenant-test" });
    const tenant = createClient(SealService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${dev!.addresses.grpcPort}`, interceptors: [withCredential(session.sessionToken)] }));
    assert.deepEqual(await refusal(tenant.seal({})), denied);
    assert.equal((await status()).sealed, false);
  });

  test("sealed again after a restart", async () => {
    await dev!.stop();
    dev = undefined;
    await start();
    assert.deepEqual([(await status()).sealed, (await status()).progress], [true, 0]);
    for (const share of [shares[2]!, shares[4]!, shares[0]!]) await unseal(share);
    assert.equal((await status()).sealed, false);
  });

  test("no share reaches a log or an audit event; Unseal calls are audited", async () => {
    const all = logs.join("\n");
    for (const share of [...shares, ...foreignShares]) {
      assert.ok(!all.includes(share.slice(5)), "a share in the logs");
      assert.ok(!all.includes(forged(share).slice(5)), "a forged share in the logs");
    }
    const audit = createClient(AuditService, admin);
    let events: unknown[] = [];
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      events = (await audit.lookupEvents({ action: "kms:Unseal", pageSize: 500 })).events;
      if (events.length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(events.length > 0, "Unseal calls are audited");
    const dumped = JSON.stringify(events, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v instanceof Uint8Array ? Buffer.from(v).toString("base64") : v));
    for (const share of shares) assert.ok(!dumped.includes(share.slice(5)), "a share in an audit event");
  });
});

describe("keyhold seal init on PostgreSQL (KEYHOLD_DATABASE_URL)", { skip: postgresBinDir() === undefined ? "PostgreSQL is not installed" : false }, () => {
  let server: TestPostgres;
  let database: TestDatabase;
  const dirs: string[] = [];
  const sealInitWith = async (url: string) => {
    const dataDir = await mkdtemp(join(tmpdir(), "keyhold-seal-pg-"));
    dirs.push(dataDir);
    const run = spawnSync(process.execPath, [CLI, "seal", "init", "--shares", "3", "--threshold", "2"], {
      env: { ...process.env, KEYHOLD_DATA_DIR: dataDir, KEYHOLD_DATABASE_URL: url },
      encoding: "utf8",
    });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  };

  before(async () => {
    server = await startPostgres(postgresBinDir()!);
    database = await createTestDatabase(server);
  });
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    await database?.drop().catch(() => undefined);
    await server?.stop();
  });

  test("a database without key-service's schema is sealed; once key-service has its schema there, seal init refuses", async () => {
    const first = await sealInitWith(database.url);
    assert.equal(first.status, 0, first.stderr);
    assert.equal([...first.stdout.matchAll(/^share \d+: khs1-\S+$/gm)].length, 3);
    // key-service starts on the database (migrating its schema): the database is no longer new.
    const store = await openKeyStore({ databasePath: join(dirs[0]!, "unused.sqlite"), databaseUrl: database.url }, createSilentLogger());
    await store.close();
    const second = await sealInitWith(database.url);
    assert.notEqual(second.status, 0);
    assert.match(second.stderr, /PostgreSQL schema key_service already exists: its key material is under another root key/);
    assert.doesNotMatch(second.stdout, /khs1-/, "no shares printed when refusing");
    assert.doesNotMatch(second.stderr, new RegExp(database.url.split("@")[0]!.split(":").pop()!), "the database password is not printed");
  });
});

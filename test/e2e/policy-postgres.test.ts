// `keyhold dev` with KEYHOLD_DATABASE_URL over real gRPC: policy-service keeps accounts,
// principals, API keys and policies in PostgreSQL (schema policy_service), so a second instance
// with an empty data directory on the same database knows the same users and decisions; and
// while the database is down, policy calls fail with UNAVAILABLE DATABASE_UNAVAILABLE.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import { createTestDatabase, postgresBinDir, startPostgres, type TestDatabase, type TestPostgres } from "@keyhold/postgres/testing";
import { ErrorInfoSchema, IamService, StsService } from "@keyhold/proto";
import { createSilentLogger } from "@keyhold/server-kit";
import pg from "pg";

const binDir = postgresBinDir();
if (binDir === undefined) {
  console.error("\n*** SKIPPING the policy-service on PostgreSQL tests: no PostgreSQL server binaries (apt-get install postgresql) ***\n");
}

const MANAGEMENT = "000000000001";

function newApiKey(): string {
  return `khk_${randomBytes(8).toString("hex")}_${randomBytes(32).toString("base64url")}`;
}

describe("keyhold dev: policy-service on PostgreSQL (real server)", { skip: binDir === undefined ? "PostgreSQL is not installed" : false }, () => {
  let server: TestPostgres;
  let database: TestDatabase;
  const dataDirs: string[] = [];
  const instances: DevInstance[] = [];
  const adminKey = newApiKey();

  async function start(): Promise<DevInstance> {
    const dataDir = await mkdtemp(join(tmpdir(), "keyhold-policy-pg-"));
    dataDirs.push(dataDir);
    const env = {
      KEYHOLD_DATA_DIR: dataDir,
      KEYHOLD_GRPC_ADDR: "127.0.0.1:0",
      KEYHOLD_HTTP_ADDR: "127.0.0.1:0",
      KEYHOLD_BOOTSTRAP_API_KEY: adminKey,
      KEYHOLD_DATABASE_URL: database.url,
    };
    const dev = await startDev(readDevConfig(env, process.cwd()), createSilentLogger());
    instances.push(dev);
    return dev;
  }

  function iam(dev: DevInstance, credential: string): { iam: Client<typeof IamService>; sts: Client<typeof StsService> } {
    const auth: Interceptor = (next) => (request) => {
      request.header.set("authorization", `Bearer ${credential}`);
      return next(request);
    };
    const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${dev.addresses.grpcPort}`, interceptors: [auth] });
    return { iam: createClient(IamService, transport), sts: createClient(StsService, transport) };
  }

  before(async () => {
    server = await startPostgres(binDir!);
    database = await createTestDatabase(server);
  });
  after(async () => {
    for (const dev of instances) await dev.stop().catch(() => undefined);
    for (const dir of dataDirs) await rm(dir, { recursive: true, force: true });
    await database?.drop().catch(() => undefined);
    await server?.stop();
  });

  test("users, keys and policies live in PostgreSQL: another instance with an empty data directory knows them", async () => {
    const first = await start();
    const admin = iam(first, adminKey);
    await admin.iam.createUser({ userName: "alice" });
    await admin.iam.attachPolicy({ principalKrn: `krn:keyhold:iam::${MANAGEMENT}:user/alice`, policyKrn: "krn:keyhold:iam::keyhold:policy/KeyUser" });
    const { secret } = await admin.iam.createApiKey({ principalKrn: `krn:keyhold:iam::${MANAGEMENT}:user/alice` });

    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string }>("SELECT name FROM policy_service.principals ORDER BY name");
      assert.deepEqual(
        rows.map((r) => r.name),
        ["admin", "alice"],
      );
    } finally {
      await client.end();
    }

    const second = await start();
    const caller = await iam(second, secret).sts.getCallerIdentity({});
    assert.equal(caller.principalKrn, `krn:keyhold:iam::${MANAGEMENT}:user/alice`);
    const attached = await iam(second, adminKey).iam.listAttachedPolicies({ principalKrn: `krn:keyhold:iam::${MANAGEMENT}:user/alice` });
    assert.deepEqual(
      attached.policies.map((p) => p.krn),
      ["krn:keyhold:iam::keyhold:policy/KeyUser"],
    );
  });

  test("while the database is down, policy calls fail with UNAVAILABLE DATABASE_UNAVAILABLE", async () => {
    const dev = instances[0] ?? (await start());
    const admin = iam(dev, adminKey);
    await server.halt();
    try {
      const error = await admin.iam.createUser({ userName: "bob" }).then(
        () => assert.fail("expected a refusal"),
        (e: unknown) => ConnectError.from(e),
      );
      assert.equal(error.code, Code.Unavailable);
      assert.equal(error.findDetails(ErrorInfoSchema)[0]?.reason, "DATABASE_UNAVAILABLE");
    } finally {
      await server.resume();
    }
  });
});

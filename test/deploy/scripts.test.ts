// The scripts and commands deploy/ runs, run for real: the PostgreSQL role and schema setup
// against a real server, the SoftHSMv2 token init against a real SoftHSM, the exact healthcheck
// and readiness probe commands against a real Keyhold server requiring client certificates,
// and the development secrets job (with `keyhold dev-ca`, once the CLI has it).
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import pg from "pg";
import { readDevConfig, startDev, type DevInstance } from "@keyhold/cli";
import { createSilentLogger } from "@keyhold/server-kit";
import { postgresBinDir, startPostgres, type TestPostgres } from "../support/postgres.ts";
import { describeRun, REPO_ROOT, runTool, toolPath } from "../support/tools.ts";
import { arr, DEPLOY_DIR, K8S_DIR, loadCompose, obj, str, show } from "./support.ts";
import { nameOf, podSpec, renderK8s } from "./k8s-render.ts";

const INIT_ROLES = join(DEPLOY_DIR, "compose", "postgres", "init-roles.sh");
const INIT_TOKEN = join(DEPLOY_DIR, "docker", "init-token.sh");
const DEV_INIT = join(DEPLOY_DIR, "docker", "dev-init.sh");

function which(command: string): boolean {
  try {
    execFileSync("/bin/sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

describe("postgres/init-roles.sh (a real PostgreSQL server)", () => {
  const binDir = postgresBinDir();
  let server: TestPostgres | undefined;
  const passwords = Object.fromEntries(["KEY_SERVICE", "SECRETS_SERVICE", "POLICY_SERVICE", "AUDIT_SERVICE"].map((s) => [`${s}_DB_PASSWORD`, randomBytes(12).toString("hex")]));

  before(async () => {
    if (binDir === undefined || !which("psql")) return;
    server = await startPostgres(binDir);
  });
  after(async () => {
    await server?.stop();
  });

  test("gives each service a role that owns its own schema and can touch no other", async (t) => {
    if (server === undefined) {
      t.skip("PostgreSQL is not installed (scripts/test.sh installs it)");
      return;
    }
    const s = server;
    const env = { PATH: process.env["PATH"] ?? "", PGHOST: s.host, PGPORT: show(s.port), PGPASSWORD: s.superPassword, POSTGRES_USER: s.superuser, POSTGRES_DB: "keyhold", ...passwords };
    execFileSync("psql", ["-v", "ON_ERROR_STOP=1", "-U", s.superuser, "-d", "postgres", "-c", "CREATE DATABASE keyhold"], { env, stdio: "pipe" });
    const result = await runTool("/bin/sh", [INIT_ROLES], { env });
    assert.equal(result.code, 0, describeRun("init-roles.sh", result));

    const connect = async (role: string) => {
      const client = new pg.Client({ host: s.host, port: s.port, database: "keyhold", user: role, password: passwords[`${role.toUpperCase()}_DB_PASSWORD`]! });
      await client.connect();
      return client;
    };
    const keys = await connect("key_service");
    const secrets = await connect("secrets_service");
    try {
      // Its own schema, first on its search path: unqualified names land there.
      await keys.query("CREATE TABLE k (id int)");
      const where = await keys.query<{ schema: string }>("SELECT table_schema AS schema FROM information_schema.tables WHERE table_name = 'k'");
      assert.deepEqual(where.rows, [{ schema: "key_service" }]);
      await secrets.query("CREATE TABLE secrets_service.s (id int)");
      await assert.rejects(secrets.query("SELECT * FROM key_service.k"), /permission denied/, "no reading another service's tables");
      await assert.rejects(secrets.query("CREATE TABLE key_service.x (id int)"), /permission denied/);
      await assert.rejects(keys.query("CREATE TABLE public.p (id int)"), /permission denied|no schema has been selected/, "nothing in public");
      // A schema migration that creates its schema if missing still works (it exists, owned by the role).
      await keys.query("CREATE SCHEMA IF NOT EXISTS key_service");
    } finally {
      await keys.end();
      await secrets.end();
    }
  });
});

describe("keyhold-init-token (a real SoftHSMv2)", () => {
  test("initializes the token once; a second run keeps it; another label is another token", async (t) => {
    if (!which("softhsm2-util")) {
      t.skip("SoftHSMv2 is not installed (scripts/test.sh installs it)");
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), "keyhold-deploy-token-"));
    try {
      // No tokens directory yet, as on a new volume: the script makes it.
      const conf = join(dir, "softhsm2.conf");
      writeFileSync(conf, readFileSync(join(DEPLOY_DIR, "docker", "softhsm2.conf"), "utf8").replace("/var/lib/keyhold-hsm/tokens", join(dir, "tokens")));
      writeFileSync(join(dir, "pin"), "1234-user-pin\n");
      writeFileSync(join(dir, "so-pin"), "5678-so-pin");
      const env = { PATH: process.env["PATH"] ?? "", SOFTHSM2_CONF: conf };
      const init = (label: string) => runTool("/bin/sh", [INIT_TOKEN, label, join(dir, "pin"), join(dir, "so-pin")], { env });
      const first = await init("keyhold");
      assert.equal(first.code, 0, describeRun("first run", first));
      assert.match(first.stdout, /token "keyhold" initialized/);
      const second = await init("keyhold");
      assert.equal(second.code, 0, describeRun("second run", second));
      assert.match(second.stdout, /token "keyhold" exists/);
      const other = await init("keyhold-2");
      assert.match(other.stdout, /token "keyhold-2" initialized/, "a label that merely starts the same is not the same token");
      const slots = execFileSync("softhsm2-util", ["--show-slots"], { env, encoding: "utf8" });
      assert.equal([...slots.matchAll(/Label:\s+keyhold\s*$/gm)].length, 1, "exactly one token labelled keyhold");
      // The PIN file's trailing newline is not part of the PIN (as hsm-gateway's KEYHOLD_HSM_PIN_FILE reads it).
      if (which("pkcs11-tool")) {
        const login = await runTool("pkcs11-tool", ["--module", findModule(), "--token-label", "keyhold", "--login", "--pin", "1234-user-pin", "--list-objects"], { env });
        assert.equal(login.code, 0, describeRun("pkcs11-tool login with the PIN", login));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function findModule(): string {
  const compose = loadCompose();
  const path = str(obj(obj(obj(compose["services"], "services")["hsm-gateway"], "hsm-gateway")["environment"], "env")["KEYHOLD_HSM_MODULE"], "KEYHOLD_HSM_MODULE");
  return existsSync(path) ? path : "/usr/lib/softhsm/libsofthsm2.so";
}

describe("the healthcheck and readiness probe commands (a real Keyhold server requiring client certificates)", () => {
  const probe = toolPath("grpc-health-probe");
  let dir: string;
  let instance: DevInstance | undefined;
  let grpcPort = 0;

  before(async () => {
    if (probe === undefined) return;
    dir = mkdtempSync(join(tmpdir(), "keyhold-deploy-probe-"));
    makeServiceCertificate(dir, "key-service");
    const config = readDevConfig(
      {
        KEYHOLD_DATA_DIR: join(dir, "data"),
        KEYHOLD_GRPC_ADDR: "127.0.0.1:0",
        KEYHOLD_HTTP_ADDR: "127.0.0.1:0",
        KEYHOLD_SHUTDOWN_GRACE_MS: "500",
        KEYHOLD_TLS_CERT_FILE: join(dir, "key-service.crt"),
        KEYHOLD_TLS_KEY_FILE: join(dir, "key-service.key"),
        KEYHOLD_TLS_CLIENT_CA_FILE: join(dir, "ca.crt"),
        KEYHOLD_TLS_REQUIRE_CLIENT_CERT: "true",
      },
      process.cwd(),
    );
    instance = await startDev(config, createSilentLogger());
    grpcPort = instance.addresses.grpcPort ?? 0;
  });
  after(async () => {
    await instance?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  /** The command with the container's paths mapped into the test's directory and its port. */
  const localize = (command: readonly string[], files: Record<string, string>) =>
    command.map((arg) => {
      let out = arg.replace(/^-addr=127\.0\.0\.1:\d+$/, `-addr=127.0.0.1:${grpcPort}`);
      for (const [from, to] of Object.entries(files)) out = out.replace(from, to);
      return out;
    });

  test("compose's key-service healthcheck command answers SERVING; without the client certificate the handshake is refused", async (t) => {
    if (probe === undefined) {
      t.skip("grpc-health-probe is not built (source scripts/lib/toolchain.sh && ensure_deploy_tools)");
      return;
    }
    const check = arr(obj(obj(obj(loadCompose()["services"], "services")["key-service-1"], "key-service-1")["healthcheck"], "healthcheck")["test"], "test").map(String);
    assert.equal(check[0], "CMD");
    const command = localize(check.slice(1), { "/etc/keyhold/tls/": `${dir}/` });
    const ok = await runTool(probe, command.slice(1));
    assert.equal(ok.code, 0, describeRun(command.join(" "), ok));
    assert.match(ok.stdout + ok.stderr, /SERVING/);
    const anonymous = await runTool(probe, command.slice(1).filter((a) => !a.startsWith("-tls-client-")));
    assert.notEqual(anonymous.code, 0, "mTLS is really required (so the probe's certificate is what makes it pass)");
  });

  test("the Kubernetes readiness probe command answers SERVING", async (t) => {
    if (probe === undefined) {
      t.skip("grpc-health-probe is not built (source scripts/lib/toolchain.sh && ensure_deploy_tools)");
      return;
    }
    const { objects } = await renderK8s(K8S_DIR);
    const workload = objects.find((o) => o["kind"] === "StatefulSet" && nameOf(o) === "key-service")!;
    const container = obj(arr(podSpec(workload)!["containers"], "containers")[0], "container");
    const command = arr(obj(obj(container["readinessProbe"], "readinessProbe")["exec"], "exec")["command"], "command").map(String);
    const local = localize(command, { "/etc/keyhold/tls/tls.crt": join(dir, "key-service.crt"), "/etc/keyhold/tls/tls.key": join(dir, "key-service.key") });
    const result = await runTool(probe, local.slice(1));
    assert.equal(result.code, 0, describeRun(local.join(" "), result));
  });
});

/** A CA and a certificate for `service` as the brief describes (SPIFFE URI SAN; server and client use). */
function makeServiceCertificate(dir: string, service: string): void {
  const openssl = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl(["req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=keyhold test CA",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
  writeFileSync(join(dir, `${service}.ext`),
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth,clientAuth\nsubjectAltName=URI:spiffe://keyhold.internal/service/${service},DNS:${service},DNS:localhost,IP:127.0.0.1\n`);
  openssl(["req", ...ec, "-keyout", `${service}.key`, "-out", `${service}.csr`, "-subj", `/CN=${service}`]);
  openssl(["x509", "-req", "-in", `${service}.csr`, "-CA", "ca.crt", "-CAkey", "ca.key", "-set_serial", `0x${randomBytes(8).toString("hex")}`,
    "-days", "1", "-extfile", `${service}.ext`, "-out", `${service}.crt`]);
  chmodSync(join(dir, `${service}.key`), 0o600);
}

describe("keyhold-dev-init (compose's init job)", () => {
  const cliMain = join(REPO_ROOT, "packages", "cli", "src", "main.ts");
  const hasDevCa = readFileSync(cliMain, "utf8").includes("dev-ca");

  test("makes the CA, every certificate compose and Envoy name, the audit HMAC key and the PINs, once, mode 0600", async (t) => {
    if (!hasDevCa) {
      t.skip("`keyhold dev-ca` is not in the CLI yet (another helper adds it); this test runs once it is");
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), "keyhold-deploy-devinit-"));
    try {
      const bin = join(dir, "bin");
      mkdirSync(bin);
      writeFileSync(join(bin, "keyhold"), `#!/bin/sh\nexec "${process.execPath}" "${cliMain}" "$@"\n`, { mode: 0o755 });
      const tls = join(dir, "tls");
      const secrets = join(dir, "secrets");
      mkdirSync(tls, { mode: 0o700 });
      mkdirSync(secrets, { mode: 0o700 });
      const env = { PATH: `${bin}:${process.env["PATH"] ?? ""}`, DEV_INIT_TLS_DIR: tls, DEV_INIT_SECRETS_DIR: secrets };
      const first = await runTool("/bin/sh", [DEV_INIT], { env });
      assert.equal(first.code, 0, describeRun("dev-init", first));
      // Every file compose.yaml and envoy.yaml read from the tls and secrets volumes exists.
      const wanted = new Set<string>();
      const text = readFileSync(join(DEPLOY_DIR, "compose", "compose.yaml"), "utf8") + readFileSync(join(DEPLOY_DIR, "envoy", "envoy.yaml"), "utf8");
      for (const m of text.matchAll(/\/etc\/keyhold\/(tls|secrets)\/([\w.-]+)/g)) wanted.add(join(m[1] === "tls" ? tls : secrets, m[2]!));
      for (const file of wanted) assert.ok(existsSync(file), `${file} exists`);
      assert.equal(statSync(join(secrets, "audit-hmac.key")).size, 32);
      for (const name of ["audit-hmac.key", "hsm-pin", "xki-admin-token"]) assert.equal(statSync(join(secrets, name)).mode & 0o077, 0, `${name} is 0600`);
      const before = readFileSync(join(secrets, "audit-hmac.key"));
      const caBefore = readFileSync(join(tls, "ca.crt"));
      const second = await runTool("/bin/sh", [DEV_INIT], { env });
      assert.equal(second.code, 0, describeRun("dev-init again", second));
      assert.deepEqual(readFileSync(join(secrets, "audit-hmac.key")), before, "kept");
      assert.deepEqual(readFileSync(join(tls, "ca.crt")), caBefore, "kept");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

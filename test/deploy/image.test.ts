// deploy/docker/Dockerfile: pinned like the toolchain, non-root, `keyhold` as entrypoint, ports
// and data directory as the manifests use them, every file it copies present in the build
// context; and its build stage's install, run for real in a copy of the repository: production
// dependencies of the keyhold command only, and the command starts without devDependencies.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { describeRun, REPO_ROOT, runTool } from "../support/tools.ts";
import { DATA_DIR, DEPLOY_DIR, DOCKERFILE, GRPC_PORT, HTTP_PORT, K8S_DIR, loadCompose, obj, readText, str } from "./support.ts";

const dockerfile = readText(DOCKERFILE).replace(/\\\n/g, " ");
const instructions = dockerfile.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));

function argDefault(name: string): string {
  const line = instructions.find((l) => new RegExp(`^ARG ${name}=`).test(l));
  assert.ok(line !== undefined, `ARG ${name} has a default`);
  return line.slice(`ARG ${name}=`.length).replace(/^"|"$/g, "");
}

function stage(name: string): string[] {
  const start = instructions.findIndex((l) => new RegExp(`^FROM .* AS ${name}$`).test(l));
  assert.ok(start >= 0, `stage ${name}`);
  const end = instructions.findIndex((l, i) => i > start && l.startsWith("FROM "));
  return instructions.slice(start, end === -1 ? undefined : end);
}

function toolchainPin(name: string): string {
  const match = new RegExp(`^${name}="([^"]+)"`, "m").exec(readText(join(REPO_ROOT, "scripts", "lib", "toolchain.sh")));
  assert.ok(match !== null, `${name} in toolchain.sh`);
  return match[1]!;
}

describe("the image (deploy/docker/Dockerfile)", () => {
  test("is pinned to the toolchain's Node, pnpm and grpc-health-probe", () => {
    assert.equal(argDefault("NODE_VERSION"), toolchainPin("NODE_VERSION_PIN"));
    assert.equal(argDefault("GRPC_HEALTH_PROBE_VERSION"), toolchainPin("GRPC_HEALTH_PROBE_VERSION_PIN"));
    const packageManager = str(obj(JSON.parse(readText(join(REPO_ROOT, "package.json"))), "package.json")["packageManager"], "packageManager");
    assert.equal(`pnpm@${argDefault("PNPM_VERSION")}`, packageManager);
  });

  test("builds with production dependencies of the keyhold command only, and runs on bookworm-slim", () => {
    const build = stage("build").join("\n");
    assert.match(build, /^FROM node:\$\{NODE_VERSION\}-bookworm AS build$/m);
    assert.match(build, /pnpm install --offline --frozen-lockfile --prod --filter "@keyhold\/cli\.\.\." --store-dir \/pnpm\/store/);
    assert.match(build, /pnpm fetch --prod --store-dir \/pnpm\/store/);
    assert.match(stage("runtime")[0]!, /^FROM node:\$\{NODE_VERSION\}-bookworm-slim AS runtime$/);
  });

  test("runs as a non-root user, `keyhold serve key-service` by default, ports and data directory as the manifests expect", () => {
    const runtime = stage("runtime");
    const user = runtime.find((l) => l.startsWith("USER "));
    assert.equal(user, "USER ${APP_UID}:${APP_UID}");
    assert.notEqual(Number(argDefault("APP_UID")), 0);
    assert.equal(runtime.find((l) => l.startsWith("ENTRYPOINT ")), 'ENTRYPOINT ["keyhold"]');
    assert.equal(runtime.find((l) => l.startsWith("CMD ")), 'CMD ["serve", "key-service"]');
    assert.equal(runtime.find((l) => l.startsWith("EXPOSE ")), `EXPOSE ${GRPC_PORT} ${HTTP_PORT}`);
    const env = runtime.filter((l) => l.startsWith("ENV ")).join(" ");
    assert.match(env, new RegExp(`KEYHOLD_GRPC_ADDR=0\\.0\\.0\\.0:${GRPC_PORT}`));
    assert.match(env, new RegExp(`KEYHOLD_HTTP_ADDR=0\\.0\\.0\\.0:${HTTP_PORT}`));
    assert.match(env, new RegExp(`KEYHOLD_DATA_DIR=${DATA_DIR}(\\s|$)`));
    assert.ok(runtime.includes(`VOLUME ["${DATA_DIR}"]`));
    // The user owns the directories volumes are mounted on (named volumes copy that ownership).
    assert.match(runtime.join(" "), new RegExp(`install -d -o keyhold -g keyhold -m 0700 ${DATA_DIR} /var/lib/keyhold-hsm`));
  });

  test("every file it copies from the build context exists and is not excluded by .dockerignore", () => {
    const ignored = readText(join(REPO_ROOT, ".dockerignore")).split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"));
    const toRegExp = (pattern: string) =>
      new RegExp(`^${pattern.replace(/[.+^${}()|[\]]/g, "\\$&").replace(/\*\*\//g, "(.*/)?").replace(/\*/g, "[^/]*")}(/.*)?$`);
    const sources = instructions.filter((l) => l.startsWith("COPY ") && !l.includes("--from=")).flatMap((l) => {
      const parts = l.split(/\s+/).slice(1).filter((p) => !p.startsWith("--"));
      return parts.slice(0, -1);
    });
    assert.ok(sources.length >= 4);
    for (const source of sources) {
      if (source === ".") continue;
      assert.ok(existsSync(join(REPO_ROOT, source)), `${source} exists`);
      for (const pattern of ignored) assert.ok(!toRegExp(pattern).test(source), `${source} is not excluded by .dockerignore's ${pattern}`);
    }
  });

  test("SoftHSMv2: the module path the manifests use is Debian's, and the token directory is the volume they mount", (t) => {
    assert.match(argDefault("HSM_PACKAGES"), /\bsofthsm2\b/);
    const compose = loadCompose();
    const gateway = obj(obj(compose["services"], "services")["hsm-gateway"], "hsm-gateway");
    const modulePath = str(obj(gateway["environment"], "environment")["KEYHOLD_HSM_MODULE"], "KEYHOLD_HSM_MODULE");
    const conf = readText(join(DEPLOY_DIR, "docker", "softhsm2.conf"));
    const tokenDir = /^directories\.tokendir = (.+)$/m.exec(conf)?.[1];
    assert.equal(tokenDir, "/var/lib/keyhold-hsm/tokens");
    assert.ok((gateway["volumes"] as string[]).includes("hsm-tokens:/var/lib/keyhold-hsm"));
    assert.match(readText(join(K8S_DIR, "base", "hsm-gateway.yaml")), /\{ name: hsm-tokens, mountPath: \/var\/lib\/keyhold-hsm \}/);
    assert.match(readText(join(K8S_DIR, "base", "hsm-gateway.yaml")), new RegExp(`KEYHOLD_HSM_MODULE, value: ${modulePath.replaceAll(".", "\\.")} `));
    let files: string;
    try {
      // softhsm2 depends on libsofthsm2, which ships the module (and /usr/lib/softhsm's arch-independent link).
      files = execFileSync("dpkg", ["-L", "softhsm2", "libsofthsm2"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    } catch {
      t.diagnostic("softhsm2 is not installed here: the package's file list was not checked");
      return;
    }
    assert.ok(files.split("\n").includes(modulePath), `${modulePath} is in Debian's softhsm2 packages`);
  });

  test("the build stage's install, run in a copy of the repository, gives a keyhold command without devDependencies", async (t) => {
    let pnpm: string;
    try {
      pnpm = execFileSync("/bin/sh", ["-c", "command -v pnpm"], { encoding: "utf8" }).trim();
    } catch {
      t.skip("pnpm is not on PATH (run under scripts/lib/toolchain.sh's ensure_toolchain)");
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), "keyhold-image-build-"));
    try {
      // The build context: the files git tracks (node_modules, .tools and the like are ignored).
      const tracked = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: REPO_ROOT, encoding: "utf8" }).split("\0").filter((f) => f !== "");
      for (const file of tracked) {
        // (Gone, or a directory: a nested repository or a symlink to one, e.g. a worktree's .tools.)
        if (!existsSync(join(REPO_ROOT, file)) || statSync(join(REPO_ROOT, file)).isDirectory()) continue;
        mkdirSync(dirname(join(dir, file)), { recursive: true });
        cpSync(join(REPO_ROOT, file), join(dir, file));
      }
      const env = { ...process.env, CI: "true" };
      const install = await runTool(pnpm, ["install", "--offline", "--frozen-lockfile", "--prod", "--filter", "@keyhold/cli..."], { cwd: dir, env, killAfterMs: 300_000 });
      assert.equal(install.code, 0, describeRun("pnpm install --prod --filter @keyhold/cli...", install));
      const store = readdirSync(join(dir, "node_modules", ".pnpm"));
      for (const dev of ["typescript@", "eslint@", "@bufbuild+buf@", "kubernetes-models@", "yaml@"]) {
        assert.ok(!store.some((p) => p.startsWith(dev)), `${dev} (a devDependency or test dependency) is not installed`);
      }
      // As the Dockerfile does: no test files in the image; the command must not need them.
      for (const top of ["packages", "services"]) {
        execFileSync("find", [top, "-name", "*.test.ts", "-delete"], { cwd: dir });
      }
      const help = await runTool(process.execPath, [join(dir, "packages", "cli", "src", "main.ts"), "help"], { cwd: dir });
      assert.equal(help.code, 0, describeRun("keyhold help", help));
      assert.match(help.stdout + help.stderr, /usage: keyhold/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

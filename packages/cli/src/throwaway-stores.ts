// Throwaway PostgreSQL and Redis servers for `keyhold topology` (development and tests): each
// lives in a directory of the topology's data directory, listens on a free loopback port, and is
// stopped by stop(). PostgreSQL comes from the Debian package (/usr/lib/postgresql/<v>/bin); as
// root it runs as the `postgres` user, which it requires. Redis keeps nothing on disk.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { userInfo } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "@keyhold/server-kit";

const run = promisify(execFile);

export interface ThrowawayStore {
  /** postgres://… or redis://… */
  readonly url: string;
  /** The URL without its password, for printing. */
  readonly displayUrl: string;
  stop(): Promise<void>;
}


/** The directory of initdb and pg_ctl (newest installed version), or undefined. */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(root, versions[0], "bin");
}

/**
 * As root, the `postgres` user must be able to reach `dir`: every directory above it gets the
 * search (x) bit for others where it lacks it (no read bit: nothing becomes listable, and the
 * files inside keep their own modes, keys 0600). mkdtemp's 0700 data directories need this.
 */
function letOthersTraverseTo(dir: string): void {
  for (let at = dirname(dir); ; at = dirname(at)) {
    const mode = statSync(at).mode & 0o7777;
    if ((mode & 0o001) === 0) chmodSync(at, mode | 0o001);
    if (dirname(at) === at) break;
  }
}

function passwdIds(user: string): { uid: number; gid: number } {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((l) => l.split(":")[0] === user);
  if (line === undefined) throw new Error(`no user ${user} to run PostgreSQL as`);
  const fields = line.split(":");
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

export async function startThrowawayPostgres(dir: string): Promise<ThrowawayStore> {
  const binDir = postgresBinDir();
  if (binDir === undefined) throw new Error("PostgreSQL is not installed (no /usr/lib/postgresql/<version>/bin/initdb)");
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const asRoot = userInfo().uid === 0;
  const exec = (command: string, args: readonly string[]) =>
    asRoot ? run("runuser", ["-u", "postgres", "--", join(binDir, command), ...args]) : run(join(binDir, command), [...args]);
  const user = "keyhold";
  const data = join(dir, "data");
  const pwfile = join(dir, "pwfile");
  // A cluster made by an earlier start keeps its password.
  const password = existsSync(data) && existsSync(pwfile) ? readFileSync(pwfile, "utf8").trim() : randomBytes(18).toString("base64url");
  await writeFile(pwfile, password, { mode: 0o600 });
  if (asRoot) {
    const { uid, gid } = passwdIds("postgres");
    letOthersTraverseTo(dir);
    chownSync(dir, uid, gid);
    chownSync(pwfile, uid, gid);
  }
  const port = await freePort();
  if (!existsSync(data)) await exec("initdb", ["-D", data, "-U", user, "--auth=scram-sha-256", `--pwfile=${pwfile}`, "-E", "UTF8", "--no-instructions"]);
  await exec("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-w", "-t", "60", "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, "start"]);
  return {
    url: `postgres://${user}:${password}@127.0.0.1:${port}/postgres`,
    displayUrl: `postgres://${user}@127.0.0.1:${port}/postgres`,
    async stop() {
      await exec("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]);
    },
  };
}

export async function startThrowawayRedis(dir: string, redisServer = "redis-server"): Promise<ThrowawayStore> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const port = await freePort();
  const child: ChildProcess = spawn(redisServer, ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  await new Promise<void>((resolve, reject) => {
    let output = "";
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output.slice(-200)}`)), 10_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.stdout?.resume();
  child.stderr?.resume();
  return {
    url: `redis://127.0.0.1:${port}`,
    displayUrl: `redis://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

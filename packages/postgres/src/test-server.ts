// A real PostgreSQL server for tests: initdb into a fresh temporary directory, started with
// pg_ctl on a free loopback port (scram-sha-256 passwords), stopped and removed by stop(). The
// binaries come from the Debian postgresql package (scripts/test.sh installs it); as root, the
// server runs as the `postgres` user, which PostgreSQL requires. halt() and resume() stop and
// restart the same server (same port, same data) to test what callers do during an outage.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chownSync, existsSync, readdirSync, readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "@keyhold/server-kit";

const run = promisify(execFile);

export interface TestPostgres {
  readonly host: string;
  readonly port: number;
  /** The bootstrap superuser and its password. */
  readonly superuser: string;
  readonly superPassword: string;
  /** Stops the server abruptly (immediate shutdown), keeping its data: connections are cut, new ones refused. */
  halt(): Promise<void>;
  /** Starts a halted server again on the same port. */
  resume(): Promise<void>;
  /** Stops the server and removes its data. */
  stop(): Promise<void>;
}

/** The directory of initdb and pg_ctl, or undefined when PostgreSQL is not installed. */
export function postgresBinDir(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (existsSync(root)) {
    const versions = readdirSync(root).filter((v) => existsSync(join(root, v, "bin", "initdb"))).sort((a, b) => Number(b) - Number(a));
    if (versions[0] !== undefined) return join(root, versions[0], "bin");
  }
  return undefined;
}


export async function startPostgres(binDir: string): Promise<TestPostgres> {
  const dir = await mkdtemp(join(tmpdir(), "keyhold-postgres-"));
  const asRoot = userInfo().uid === 0;
  const exec = (command: string, args: readonly string[]) =>
    asRoot ? run("runuser", ["-u", "postgres", "--", join(binDir, command), ...args]) : run(join(binDir, command), [...args]);
  const superuser = "keyhold_test_admin";
  const superPassword = randomBytes(18).toString("base64url");
  const data = join(dir, "data");
  const pwfile = join(dir, "pwfile");
  await writeFile(pwfile, superPassword, { mode: 0o600 });
  if (asRoot) {
    chownSync(dir, uidOf("postgres"), gidOf("postgres"));
    chownSync(pwfile, uidOf("postgres"), gidOf("postgres"));
  }
  const port = await freePort();
  const start = () =>
    exec("pg_ctl", ["-D", data, "-l", join(dir, "server.log"), "-w", "-t", "60", "-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1`, "start"]);
  const halt = () => exec("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]);
  let running = false;
  try {
    await exec("initdb", ["-D", data, "-U", superuser, "--auth=scram-sha-256", `--pwfile=${pwfile}`, "-E", "UTF8", "--no-instructions"]);
    await start();
    running = true;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    host: "127.0.0.1",
    port,
    superuser,
    superPassword,
    async halt() {
      if (!running) return;
      await halt();
      running = false;
    },
    async resume() {
      if (running) return;
      await start();
      running = true;
    },
    async stop() {
      try {
        if (running) await halt();
        running = false;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  };
}

function uidOf(user: string): number {
  return Number(idOf(user, "-u"));
}

function gidOf(user: string): number {
  return Number(idOf(user, "-g"));
}

const ids = new Map<string, string>();
function idOf(user: string, flag: string): string {
  const key = `${user}${flag}`;
  const known = ids.get(key);
  if (known !== undefined) return known;
  // Through /etc/passwd (Node has no getpwnam).
  const line = readPasswd().find((l) => l.split(":")[0] === user);
  if (line === undefined) throw new Error(`no user ${user} to run PostgreSQL as`);
  const fields = line.split(":");
  const value = flag === "-u" ? fields[2]! : fields[3]!;
  ids.set(key, value);
  return value;
}

function readPasswd(): string[] {
  return readFileSync("/etc/passwd", "utf8").split("\n");
}

// A real redis-server for tests: started as a child on a free loopback port with no persistence
// (`--save '' --appendonly no`), stoppable and restartable on the same port, and pausable with
// SIGSTOP / SIGCONT to stand for a server that hangs (connections stay open, nothing answers).
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createConnection } from "node:net";
import { freePort } from "@keyhold/server-kit";

export const REDIS_SERVER = "/usr/bin/redis-server";

/** True when redis-server is installed (tests skip otherwise). */
export function redisServerAvailable(): boolean {
  return existsSync(REDIS_SERVER);
}


async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: "127.0.0.1", port });
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`redis-server did not listen on ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export class TestRedis {
  readonly port: number;
  #child: ChildProcess | undefined;

  private constructor(port: number) {
    this.port = port;
  }

  static async start(): Promise<TestRedis> {
    const redis = new TestRedis(await freePort());
    await redis.restart();
    return redis;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the server again on the same port (after stop()). */
  async restart(): Promise<void> {
    if (this.#child !== undefined) return;
    const child = spawn(REDIS_SERVER, ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no"], {
      stdio: "ignore",
    });
    this.#child = child;
    child.once("exit", () => {
      if (this.#child === child) this.#child = undefined;
    });
    await waitForPort(this.port, 5000);
  }

  /** Kills the server (SIGKILL: connections drop at once) and waits for it to be gone. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child === undefined) return;
    this.#child = undefined;
    child.kill("SIGCONT");
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGKILL");
    await exited;
  }

  /** SIGSTOP: the server hangs with its connections open (a stalled or overloaded Redis). */
  pause(): void {
    this.#child?.kill("SIGSTOP");
  }

  /** SIGCONT after pause(). */
  resume(): void {
    this.#child?.kill("SIGCONT");
  }
}

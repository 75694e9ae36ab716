// The benchmark's child processes: each server runs alone in one, so its CPU time can be read
// from /proc. Every child is tracked here and killed at the end, whatever happened.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { ServerAnnouncement } from "./server-entry.ts";

const STOP_GRACE_MS = 3_000;
const TAIL_LINES = 40;

export interface SpawnOptions {
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
  /** How long stop() waits after SIGTERM before SIGKILL (default 3 s): a launcher that stops its own children needs longer. */
  readonly stopGraceMs?: number;
}

/** A started child with the last lines it wrote, for error messages. */
export class Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly exited: Promise<void>;
  readonly stopGraceMs: number;
  private readonly tail: string[] = [];
  private readonly stdoutListeners = new Set<(line: string) => void>();

  constructor(name: string, child: ChildProcess, stopGraceMs = STOP_GRACE_MS) {
    this.name = name;
    this.process = child;
    this.stopGraceMs = stopGraceMs;
    this.exited = new Promise((resolve) => child.once("exit", () => resolve()));
    child.once("error", (error) => this.remember(`spawn failed: ${error.message}`));
    if (child.stdout !== null) {
      createInterface({ input: child.stdout }).on("line", (line) => {
        this.remember(line);
        for (const listener of this.stdoutListeners) listener(line);
      });
    }
    if (child.stderr !== null) createInterface({ input: child.stderr }).on("line", (line) => this.remember(line));
  }

  /** Calls listener with each line the child writes to stdout; returns the unsubscribe. */
  onStdoutLine(listener: (line: string) => void): () => void {
    this.stdoutListeners.add(listener);
    return () => this.stdoutListeners.delete(listener);
  }

  get pid(): number {
    if (this.process.pid === undefined) throw new Error(`${this.name}: not started`);
    return this.process.pid;
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null && this.process.pid !== undefined;
  }

  /** How it ended, for messages: "exit code 1", "signal SIGKILL" or "running". */
  describeExit(): string {
    if (this.process.exitCode !== null) return `exit code ${this.process.exitCode}`;
    if (this.process.signalCode !== null) return `signal ${this.process.signalCode}`;
    return "running";
  }

  output(): string {
    return this.tail.join("\n");
  }

  private remember(line: string): void {
    this.tail.push(line);
    if (this.tail.length > TAIL_LINES) this.tail.shift();
  }
}

export class ChildSet {
  private readonly children = new Set<Child>();

  spawnNode(name: string, args: readonly string[], options: SpawnOptions): Child {
    const child = new Child(
      name,
      spawn(process.execPath, [...args], { cwd: options.cwd, env: { ...options.env }, stdio: ["ignore", "pipe", "pipe"] }),
      options.stopGraceMs,
    );
    this.children.add(child);
    void child.exited.then(() => this.children.delete(child));
    return child;
  }

  /** SIGTERM, then SIGKILL for whoever is still there after the child's grace period. */
  async stop(child: Child): Promise<void> {
    if (!child.running) return;
    child.process.kill("SIGTERM");
    const timer = setTimeout(() => child.process.kill("SIGKILL"), child.stopGraceMs);
    await child.exited;
    clearTimeout(timer);
  }

  stopAll(): Promise<void> {
    return Promise.all([...this.children].map((child) => this.stop(child))).then(() => undefined);
  }

  /** Synchronous last resort (process "exit" handler). */
  killAllNow(): void {
    for (const child of this.children) if (child.running) child.process.kill("SIGKILL");
  }
}

/** Resolves with the port a bench server child announces on its first stdout line. */
export function awaitAnnouncement(child: Child, timeoutMs: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const fail = (why: string) => {
      cleanup();
      reject(new Error(`${child.name}: ${why}\n${child.output()}`));
    };
    const timer = setTimeout(() => fail(`did not announce a port within ${timeoutMs} ms`), timeoutMs);
    const onExit = () => fail(`exited before listening (${child.describeExit()})`);
    const onLine = (line: string) => {
      let port: unknown;
      try {
        port = (JSON.parse(line) as Partial<ServerAnnouncement>).port;
      } catch {
        return;
      }
      if (typeof port !== "number") return;
      cleanup();
      resolve(port);
    };
    const unsubscribe = child.onStdoutLine(onLine);
    const cleanup = () => {
      clearTimeout(timer);
      unsubscribe();
      child.process.off("exit", onExit);
    };
    child.process.once("exit", onExit);
  });
}

// Starts the two echo servers, each in its own child process.
import { join } from "node:path";
import { awaitAnnouncement, type Child, type ChildSet } from "./children.ts";
import type { BenchConfig } from "./config.ts";

/** A server under test: one child process listening for gRPC on a loopback address. */
export interface BenchServer {
  readonly child: Child;
  /** host:port */
  readonly address: string;
  /** gRPC metadata every call to this server carries (its credential); empty: none. */
  readonly metadata: Readonly<Record<string, string>>;
  stop(): Promise<void>;
}

export type EchoServerKind = "bare" | "kit";

const ENTRY_POINTS: Record<EchoServerKind, string> = {
  bare: "bare-echo-server.ts",
  kit: "kit-echo-server.ts",
};

export async function startEchoServer(kind: EchoServerKind, config: BenchConfig, children: ChildSet): Promise<BenchServer> {
  const script = join(config.repoRoot, "bench", "src", ENTRY_POINTS[kind]);
  const child = children.spawnNode(`${kind} echo server`, [script, config.host], { cwd: config.repoRoot, env: config.childEnv });
  try {
    const port = await awaitAnnouncement(child, config.serverStartTimeoutMs);
    return { child, address: `${config.host}:${port}`, metadata: {}, stop: () => children.stop(child) };
  } catch (error) {
    await children.stop(child);
    throw error;
  }
}

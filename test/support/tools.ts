// External programs the interop tests drive (grpcurl, ghz, Python). They run asynchronously:
// the server under test lives in this process, so a blocking spawnSync would starve it.
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { fileURLToPath } from "node:url";

/** The repository root (test/support/../..). */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** Where scripts/lib/toolchain.sh (ensure_go_tools) installs ghz and grpcurl. */
export const TOOLS_BIN = fileURLToPath(new URL("../../.tools/bin/", import.meta.url));

export interface ToolResult {
  /** The exit code; null when killed by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Kill the program after this long (a guard against hangs, not an assertion). */
  readonly killAfterMs?: number;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The path of a tool in .tools/bin, or undefined when it is not installed. */
export function toolPath(name: string): string | undefined {
  const path = `${TOOLS_BIN}${name}`;
  return isExecutable(path) ? path : undefined;
}

/**
 * The Python with grpcio-tools: $KEYHOLD_PYTHON when set (used as given, so a wrong setting
 * fails loudly), else .tools/venv/bin/python, else undefined (not installed).
 */
export function pythonPath(): string | undefined {
  const fromEnv = process.env["KEYHOLD_PYTHON"];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const venv = fileURLToPath(new URL("../../.tools/venv/bin/python", import.meta.url));
  return isExecutable(venv) ? venv : undefined;
}

/** Runs a program to completion and collects its output; a non-zero exit is not an error. */
export function runTool(file: string, args: readonly string[], options: RunOptions = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    execFile(
      file,
      args,
      {
        encoding: "utf8",
        maxBuffer: 64 * 1024 * 1024,
        timeout: options.killAfterMs ?? 120_000,
        ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
        ...(options.env === undefined ? {} : { env: options.env }),
      },
      (error, stdout, stderr) => {
        if (error === null) {
          resolve({ code: 0, signal: null, stdout, stderr });
          return;
        }
        if (typeof error.code === "number" || (error.signal ?? null) !== null) {
          resolve({ code: typeof error.code === "number" ? error.code : null, signal: error.signal ?? null, stdout, stderr });
          return;
        }
        // Could not start the program at all (ENOENT, EACCES, …).
        reject(new Error(`could not run ${file}: ${error.message}`, { cause: error }));
      },
    );
  });
}

/** A one-line summary of a run for assertion messages. */
export function describeRun(name: string, result: ToolResult): string {
  return `${name} exited ${result.code ?? result.signal}\nstdout: ${result.stdout.slice(0, 2000)}\nstderr: ${result.stderr.slice(0, 2000)}`;
}

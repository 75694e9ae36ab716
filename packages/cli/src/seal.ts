// `keyhold seal init --shares N --threshold T`: a new sealed root key for key-service. A random
// 32-byte root key is split with Shamir's secret sharing; the shares are printed once, to
// stdout only (never logged, never stored), and only the seal file (the split's parameters and
// a verifier of the root key) is written. Refuses when a seal file or a key-service store already
// exists (the SQLite file, or with KEYHOLD_DATABASE_URL the key_service schema in PostgreSQL):
// their key material would be under another root key.
import { mkdir, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { existingKeyStore, initializeSeal, writeSealFile } from "@keyhold/key-service";
import { createSilentLogger, type Logger } from "@keyhold/server-kit";
import type { DevConfig } from "./config.ts";

export const SEAL_USAGE = `usage: keyhold seal init [--shares N (default 5)] [--threshold T (default 3)]
  writes the seal file (KEYHOLD_SEAL_FILE, default <KEYHOLD_DATA_DIR>/seal.json) and prints the
  N unseal shares once; start key-service with KEYHOLD_ROOT_KEY=sealed and give T of them to
  keyhold.key.v1.SealService/Unseal`;

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface SealInitOptions {
  readonly shares: number;
  readonly threshold: number;
}

export function parseSealInitArgs(args: readonly string[]): SealInitOptions {
  let shares = 5;
  let threshold = 3;
  for (let i = 0; i < args.length; i += 2) {
    const flag = args[i];
    const raw = args[i + 1];
    const value = Number(raw);
    if (raw === undefined || !/^\d+$/.test(raw)) throw new UsageError(`${flag ?? ""} needs a number`);
    if (flag === "--shares") shares = value;
    else if (flag === "--threshold") threshold = value;
    else throw new UsageError(`unknown option ${flag ?? ""}`);
  }
  if (shares < 2 || shares > 255) throw new UsageError("--shares must be from 2 to 255");
  if (threshold < 2 || threshold > shares) throw new UsageError("--threshold must be from 2 to --shares");
  return { shares, threshold };
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Initializes the seal; returns the shares (for the caller to print once). */
export async function sealInit(config: DevConfig, options: SealInitOptions, logger: Logger = createSilentLogger()): Promise<{ sealFile: string; shares: string[] }> {
  const { sealFile } = config.keyService;
  if (await exists(sealFile)) throw new Error(`${sealFile} already exists: this key-service is already sealed; refusing to make a new root key`);
  const store = await existingKeyStore(config.keyService, logger);
  if (store !== undefined) {
    throw new Error(`${store} already exists: its key material is under another root key; seal init is for a new key-service`);
  }
  await mkdir(dirname(sealFile), { recursive: true, mode: 0o700 });
  const { contents, shares } = initializeSeal(options.shares, options.threshold);
  await writeSealFile(sealFile, contents);
  return { sealFile, shares };
}

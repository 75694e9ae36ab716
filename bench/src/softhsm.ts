// The benchmark's own SoftHSMv2 token: a softhsm2.conf and token directory under the run's work
// directory (removed with it), initialized with softhsm2-util. When SoftHSMv2 is not installed,
// the HSM targets are skipped and the reason says how to get it.
import { execFile } from "node:child_process";
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { findSoftHsmModule } from "@keyhold/pkcs11/testing";
import { onPath } from "./config.ts";

const run = promisify(execFile);

export const BENCH_TOKEN_LABEL = "keyhold-bench";

export interface BenchToken {
  readonly modulePath: string;
  readonly label: string;
  /** The token user PIN (a throwaway token of this run only). */
  readonly pin: string;
  /** The environment a process needs to find the token (SOFTHSM2_CONF) and to use it as Keyhold's HSM. */
  readonly env: Readonly<Record<string, string>>;
}

export type BenchTokenSetup = { readonly ok: true; readonly token: BenchToken } | { readonly ok: false; readonly reason: string };

/** A fresh token in `dir`; not ok (with the reason) when SoftHSMv2 is missing or will not initialize. */
export async function createBenchToken(dir: string, childEnv: Readonly<Record<string, string>>): Promise<BenchTokenSetup> {
  const modulePath = findSoftHsmModule(childEnv);
  const util = onPath("softhsm2-util", childEnv["PATH"] ?? "");
  if (modulePath === undefined || util === undefined) {
    return { ok: false, reason: "SoftHSMv2 is not installed (Debian/Ubuntu: apt-get install softhsm2; bash scripts/test.sh installs it)" };
  }
  const tokenDir = join(dir, "tokens");
  await mkdir(tokenDir, { recursive: true });
  const conf = join(dir, "softhsm2.conf");
  await writeFile(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  const pin = "bench-user-pin-0001";
  const env = { ...childEnv, SOFTHSM2_CONF: conf };
  try {
    await run(util, ["--init-token", "--free", "--label", BENCH_TOKEN_LABEL, "--pin", pin, "--so-pin", "bench-so-pin-0001"], { env });
  } catch (error) {
    return { ok: false, reason: `softhsm2-util could not initialize a token: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}` };
  }
  return {
    ok: true,
    token: {
      modulePath,
      label: BENCH_TOKEN_LABEL,
      pin,
      env: { SOFTHSM2_CONF: conf, KEYHOLD_HSM_MODULE: modulePath, KEYHOLD_HSM_TOKEN_LABEL: BENCH_TOKEN_LABEL, KEYHOLD_HSM_PIN: pin },
    },
  };
}

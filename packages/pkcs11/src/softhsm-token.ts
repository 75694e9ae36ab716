// For tests: a real SoftHSMv2 token initialized in a temporary directory (its own
// softhsm2.conf and token directory, SOFTHSM2_CONF pointing at it for this process). Used by
// hsm-gateway's and xki-proxy's tests, each with a token of its own.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const MODULE_CANDIDATES = [
  "/usr/lib/softhsm/libsofthsm2.so",
  "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/lib64/pkcs11/libsofthsm2.so",
  "/usr/lib/pkcs11/libsofthsm2.so",
  "/usr/local/lib/softhsm/libsofthsm2.so",
  "/opt/homebrew/lib/softhsm/libsofthsm2.so",
];

/** The SoftHSMv2 module on this machine (SOFTHSM2_MODULE in `env` overrides), or undefined. */
export function findSoftHsmModule(env: Readonly<Record<string, string | undefined>> = process.env): string | undefined {
  const fromEnv = env["SOFTHSM2_MODULE"];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  return MODULE_CANDIDATES.find((path) => existsSync(path));
}

export const USER_PIN = "2468-test-pin";
export const SO_PIN = "1357-test-so-pin";

export interface SoftHsmToken {
  readonly modulePath: string;
  readonly label: string;
  readonly dir: string;
  readonly tokenDir: string;
  readonly conf: string;
  /** softhsm2-util / pkcs11-tool with this token's configuration. */
  run(command: string, args: readonly string[]): string;
  /** `pkcs11-tool --list-objects` logged in, as text. */
  listObjects(): string;
  /** Initializes a token of this label afresh in a free slot (old objects gone). */
  reinitialize(): void;
  /** Initializes another token, of its own label, in a free slot of the same SoftHSM configuration. */
  addToken(label: string): void;
  remove(): void;
}

/**
 * A fresh token labelled `label` in a temporary directory. Sets SOFTHSM2_CONF for this process
 * (SoftHSM reads it at C_Initialize): one token setup per test process.
 */
export function createSoftHsmToken(label = "keyhold-test"): SoftHsmToken {
  const modulePath = findSoftHsmModule();
  if (modulePath === undefined) throw new Error("SoftHSMv2 is not installed (Debian package softhsm2); bash scripts/test.sh installs it");
  const dir = mkdtempSync(join(tmpdir(), "keyhold-softhsm-"));
  const tokenDir = join(dir, "tokens");
  mkdirSync(tokenDir);
  const conf = join(dir, "softhsm2.conf");
  writeFileSync(conf, `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n`);
  process.env["SOFTHSM2_CONF"] = conf;
  const env = { ...process.env, SOFTHSM2_CONF: conf };
  const run = (command: string, args: readonly string[]) => execFileSync(command, args, { env, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  const init = () => run("softhsm2-util", ["--init-token", "--free", "--label", label, "--pin", USER_PIN, "--so-pin", SO_PIN]);
  init();
  return {
    modulePath,
    label,
    dir,
    tokenDir,
    conf,
    run,
    listObjects: () => run("pkcs11-tool", ["--module", modulePath, "--token-label", label, "--login", "--pin", USER_PIN, "--list-objects"]),
    reinitialize() {
      rmSync(tokenDir, { recursive: true, force: true });
      mkdirSync(tokenDir);
      init();
    },
    addToken: (other: string) => {
      run("softhsm2-util", ["--init-token", "--free", "--label", other, "--pin", USER_PIN, "--so-pin", SO_PIN]);
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

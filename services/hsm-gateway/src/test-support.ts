// For tests: a real SoftHSMv2 token initialized in a temporary directory (its own
// softhsm2.conf and token directory, SOFTHSM2_CONF pointing at it for this process), and
// hsm-gateway on it behind in-memory Connect transports: one as a trusted Keyhold service
// (key-service), one as an outside caller.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { ErrorInfoSchema, HsmService } from "@keyhold/proto";
import { createInMemoryTransport, createSilentLogger, type Logger } from "@keyhold/server-kit";
import { createHsmGatewayApp, type HsmGatewayApp, type HsmGatewayOverrides } from "./app.ts";
import { readHsmGatewayConfig } from "./config.ts";

const MODULE_CANDIDATES = [
  "/usr/lib/softhsm/libsofthsm2.so",
  "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
  "/usr/lib64/pkcs11/libsofthsm2.so",
  "/usr/lib/pkcs11/libsofthsm2.so",
  "/usr/local/lib/softhsm/libsofthsm2.so",
  "/opt/homebrew/lib/softhsm/libsofthsm2.so",
];

/** The SoftHSMv2 module on this machine (SOFTHSM2_MODULE overrides), or undefined. */
export function findSoftHsmModule(): string | undefined {
  const fromEnv = process.env["SOFTHSM2_MODULE"];
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
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TestGateway {
  readonly app: HsmGatewayApp;
  /** As key-service (a trusted Keyhold service). */
  readonly client: Client<typeof HsmService>;
  /** As an outside caller (no calling service). */
  readonly outsider: Client<typeof HsmService>;
  close(): Promise<void>;
}

export function startTestGateway(token: SoftHsmToken, env: Readonly<Record<string, string>> = {}, overrides: HsmGatewayOverrides = {}, logger: Logger = createSilentLogger()): TestGateway {
  const config = readHsmGatewayConfig({
    KEYHOLD_HSM_MODULE: token.modulePath,
    KEYHOLD_HSM_TOKEN_LABEL: token.label,
    KEYHOLD_HSM_PIN: USER_PIN,
    KEYHOLD_HSM_RECONNECT_INTERVAL_MS: "100",
    ...env,
  });
  const app = createHsmGatewayApp(config, logger, overrides);
  const client = createClient(HsmService, createInMemoryTransport(app.bindings, [], logger, { callingService: "key-service" }));
  const outsider = createClient(HsmService, createInMemoryTransport(app.bindings, [], logger));
  return { app, client, outsider, close: () => app.close() };
}

export interface Refusal {
  readonly code: Code;
  readonly reason: string | undefined;
  readonly field?: string | undefined;
}

/** The code, reason and ErrorInfo of a refused call (exactly one ErrorInfo, domain keyhold.dev). */
export async function refusal(call: Promise<unknown>): Promise<Refusal & { readonly message: string; readonly metadata: Readonly<Record<string, string>> }> {
  const outcome = await call.then(
    () => undefined,
    (error: unknown) => ({ error }),
  );
  if (outcome === undefined) assert.fail("expected the call to be refused, but it succeeded");
  const error = ConnectError.from(outcome.error);
  const infos = error.findDetails(ErrorInfoSchema);
  assert.equal(infos.length, 1, `expected one ErrorInfo, got ${infos.length} (${error.code}: ${error.rawMessage})`);
  const info = infos[0]!;
  assert.equal(info.domain, "keyhold.dev");
  return { code: error.code, reason: info.reason, field: info.metadata["field"], message: error.rawMessage, metadata: info.metadata };
}

export function invalid(field: string): Refusal {
  return { code: Code.InvalidArgument, reason: "INVALID_ARGUMENT", field };
}

/** Only code and reason of a refusal (for comparing with deepEqual). */
export async function codeAndReason(call: Promise<unknown>): Promise<{ code: Code; reason: string | undefined }> {
  const { code, reason } = await refusal(call);
  return { code, reason };
}

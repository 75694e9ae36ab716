// For tests: a real SoftHSMv2 token initialized in a temporary directory (its own
// softhsm2.conf and token directory, SOFTHSM2_CONF pointing at it for this process), and
// hsm-gateway on it behind in-memory Connect transports: one as a trusted Keyhold service
// (key-service), one as an outside caller.
import assert from "node:assert/strict";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { ErrorInfoSchema, HsmService } from "@keyhold/proto";
import { createInMemoryTransport, createSilentLogger, type Logger } from "@keyhold/server-kit";
import { USER_PIN, type SoftHsmToken } from "@keyhold/pkcs11/testing";
import { createHsmGatewayApp, type HsmGatewayApp, type HsmGatewayOverrides } from "./app.ts";
import { readHsmGatewayConfig } from "./config.ts";

export { createSoftHsmToken, findSoftHsmModule, SO_PIN, USER_PIN } from "@keyhold/pkcs11/testing";
export type { SoftHsmToken } from "@keyhold/pkcs11/testing";

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

// Request checks shared by the handlers, and the enum mapping between the API and the domain.
import { HsmKeySpec, HsmKeyUsage, HsmMessageType, HsmSigningAlgorithm } from "@keyhold/proto";
import { invalidArgument, type CallContext } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import type { CallBudget } from "../domain/hsm.ts";
import { KEY_ID, type KeySpec, type KeyUsage } from "../domain/key-specs.ts";
import type { SigningAlgorithm } from "../domain/signing.ts";

export const MAX_DATA_BYTES = 64 * 1024;
export const MAX_AAD_BYTES = 16 * 1024;

export function keyIdField(field: string, value: string): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (!KEY_ID.test(value)) throw invalidArgument(field, "must be 1 to 64 letters, digits, '.', '_', '-', ':' or '/'");
  return value;
}

export function bytesField(field: string, value: Uint8Array, options: { readonly min?: number; readonly max: number }): Uint8Array {
  if (value.byteLength < (options.min ?? 0)) throw invalidArgument(field, options.min === 1 ? "is required" : `must be at least ${options.min} bytes`);
  if (value.byteLength > options.max) throw invalidArgument(field, `must be at most ${options.max} bytes`);
  return value;
}

const SPECS: ReadonlyMap<HsmKeySpec, KeySpec> = new Map([
  [HsmKeySpec.AES_256, "AES_256"],
  [HsmKeySpec.RSA_2048, "RSA_2048"],
  [HsmKeySpec.RSA_3072, "RSA_3072"],
  [HsmKeySpec.RSA_4096, "RSA_4096"],
  [HsmKeySpec.EC_P256, "EC_P256"],
  [HsmKeySpec.EC_P384, "EC_P384"],
]);

export function keySpecField(value: HsmKeySpec): KeySpec {
  const spec = SPECS.get(value);
  if (spec === undefined) throw invalidArgument("key_spec", "must be one of AES_256, RSA_2048, RSA_3072, RSA_4096, EC_P256, EC_P384");
  return spec;
}

export function toApiSpec(spec: KeySpec): HsmKeySpec {
  for (const [api, domain] of SPECS) if (domain === spec) return api;
  return HsmKeySpec.UNSPECIFIED;
}

const USAGES: ReadonlyMap<HsmKeyUsage, KeyUsage> = new Map([
  [HsmKeyUsage.ENCRYPT_DECRYPT, "ENCRYPT_DECRYPT"],
  [HsmKeyUsage.SIGN_VERIFY, "SIGN_VERIFY"],
  [HsmKeyUsage.WRAP_UNWRAP, "WRAP_UNWRAP"],
]);

export function keyUsageField(value: HsmKeyUsage): KeyUsage {
  const usage = USAGES.get(value);
  if (usage === undefined) throw invalidArgument("key_usage", "must be one of ENCRYPT_DECRYPT, SIGN_VERIFY, WRAP_UNWRAP");
  return usage;
}

const ALGORITHMS: ReadonlyMap<HsmSigningAlgorithm, SigningAlgorithm> = new Map([
  [HsmSigningAlgorithm.RSASSA_PSS_SHA_256, "RSASSA_PSS_SHA_256"],
  [HsmSigningAlgorithm.RSASSA_PSS_SHA_384, "RSASSA_PSS_SHA_384"],
  [HsmSigningAlgorithm.RSASSA_PSS_SHA_512, "RSASSA_PSS_SHA_512"],
  [HsmSigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_256, "RSASSA_PKCS1_V1_5_SHA_256"],
  [HsmSigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_384, "RSASSA_PKCS1_V1_5_SHA_384"],
  [HsmSigningAlgorithm.RSASSA_PKCS1_V1_5_SHA_512, "RSASSA_PKCS1_V1_5_SHA_512"],
  [HsmSigningAlgorithm.ECDSA_SHA_256, "ECDSA_SHA_256"],
  [HsmSigningAlgorithm.ECDSA_SHA_384, "ECDSA_SHA_384"],
  [HsmSigningAlgorithm.ECDSA_SHA_512, "ECDSA_SHA_512"],
]);

export function signingAlgorithmField(value: HsmSigningAlgorithm): SigningAlgorithm {
  const algorithm = ALGORITHMS.get(value);
  if (algorithm === undefined) throw invalidArgument("signing_algorithm", "is required (one of the RSASSA_PSS, RSASSA_PKCS1_V1_5 and ECDSA algorithms)");
  return algorithm;
}

/** True for a digest, false for a raw message. */
export function messageTypeField(value: HsmMessageType): boolean {
  if (value === HsmMessageType.RAW) return false;
  if (value === HsmMessageType.DIGEST) return true;
  throw invalidArgument("message_type", "must be RAW or DIGEST");
}

/** The call's time budget: the configured per-call deadline, or the caller's when shorter. */
export function budgetOf(ctx: AppContext, call: CallContext): CallBudget {
  const callerMs = call.timeoutMs();
  const ms = callerMs === undefined ? ctx.config.callTimeoutMs : Math.min(callerMs, ctx.config.callTimeoutMs);
  return { deadline: performance.now() + ms, signal: call.signal };
}

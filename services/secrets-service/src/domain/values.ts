// Secret values in requests: a string or bytes (never both), at most 64 KiB; compared in
// constant time for idempotent replays.
import { createHash, timingSafeEqual } from "node:crypto";
import { invalidArgument } from "@keyhold/server-kit";
import { VALUE_KINDS, type ValueKind } from "../store/records.ts";

export const MAX_SECRET_VALUE_BYTES = 65_536;

export interface SecretValue {
  readonly kind: ValueKind;
  /** Zero it when done. */
  readonly bytes: Buffer;
}

/** The request's value, or undefined when it carries none. */
export function requestValue(secretString: string, secretBinary: Uint8Array, stringField = "secret_string", binaryField = "secret_binary"): SecretValue | undefined {
  if (secretString !== "" && secretBinary.length > 0) throw invalidArgument(binaryField, `give ${stringField} or ${binaryField}, not both`);
  if (secretString !== "") {
    const bytes = Buffer.from(secretString, "utf8");
    if (bytes.length > MAX_SECRET_VALUE_BYTES) throw invalidArgument(stringField, `must be at most ${MAX_SECRET_VALUE_BYTES} bytes`);
    return { kind: VALUE_KINDS.string, bytes };
  }
  if (secretBinary.length > 0) {
    if (secretBinary.length > MAX_SECRET_VALUE_BYTES) throw invalidArgument(binaryField, `must be at most ${MAX_SECRET_VALUE_BYTES} bytes`);
    return { kind: VALUE_KINDS.binary, bytes: Buffer.from(secretBinary) };
  }
  return undefined;
}

/** Whether two values are the same, in time independent of where they differ. */
export function sameValue(a: SecretValue, b: SecretValue): boolean {
  const da = createHash("sha256").update(a.bytes).digest();
  const db = createHash("sha256").update(b.bytes).digest();
  return timingSafeEqual(da, db) && a.kind === b.kind;
}

// What a grant may give: named kms operations on one key. Grants give use, never control:
// CreateGrant is not grantable (a grantee could otherwise re-grant wider than it holds), nor is
// any management action.
import { invalidArgument } from "@keyhold/server-kit";

/** Grantable operations, canonical names. */
export const GRANT_OPERATIONS = [
  "kms:Encrypt",
  "kms:Decrypt",
  "kms:ReEncrypt",
  "kms:ReEncryptFrom",
  "kms:ReEncryptTo",
  "kms:GenerateDataKey",
  "kms:GenerateDataKeyWithoutPlaintext",
  "kms:GenerateDataKeyPair",
  "kms:GenerateDataKeyPairWithoutPlaintext",
  "kms:Sign",
  "kms:Verify",
  "kms:GenerateMac",
  "kms:VerifyMac",
  "kms:GetPublicKey",
  "kms:DescribeKey",
  "kms:GetKey",
] as const;

const BY_LOWER_NAME: ReadonlyMap<string, string> = new Map(
  GRANT_OPERATIONS.flatMap((op) => [
    [op.toLowerCase(), op],
    [op.slice(4).toLowerCase(), op],
  ]),
);

export const MAX_GRANT_OPERATIONS = GRANT_OPERATIONS.length;

/**
 * Canonical operation names (`kms:Encrypt`) from a request: `kms:Encrypt` or `Encrypt`, any
 * case; duplicates dropped, order kept. INVALID_ARGUMENT names the entry at fault.
 */
export function grantOperations(values: readonly string[], field: string): string[] {
  if (values.length === 0) throw invalidArgument(field, "must name at least one operation");
  const seen = new Set<string>();
  values.forEach((value, i) => {
    const op = BY_LOWER_NAME.get(value.toLowerCase());
    if (op === undefined) throw invalidArgument(`${field}[${i}]`, `is not a grantable operation (one of ${GRANT_OPERATIONS.join(", ")})`);
    seen.add(op);
  });
  return [...seen];
}

const MAX_CONTEXT_ENTRIES = 64;
const MAX_CONTEXT_BYTES = 8192;

/** An encryption-context constraint map; undefined when empty. */
export function contextConstraint(map: Readonly<Record<string, string>>, field: string): Record<string, string> | undefined {
  const keys = Object.keys(map);
  if (keys.length === 0) return undefined;
  if (keys.length > MAX_CONTEXT_ENTRIES) throw invalidArgument(field, `must have at most ${MAX_CONTEXT_ENTRIES} entries`);
  let bytes = 0;
  const result: Record<string, string> = {};
  for (const key of keys.sort()) {
    if (key === "") throw invalidArgument(field, "keys must not be empty");
    const value = map[key]!;
    bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
    result[key] = value;
  }
  if (bytes > MAX_CONTEXT_BYTES) throw invalidArgument(field, `must be at most ${MAX_CONTEXT_BYTES} bytes`);
  return result;
}

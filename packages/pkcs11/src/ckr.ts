// The one table from PKCS#11 return values (CKR_*) to what the gateway does about them: the
// Keyhold reason a caller sees, and how much of the connection to the token to rebuild before
// the next call (the session, the login, or the whole module). A value the table does not name
// is INTERNAL and the session is dropped (its state is unknown).
import pkcs11js from "pkcs11js";
import type { Reason } from "@keyhold/server-kit";

/**
 * What to throw away after the error:
 * - none: the session is healthy (a bad input, a wrong signature);
 * - session: close this session and open another next time;
 * - login: as session, and log in again (the token forgot the login);
 * - module: the token or the library is gone or broken: finalize, initialize, find the token,
 *   log in again (once no operation is running).
 */
export type Recovery = "none" | "session" | "login" | "module";

export interface CkrRule {
  readonly reason: Reason;
  readonly recovery: Recovery;
}

const RULES: Readonly<Record<string, CkrRule>> = {
  // The session or the login is lost: recoverable by reopening.
  CKR_SESSION_HANDLE_INVALID: { reason: "HSM_UNAVAILABLE", recovery: "session" },
  CKR_SESSION_CLOSED: { reason: "HSM_UNAVAILABLE", recovery: "session" },
  CKR_OPERATION_ACTIVE: { reason: "HSM_UNAVAILABLE", recovery: "session" },
  CKR_OPERATION_NOT_INITIALIZED: { reason: "HSM_UNAVAILABLE", recovery: "session" },
  CKR_SESSION_COUNT: { reason: "HSM_UNAVAILABLE", recovery: "session" },
  CKR_USER_NOT_LOGGED_IN: { reason: "HSM_UNAVAILABLE", recovery: "login" },
  // The token, the device or the library is gone or broken.
  CKR_DEVICE_ERROR: { reason: "HSM_UNAVAILABLE", recovery: "module" },
  CKR_DEVICE_REMOVED: { reason: "HSM_UNAVAILABLE", recovery: "module" },
  CKR_DEVICE_MEMORY: { reason: "HSM_UNAVAILABLE", recovery: "module" },
  CKR_TOKEN_NOT_PRESENT: { reason: "HSM_UNAVAILABLE", recovery: "module" },
  CKR_TOKEN_NOT_RECOGNIZED: { reason: "HSM_UNAVAILABLE", recovery: "module" },
  CKR_SLOT_ID_INVALID: { reason: "HSM_UNAVAILABLE", recovery: "module" },
  CKR_CRYPTOKI_NOT_INITIALIZED: { reason: "HSM_UNAVAILABLE", recovery: "module" },
  CKR_GENERAL_ERROR: { reason: "HSM_UNAVAILABLE", recovery: "module" },
  CKR_FUNCTION_FAILED: { reason: "HSM_UNAVAILABLE", recovery: "session" },
  CKR_HOST_MEMORY: { reason: "HSM_UNAVAILABLE", recovery: "session" },
  CKR_TOKEN_WRITE_PROTECTED: { reason: "HSM_UNAVAILABLE", recovery: "none" },
  // The gateway cannot log in: configuration, not the caller.
  CKR_PIN_INCORRECT: { reason: "HSM_UNAVAILABLE", recovery: "module" },
  CKR_PIN_LOCKED: { reason: "HSM_UNAVAILABLE", recovery: "module" },
  CKR_PIN_EXPIRED: { reason: "HSM_UNAVAILABLE", recovery: "module" },
  CKR_USER_PIN_NOT_INITIALIZED: { reason: "HSM_UNAVAILABLE", recovery: "module" },
  // The key the caller named.
  CKR_KEY_HANDLE_INVALID: { reason: "KEY_NOT_FOUND", recovery: "none" },
  CKR_OBJECT_HANDLE_INVALID: { reason: "KEY_NOT_FOUND", recovery: "none" },
  CKR_WRAPPING_KEY_HANDLE_INVALID: { reason: "KEY_NOT_FOUND", recovery: "none" },
  CKR_UNWRAPPING_KEY_HANDLE_INVALID: { reason: "KEY_NOT_FOUND", recovery: "none" },
  CKR_KEY_TYPE_INCONSISTENT: { reason: "KEY_USAGE_MISMATCH", recovery: "none" },
  CKR_KEY_FUNCTION_NOT_PERMITTED: { reason: "KEY_USAGE_MISMATCH", recovery: "none" },
  CKR_WRAPPING_KEY_TYPE_INCONSISTENT: { reason: "KEY_USAGE_MISMATCH", recovery: "none" },
  CKR_UNWRAPPING_KEY_TYPE_INCONSISTENT: { reason: "KEY_USAGE_MISMATCH", recovery: "none" },
  CKR_KEY_UNEXTRACTABLE: { reason: "KEY_USAGE_MISMATCH", recovery: "none" },
  CKR_KEY_NOT_WRAPPABLE: { reason: "KEY_USAGE_MISMATCH", recovery: "none" },
  // What the caller sent.
  CKR_ENCRYPTED_DATA_INVALID: { reason: "INVALID_CIPHERTEXT", recovery: "none" },
  CKR_ENCRYPTED_DATA_LEN_RANGE: { reason: "INVALID_CIPHERTEXT", recovery: "none" },
  CKR_WRAPPED_KEY_INVALID: { reason: "INVALID_CIPHERTEXT", recovery: "none" },
  CKR_WRAPPED_KEY_LEN_RANGE: { reason: "INVALID_CIPHERTEXT", recovery: "none" },
  CKR_DATA_INVALID: { reason: "INVALID_ARGUMENT", recovery: "none" },
  CKR_DATA_LEN_RANGE: { reason: "INVALID_ARGUMENT", recovery: "none" },
  CKR_KEY_SIZE_RANGE: { reason: "INVALID_ARGUMENT", recovery: "none" },
  CKR_MECHANISM_INVALID: { reason: "INVALID_ARGUMENT", recovery: "none" },
  CKR_MECHANISM_PARAM_INVALID: { reason: "INVALID_ARGUMENT", recovery: "none" },
};

const UNKNOWN: CkrRule = { reason: "INTERNAL", recovery: "session" };

/** The rule for a CKR_* name (e.g. "CKR_DEVICE_ERROR"). */
export function ckrRule(name: string): CkrRule {
  return RULES[name] ?? UNKNOWN;
}

/** Every CKR_* value pkcs11js knows, by number, and the PKCS#11 2.40 ones it does not. */
const NAMES: ReadonlyMap<number, string> = new Map([
  ...Object.entries(pkcs11js as unknown as Record<string, unknown>)
    .filter((entry): entry is [string, number] => entry[0].startsWith("CKR_") && typeof entry[1] === "number")
    .map(([name, value]): [number, string] => [value, name]),
  [0x1b, "CKR_ACTION_PROHIBITED"],
  [0x115, "CKR_CURVE_NOT_SUPPORTED"],
]);

/** The CKR_* name of a value ("CKR_0x…" for a vendor-defined one). */
export function ckrName(code: number): string {
  return NAMES.get(code) ?? `CKR_0x${code.toString(16).padStart(8, "0")}`;
}

/**
 * The CKR_* name a pkcs11js error carries (its `code`, or the "CKR_X:n" in its message), or
 * undefined when the error did not come from the module.
 */
export function ckrOf(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "number" && error.name === "Pkcs11Error") return ckrName(code);
  const match = /(CKR_[A-Z0-9_]+):(\d+)/.exec(error.message);
  if (match === null) return undefined;
  return match[1] === "CKR_VENDOR_DEFINED" ? ckrName(Number(match[2])) : match[1];
}

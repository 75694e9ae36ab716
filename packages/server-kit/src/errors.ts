// One error class for all domain and handler code. The reason is closed (the conventions
// table); the transport edge maps it to a status code with REASON_CODES. A cause is kept for
// logging and never sent to a client.
import { Code } from "@connectrpc/connect";

export const REASON_CODES = {
  KEY_NOT_FOUND: Code.NotFound,
  ALIAS_NOT_FOUND: Code.NotFound,
  SECRET_NOT_FOUND: Code.NotFound,
  SECRET_VERSION_NOT_FOUND: Code.NotFound,
  NOT_FOUND: Code.NotFound,
  KEY_VERSION_NOT_FOUND: Code.NotFound,
  PRINCIPAL_NOT_FOUND: Code.NotFound,
  API_KEY_NOT_FOUND: Code.NotFound,
  POLICY_NOT_FOUND: Code.NotFound,
  GRANT_NOT_FOUND: Code.NotFound,
  CERTIFICATE_IDENTITY_NOT_FOUND: Code.NotFound,
  EXTERNAL_KEY_STORE_NOT_FOUND: Code.NotFound,
  ACCESS_DENIED: Code.PermissionDenied,
  UNAUTHENTICATED: Code.Unauthenticated,
  ALREADY_EXISTS: Code.AlreadyExists,
  IDEMPOTENCY_CONFLICT: Code.AlreadyExists,
  KEY_DISABLED: Code.FailedPrecondition,
  KEY_PENDING_DELETION: Code.FailedPrecondition,
  KEY_PENDING_IMPORT: Code.FailedPrecondition,
  KEY_USAGE_MISMATCH: Code.FailedPrecondition,
  AUDIT_SEQUENCE_GAP: Code.FailedPrecondition,
  DELETION_PROTECTED: Code.FailedPrecondition,
  LIMIT_EXCEEDED: Code.FailedPrecondition,
  /** The key's state does not allow the operation (e.g. CancelKeyDeletion of a key not pending deletion). */
  KEY_INVALID_STATE: Code.FailedPrecondition,
  /** The external key store's connection state does not allow the operation (e.g. deleting a connected store). */
  EXTERNAL_KEY_STORE_INVALID_STATE: Code.FailedPrecondition,
  /** The operation does not apply to this kind of key (e.g. rotating imported key material). */
  UNSUPPORTED_OPERATION: Code.FailedPrecondition,
  /** The secret is scheduled for deletion (RestoreSecret cancels that). */
  SECRET_PENDING_DELETION: Code.FailedPrecondition,
  /** A rotation of the secret is running. */
  ROTATION_IN_PROGRESS: Code.FailedPrecondition,
  /** A step of the secret's rotation failed, or the secret cannot be rotated. */
  ROTATION_FAILED: Code.FailedPrecondition,
  /** key-service's root key is sealed: nothing that needs it works until it is unsealed (SealService). */
  SEALED: Code.FailedPrecondition,
  INVALID_ARGUMENT: Code.InvalidArgument,
  INVALID_CIPHERTEXT: Code.InvalidArgument,
  ENCRYPTION_CONTEXT_MISMATCH: Code.InvalidArgument,
  PLAINTEXT_TOO_LARGE: Code.InvalidArgument,
  /** An import token that was never issued, is for another key, or has expired. */
  INVALID_IMPORT_TOKEN: Code.InvalidArgument,
  /** Re-imported key material differs from the material the key was first given. */
  INCORRECT_KEY_MATERIAL: Code.InvalidArgument,
  /** VerifyMac: the MAC does not match the message under the key. */
  INVALID_MAC: Code.InvalidArgument,
  /** Verify: the signature does not match the message under the key. */
  INVALID_SIGNATURE: Code.InvalidArgument,
  HSM_UNAVAILABLE: Code.Unavailable,
  /** hsm-gateway: no free PKCS#11 session within the call's deadline. */
  HSM_BUSY: Code.ResourceExhausted,
  /** hsm-gateway: the operation did not finish within the call's deadline. */
  HSM_TIMEOUT: Code.DeadlineExceeded,
  EXTERNAL_KEY_STORE_UNAVAILABLE: Code.Unavailable,
  AUDIT_UNAVAILABLE: Code.Unavailable,
  /** The service's PostgreSQL database cannot be reached (refused, reset, timed out, shutting down). */
  DATABASE_UNAVAILABLE: Code.Unavailable,
  SERVICE_UNAVAILABLE: Code.Unavailable,
  THROTTLED: Code.ResourceExhausted,
  INTERNAL: Code.Internal,
} as const satisfies Record<string, Code>;

export type Reason = keyof typeof REASON_CODES;

/** The error domain every ErrorInfo carries. */
export const ERROR_DOMAIN = "keyhold.dev";

export interface KeyholdErrorOptions {
  /** The request field at fault (for INVALID_ARGUMENT), sent as ErrorInfo metadata "field". */
  readonly field?: string;
  /** Extra ErrorInfo metadata. Never key material, plaintext, secrets or context values. */
  readonly metadata?: Readonly<Record<string, string>>;
  /** For THROTTLED: how long the client should wait (sent as google.rpc.RetryInfo). */
  readonly retryAfterMs?: number;
  /** Logged server-side, never sent. */
  readonly cause?: unknown;
}

export class KeyholdError extends Error {
  override readonly name = "KeyholdError";
  readonly reason: Reason;
  readonly field: string | undefined;
  readonly metadata: Readonly<Record<string, string>>;
  readonly retryAfterMs: number | undefined;

  constructor(reason: Reason, message: string, options: KeyholdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.reason = reason;
    this.field = options.field;
    this.metadata = options.metadata ?? {};
    this.retryAfterMs = options.retryAfterMs;
  }

  get code(): Code {
    return REASON_CODES[this.reason];
  }
}

/** INVALID_ARGUMENT naming the field: `field: problem`. */
export function invalidArgument(field: string, problem: string): KeyholdError {
  return new KeyholdError("INVALID_ARGUMENT", `${field}: ${problem}`, { field });
}

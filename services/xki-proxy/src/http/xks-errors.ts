// Keyhold reasons from the HSM layer as the XKS error names and HTTP codes of the spec. The
// message sent is the error's own (CKR_* names, field names, key ids): never plaintext or AAD.
import { KeyholdError, type Reason } from "@keyhold/server-kit";
import { XksError, type XksErrorName } from "@keyhold/xks";

const BY_REASON: Partial<Readonly<Record<Reason, XksErrorName>>> = {
  KEY_NOT_FOUND: "KeyNotFoundException",
  KEY_DISABLED: "InvalidStateException",
  KEY_USAGE_MISMATCH: "InvalidKeyUsageException",
  INVALID_CIPHERTEXT: "InvalidCiphertextException",
  INVALID_ARGUMENT: "ValidationException",
  ACCESS_DENIED: "AccessDeniedException",
  UNAUTHENTICATED: "AuthenticationFailedException",
  HSM_TIMEOUT: "DependencyTimeoutException",
  HSM_BUSY: "DependencyTimeoutException",
  THROTTLED: "ThrottlingException",
  HSM_UNAVAILABLE: "InternalException",
  INTERNAL: "InternalException",
};

/** The XKS error for anything thrown while serving a request (unknown errors: InternalException, message withheld). */
export function toXksError(error: unknown): XksError {
  if (error instanceof XksError) return error;
  if (error instanceof KeyholdError) {
    const name = BY_REASON[error.reason] ?? "InternalException";
    return new XksError(name, name === "InternalException" && error.reason === "INTERNAL" ? "internal error" : error.message);
  }
  return new XksError("InternalException", "internal error");
}

// The XKS proxy API's errors: an HTTP status and a JSON body {errorName, errorMessage?}, the
// message under 512 printable ASCII characters (XKS Proxy API v1, "Error Codes").

export const XKS_ERROR_STATUS = {
  ValidationException: 400,
  InvalidStateException: 400,
  InvalidCiphertextException: 400,
  InvalidKeyUsageException: 400,
  AuthenticationFailedException: 401,
  AccessDeniedException: 403,
  KeyNotFoundException: 404,
  InvalidUriPathException: 404,
  ThrottlingException: 429,
  InternalException: 500,
  UnsupportedOperationException: 501,
  DependencyTimeoutException: 503,
} as const;

export type XksErrorName = keyof typeof XKS_ERROR_STATUS;

const MAX_MESSAGE = 511;

/** errorMessage as the spec allows it: printable ASCII, under 512 characters. */
export function safeErrorMessage(message: string): string {
  return message.replace(/[^\x20-\x7e]/g, "?").slice(0, MAX_MESSAGE);
}

export class XksError extends Error {
  override readonly name = "XksError";
  readonly errorName: XksErrorName;

  constructor(errorName: XksErrorName, message: string) {
    super(safeErrorMessage(message));
    this.errorName = errorName;
  }

  get status(): number {
    return XKS_ERROR_STATUS[this.errorName];
  }

  /** The response body. */
  toJSON(): { errorName: XksErrorName; errorMessage: string } {
    return { errorName: this.errorName, errorMessage: this.message };
  }
}

export function isXksErrorName(name: unknown): name is XksErrorName {
  return typeof name === "string" && Object.hasOwn(XKS_ERROR_STATUS, name);
}

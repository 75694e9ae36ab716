// Errors from a peer Keyhold service, turned back into this service's domain error so they
// reach the end caller unchanged (same reason, field and message). Anything that is not a
// Keyhold verdict (connection refused, deadline, unknown) means the peer is unavailable.
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "@keyhold/proto";
import { ERROR_DOMAIN, KeyholdError, REASON_CODES, type Reason } from "./errors.ts";

const isReason = (value: string): value is Reason => Object.hasOwn(REASON_CODES, value);

export function fromPeerError(error: unknown, peer: string): KeyholdError {
  if (error instanceof KeyholdError) return error;
  const connectError = ConnectError.from(error);
  const info = connectError.findDetails(ErrorInfoSchema)[0];
  if (info !== undefined && info.domain === ERROR_DOMAIN && isReason(info.reason) && info.reason !== "INTERNAL") {
    const field = info.metadata["field"];
    return new KeyholdError(info.reason, connectError.rawMessage, field === undefined ? {} : { field });
  }
  if (connectError.code === Code.Unauthenticated) return new KeyholdError("UNAUTHENTICATED", "invalid credential");
  return new KeyholdError("SERVICE_UNAVAILABLE", `${peer} is unavailable`, { cause: error });
}

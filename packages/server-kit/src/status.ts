// Turns anything a handler throws into the one wire form both front doors send: a status
// code, a message, and one google.rpc.ErrorInfo (domain keyhold.dev). Unknown errors become
// INTERNAL with a fixed message; their cause is logged, never sent.
import { create, toBinary } from "@bufbuild/protobuf";
import { anyPack, DurationSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import { ErrorInfoSchema, RetryInfoSchema, StatusSchema } from "@keyhold/proto";
import { ERROR_DOMAIN, KeyholdError, type Reason } from "./errors.ts";
import type { Logger } from "./logger.ts";

export interface WireError {
  readonly code: Code;
  readonly message: string;
  readonly reason: Reason;
  readonly metadata: Readonly<Record<string, string>>;
  readonly retryAfterMs: number | undefined;
}

export function toWireError(error: unknown, logger: Logger, where: string): WireError {
  if (error instanceof KeyholdError) {
    const metadata = error.field === undefined ? error.metadata : { ...error.metadata, field: error.field };
    if (error.code === Code.Internal || error.code === Code.Unavailable) {
      logger.error("call failed", { where, reason: error.reason, cause: describeCause(error.cause) });
    }
    return { code: error.code, message: error.message, reason: error.reason, metadata, retryAfterMs: error.retryAfterMs };
  }
  logger.error("unexpected error", { where, cause: describeCause(error) });
  return { code: Code.Internal, message: "internal error", reason: "INTERNAL", metadata: {}, retryAfterMs: undefined };
}

/** The message of an error for the server log: name and message only, no stack, no data. */
function describeCause(cause: unknown): string | undefined {
  if (cause === undefined) return undefined;
  if (cause instanceof Error) return `${cause.name}: ${cause.message}`;
  return typeof cause;
}

export function errorInfo(wire: WireError) {
  return create(ErrorInfoSchema, { reason: wire.reason, domain: ERROR_DOMAIN, metadata: { ...wire.metadata } });
}

export function retryInfo(retryAfterMs: number) {
  const seconds = Math.floor(retryAfterMs / 1000);
  return create(RetryInfoSchema, {
    retryDelay: create(DurationSchema, { seconds: BigInt(seconds), nanos: (retryAfterMs % 1000) * 1_000_000 }),
  });
}

/** The binary google.rpc.Status for the grpc-status-details-bin trailer. */
export function statusDetailsBin(wire: WireError): Buffer {
  const details = [anyPack(ErrorInfoSchema, errorInfo(wire))];
  if (wire.retryAfterMs !== undefined) details.push(anyPack(RetryInfoSchema, retryInfo(wire.retryAfterMs)));
  const status = create(StatusSchema, { code: wire.code, message: wire.message, details });
  return Buffer.from(toBinary(StatusSchema, status));
}

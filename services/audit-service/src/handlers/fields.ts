// Request field checks the read handlers share.
import type { Timestamp } from "@bufbuild/protobuf/wkt";
import { invalidArgument } from "@keyhold/server-kit";
import { isValidTimestamp, timestampMicros } from "../domain/event.ts";

export function optionalTime(value: Timestamp | undefined, field: string): bigint | undefined {
  if (value === undefined) return undefined;
  if (!isValidTimestamp(value.seconds, value.nanos)) throw invalidArgument(field, "must be a valid timestamp between years 1 and 9999");
  return timestampMicros(value.seconds, value.nanos);
}

/** A log index from a request: 0 (unset) or a non-negative integer within range. */
export function logIndex(value: bigint, field: string): number | undefined {
  if (value < 0n) throw invalidArgument(field, "must not be negative");
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw invalidArgument(field, "is out of range");
  return value === 0n ? undefined : Number(value);
}

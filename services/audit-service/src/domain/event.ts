// Audit events as the log stores them: validated on ingest, then encoded once into their
// canonical bytes, the Merkle leaf data. The canonical encoding is deterministic protobuf:
//   toBinary(AuditEvent without encryption_context, no unknown fields)   (fields in number order)
//   ‖ one field-13 entry per encryption context key, in ascending order of the key's UTF-8
//     bytes, each entry written as key (field 1) then value (field 2), both always present.
// Any protobuf parser reads it as the same AuditEvent, and encoding that AuditEvent again (from
// binary, or from its protobuf JSON in an export) gives the same bytes: the offline verifier
// relies on that.
import { fromBinary, fromJson, toJson, type JsonValue } from "@bufbuild/protobuf";
import { encodeAuditEvent, type AuditEventFields } from "@keyhold/audit-client";
import { isIP } from "node:net";
import { AuditEventSchema, type AuditEvent } from "@keyhold/proto";
import { invalidArgument } from "@keyhold/server-kit";

/** The canonical bytes of an event (defined and written by @keyhold/audit-client's encodeAuditEvent). */
export function canonicalEventBytes(event: AuditEvent): Uint8Array {
  return encodeAuditEvent(event);
}

export function decodeEvent(bytes: Uint8Array): AuditEvent {
  return fromBinary(AuditEventSchema, bytes, { readUnknownFields: false });
}

/** The event as protobuf JSON (what exports carry). */
export function eventToJson(event: AuditEvent): JsonValue {
  return toJson(AuditEventSchema, event);
}

/** The event an export line carries; throws on JSON that is not an AuditEvent. */
export function eventFromJson(json: JsonValue): AuditEvent {
  return fromJson(AuditEventSchema, json);
}

/** What the store indexes for LookupEvents, all read from the event itself. */
export interface EventColumns {
  readonly eventId: string;
  /** Event time in microseconds since the Unix epoch. */
  readonly timeMicros: bigint;
  readonly accountId: string;
  readonly principalKrn: string;
  readonly action: string;
  readonly resource: string;
  readonly outcomeCode: number;
  readonly outcomeReason: string;
  readonly source: string;
  readonly sourceSequence: bigint;
}

export function timestampMicros(seconds: bigint, nanos: number): bigint {
  return seconds * 1_000_000n + BigInt(Math.floor(nanos / 1000));
}

export function eventColumns(event: AuditEventFields): EventColumns {
  return {
    eventId: event.eventId,
    timeMicros: event.time === undefined ? 0n : timestampMicros(event.time.seconds, event.time.nanos),
    accountId: event.accountId,
    principalKrn: event.principalKrn,
    action: event.action,
    resource: event.resource,
    outcomeCode: event.outcome?.code ?? 0,
    outcomeReason: event.outcome?.reason ?? "",
    source: event.source,
    sourceSequence: event.sourceSequence,
  };
}

// ── validation ───────────────────────────────────────────────────────────────────────────

export const MAX_BATCH_EVENTS = 10_000;
export const MAX_KRN_LENGTH = 2048;
export const MAX_ENCRYPTION_CONTEXT_BYTES = 32 * 1024;
/** Timestamp range of google.protobuf.Timestamp: 0001-01-01T00:00:00Z .. 9999-12-31T23:59:59Z. */
const MIN_SECONDS = -62_135_596_800n;
const MAX_SECONDS = 253_402_300_799n;

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const KRN = /^krn:keyhold:[a-z][a-z0-9-]{0,31}:[a-z0-9-]{0,32}:[a-z0-9-]{0,32}:[\x21-\x7e]{1,2000}$/;
export const ACTION = /^[a-z][a-z0-9-]{0,31}:[A-Za-z][A-Za-z0-9]{0,127}$/;
export const SERVICE_NAME = /^[a-z][a-z0-9-]{0,62}$/;
export const ACCOUNT_ID = /^[0-9]{12}$/;
export const REASON = /^[A-Z][A-Z0-9_]{0,63}$/;
/** An outbox id: printable ASCII without spaces. */
export const SOURCE = /^[\x21-\x7e]{1,256}$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isValidTimestamp(seconds: bigint, nanos: number): boolean {
  return seconds >= MIN_SECONDS && seconds <= MAX_SECONDS && Number.isInteger(nanos) && nanos >= 0 && nanos <= 999_999_999;
}

/** The name of field `field` of event `i` in AppendEvents (built only for an error). */
const at = (i: number, field: string): string => `events[${i}].${field}`;

function text(value: string, i: number, field: string, max: number): void {
  if (value.length > max) throw invalidArgument(at(i, field), `must be at most ${max} characters`);
  if (CONTROL.test(value)) throw invalidArgument(at(i, field), "must not contain control characters");
  if (LONE_SURROGATE.test(value)) throw invalidArgument(at(i, field), "must be valid Unicode");
}

function ascii(value: string, i: number, field: string, max: number): void {
  if (value.length > max) throw invalidArgument(at(i, field), `must be at most ${max} characters`);
  if (!PRINTABLE_ASCII.test(value)) throw invalidArgument(at(i, field), "must be printable ASCII");
}

function optionalPattern(value: string, i: number, field: string, pattern: RegExp, what: string): void {
  if (value !== "" && !pattern.test(value)) throw invalidArgument(at(i, field), `must be ${what}`);
}

function requiredPattern(value: string, i: number, field: string, pattern: RegExp, what: string): void {
  if (value === "") throw invalidArgument(at(i, field), "is required");
  if (!pattern.test(value)) throw invalidArgument(at(i, field), `must be ${what}`);
}

/**
 * Checks one event of an AppendEvents batch (field names `events[i].<field>`) and returns it as
 * the log will store it: its `source` filled in when the shipper left it empty.
 */
export function validateIngestEvent<E extends AuditEventFields>(event: E, i: number, source: string): E {
  requiredPattern(event.eventId, i, "event_id", UUID, "a lower-case UUID");
  if (event.time === undefined) throw invalidArgument(at(i, "time"), "is required");
  if (!isValidTimestamp(event.time.seconds, event.time.nanos)) throw invalidArgument(at(i, "time"), "must be a valid timestamp between years 1 and 9999");
  requiredPattern(event.service, i, "service", SERVICE_NAME, "a service name (lower-case letters, digits and '-')");
  requiredPattern(event.action, i, "action", ACTION, "an action such as kms:Encrypt");
  if (event.principalKrn.length > MAX_KRN_LENGTH) throw invalidArgument(at(i, "principal_krn"), `must be at most ${MAX_KRN_LENGTH} characters`);
  optionalPattern(event.principalKrn, i, "principal_krn", KRN, "a principal krn");
  optionalPattern(event.accountId, i, "account_id", ACCOUNT_ID, "12 digits");
  if (event.sourceIp !== "" && isIP(event.sourceIp) === 0) throw invalidArgument(at(i, "source_ip"), "must be an IPv4 or IPv6 address");
  text(event.userAgent, i, "user_agent", 1024);
  ascii(event.requestId, i, "request_id", 256);
  ascii(event.traceId, i, "trace_id", 256);
  if (event.resource.length > MAX_KRN_LENGTH) throw invalidArgument(at(i, "resource"), `must be at most ${MAX_KRN_LENGTH} characters`);
  optionalPattern(event.resource, i, "resource", KRN, "a krn");
  ascii(event.keyVersionId, i, "key_version_id", 256);
  let contextBytes = 0;
  for (const [key, value] of Object.entries(event.encryptionContext)) {
    if (key === "") throw invalidArgument(at(i, "encryption_context"), "keys must not be empty");
    if (LONE_SURROGATE.test(key) || LONE_SURROGATE.test(value)) throw invalidArgument(at(i, "encryption_context"), "must be valid Unicode");
    contextBytes += Buffer.byteLength(key, "utf8") + Buffer.byteLength(value, "utf8");
  }
  if (contextBytes > MAX_ENCRYPTION_CONTEXT_BYTES) throw invalidArgument(at(i, "encryption_context"), `must be at most ${MAX_ENCRYPTION_CONTEXT_BYTES} bytes`);
  const outcome = event.outcome;
  if (outcome === undefined) throw invalidArgument(at(i, "outcome"), "is required");
  if (!Number.isInteger(outcome.code) || outcome.code < 0 || outcome.code > 16) throw invalidArgument(at(i, "outcome.code"), "must be a gRPC status code (0-16)");
  if (outcome.code === 0 && outcome.reason !== "") throw invalidArgument(at(i, "outcome.reason"), "must be empty for a successful call");
  optionalPattern(outcome.reason, i, "outcome.reason", REASON, "an ErrorInfo reason such as ACCESS_DENIED");
  if (event.latencyMicros < 0n) throw invalidArgument(at(i, "latency_micros"), "must not be negative");
  optionalPattern(event.callingService, i, "calling_service", SERVICE_NAME, "a service name");
  if (event.source !== "" && event.source !== source) throw invalidArgument(at(i, "source"), "must be empty or the request's source");
  if (event.sourceSequence < 1n) throw invalidArgument(at(i, "source_sequence"), "must be at least 1");
  if (event.source === source) return event;
  return { ...event, source };
}

/**
 * The canonical bytes of an event that passed validateIngestEvent. Validation is what makes them
 * survive the protobuf JSON of an export unchanged (every string valid Unicode, the timestamp in
 * JSON's range, no unknown fields kept), so no JSON round trip is spent per event here; the tests
 * check that property over generated events.
 */
export function encodeForLog(event: AuditEventFields): Uint8Array {
  return encodeAuditEvent(event);
}

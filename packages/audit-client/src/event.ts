// One AuditEvent per call, built only from the call context and the details its handler
// recorded: never from request or response messages, so no plaintext, key material, secret
// value, credential or encryption context value can reach it. Context values appear only as
// HMAC-SHA-256 under the audit HMAC key, unless the accounts involved opted in to plain values.
import { createHmac } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { ConnectError } from "@connectrpc/connect";
import { accountOfKrn, sourceIpOf } from "@keyhold/authz";
import { AuditEventSchema, ErrorInfoSchema, type AuditEvent } from "@keyhold/proto";
import { ERROR_DOMAIN, KeyholdError, type CallContext } from "@keyhold/server-kit";
import type { AuditEventFields } from "./canonical-event.ts";

/** What a handler knows about its call that the call context does not. */
export interface AuditDetails {
  /** The IAM action when it differs from the default `<prefix>:<RPC name>`. */
  readonly action?: string | undefined;
  /** The krn of the resource acted on. */
  readonly resource?: string | undefined;
  /** The key version used (Encrypt, Decrypt, Sign, …). */
  readonly keyVersionId?: string | undefined;
  /** The encryption context: only its keys are recorded as given; values are HMAC'd. */
  readonly encryptionContext?: Readonly<Record<string, string>> | undefined;
}

interface MutableDetails {
  action?: string;
  resource?: string;
  keyVersionId?: string;
  encryptionContext?: Readonly<Record<string, string>>;
}

const AUDIT_DETAILS = Symbol("keyhold.audit.details");

/**
 * Records details for this call's audit event. Call it as soon as they are known (the resource
 * before authorizing it, so a denied call names what it was denied on); later calls add to or
 * replace earlier fields.
 */
export function recordAuditDetails(call: CallContext, details: AuditDetails): void {
  let recorded = call.values.get(AUDIT_DETAILS) as MutableDetails | undefined;
  if (recorded === undefined) {
    recorded = {};
    call.values.set(AUDIT_DETAILS, recorded);
  }
  if (details.action !== undefined) recorded.action = details.action;
  if (details.resource !== undefined) recorded.resource = details.resource;
  if (details.keyVersionId !== undefined) recorded.keyVersionId = details.keyVersionId;
  if (details.encryptionContext !== undefined) recorded.encryptionContext = details.encryptionContext;
}

/** The details recorded for this call so far. */
export function auditDetailsOf(call: CallContext): AuditDetails {
  return (call.values.get(AUDIT_DETAILS) as MutableDetails | undefined) ?? {};
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/** The trace id of a valid W3C traceparent header, else "". */
export function traceIdOf(traceparent: string | undefined): string {
  if (traceparent === undefined) return "";
  const match = TRACEPARENT.exec(traceparent.trim());
  if (match === null) return "";
  const [, version, traceId, parentId, , rest] = match;
  if (version === "ff") return "";
  // Version 00 has exactly four fields; later versions may append more after a dash.
  if (version === "00" && rest !== undefined) return "";
  if (/^0+$/.test(traceId!) || /^0+$/.test(parentId!)) return "";
  return traceId!;
}

/** A call's outcome: a google.rpc.Code value and the ErrorInfo reason ("" when OK). */
export interface CallOutcome {
  readonly code: number;
  readonly reason: string;
}

const OK: CallOutcome = { code: 0, reason: "" };

/** The outcome of a successful call. */
export function okOutcome(): CallOutcome {
  return OK;
}

/** The outcome of a failed call as the audit trail records it: a google.rpc.Code and ErrorInfo reason. */
export function outcomeOf(error: unknown): CallOutcome {
  if (error instanceof KeyholdError) return { code: error.code, reason: error.reason };
  if (error instanceof ConnectError) {
    // A peer's answer passed through unchanged: its code, and its Keyhold reason when it has one.
    const info = error.findDetails(ErrorInfoSchema).find((detail) => detail.domain === ERROR_DOMAIN);
    return { code: error.code, reason: info?.reason ?? "" };
  }
  return { code: 13, reason: "INTERNAL" };
}

/** The encryption context as recorded: keys as given, values HMAC-SHA-256 (hex) unless `plain`. */
export function protectEncryptionContext(
  context: Readonly<Record<string, string>>,
  hmacKey: Uint8Array,
  plain: boolean,
): Record<string, string> {
  const recorded: Record<string, string> = {};
  for (const [key, value] of Object.entries(context)) {
    recorded[key] = plain ? value : createHmac("sha256", hmacKey).update(value, "utf8").digest("hex");
  }
  return recorded;
}

/** Longest user agent kept (it is caller-chosen text). */
export const MAX_USER_AGENT_LENGTH = 256;

export interface AuditEventInput {
  readonly call: CallContext;
  readonly service: string;
  /** The default action's prefix: "kms" makes `kms:Encrypt`. */
  readonly actionPrefix: string;
  readonly eventId: string;
  readonly time: Date;
  readonly latencyMicros: number;
  /** Whether the call failed, and with what. */
  readonly failed: boolean;
  readonly error: unknown;
  readonly hmacKey: Uint8Array;
  /** Accounts whose encryption context values are recorded in plain text. */
  readonly plainContextAccounts: ReadonlySet<string>;
}

/** Plain values only when the caller's account and the resource's account (if another) opted in. */
function plainContextAllowed(principalAccount: string, resource: string, optedIn: ReadonlySet<string>): boolean {
  if (principalAccount === "" || !optedIn.has(principalAccount)) return false;
  const resourceAccount = resource === "" ? undefined : accountOfKrn(resource);
  return resourceAccount === undefined || resourceAccount === "" || optedIn.has(resourceAccount);
}

/** The event's fields, as plain data: what the interceptor encodes (encodeAuditEvent). */
export function auditEventFields(input: AuditEventInput): AuditEventFields {
  const { call } = input;
  const details = auditDetailsOf(call);
  const principal = call.principal;
  const accountId = principal?.accountId ?? "";
  const resource = details.resource ?? "";
  const userAgent = call.header("user-agent") ?? "";
  const context = details.encryptionContext;
  const ms = input.time.getTime();
  const seconds = Math.floor(ms / 1000);
  return {
    eventId: input.eventId,
    time: { seconds: BigInt(seconds), nanos: (ms - seconds * 1000) * 1_000_000 },
    service: input.service,
    action: details.action ?? `${input.actionPrefix}:${call.method.name}`,
    principalKrn: principal?.krn ?? "",
    accountId,
    sourceIp: sourceIpOf(call.peerAddress) ?? "",
    userAgent: userAgent.slice(0, MAX_USER_AGENT_LENGTH),
    requestId: call.requestId,
    traceId: traceIdOf(call.header("traceparent")),
    resource,
    keyVersionId: details.keyVersionId ?? "",
    encryptionContext:
      context === undefined
        ? {}
        : protectEncryptionContext(context, input.hmacKey, plainContextAllowed(accountId, resource, input.plainContextAccounts)),
    outcome: input.failed ? outcomeOf(input.error) : okOutcome(),
    latencyMicros: BigInt(Math.max(0, Math.round(input.latencyMicros))),
    callingService: call.callingService ?? "",
    source: "",
    sourceSequence: 0n,
  };
}

/** The event as a message (tests, tools); the interceptor encodes auditEventFields directly. */
export function buildAuditEvent(input: AuditEventInput): AuditEvent {
  return create(AuditEventSchema, auditEventFields(input));
}

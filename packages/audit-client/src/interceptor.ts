// The audit step of every call: time it, run it, and, whatever the outcome, append one event to
// the outbox before the answer leaves. Fail closed: when the event cannot be recorded a
// successful call fails with AUDIT_UNAVAILABLE instead of releasing its result, and a failed call
// fails with AUDIT_UNAVAILABLE instead of its own error.
//
// Install it as the OUTERMOST interceptor (first in the list, before authentication) so calls
// that authentication refuses are audited too; it reads call.principal after the call ran, so it
// still sees whom authentication established.
import { KeyholdError, type CallInterceptor } from "@keyhold/server-kit";
import { encodeAuditEvent } from "./canonical-event.ts";
import { uuidV7Generator } from "./event-id.ts";
import { auditEventFields } from "./event.ts";
import { auditUnavailable, type AuditSink } from "./outbox.ts";

export interface AuditInterceptorOptions {
  /** This service's name as recorded in each event, e.g. "key-service". */
  readonly service: string;
  /** Prefix of the default action `<prefix>:<RPC name>`, e.g. "kms" (kms:Encrypt), "iam", "secrets", "audit". */
  readonly actionPrefix: string;
  /** Where events go: the service's Outbox. */
  readonly outbox: AuditSink;
  /** Event times. */
  readonly clock: { now(): Date };
  /** Key of the HMAC-SHA-256 over encryption context values: at least 32 bytes, shared by all services. */
  readonly hmacKey: Uint8Array;
  /** Accounts that opted in to plain encryption context values in the audit trail. */
  readonly plainContextAccounts?: ReadonlySet<string>;
  /** Event ids (default: UUIDv7, time-ordered, see event-id.ts). */
  readonly newEventId?: () => string;
}

export const MIN_HMAC_KEY_BYTES = 32;

export function auditInterceptor(options: AuditInterceptorOptions): CallInterceptor {
  if (options.hmacKey.byteLength < MIN_HMAC_KEY_BYTES) {
    throw new Error(`audit HMAC key must be at least ${MIN_HMAC_KEY_BYTES} bytes`);
  }
  const { service, actionPrefix, outbox, clock } = options;
  const hmacKey = Uint8Array.from(options.hmacKey);
  const plainContextAccounts = options.plainContextAccounts ?? new Set<string>();
  const newEventId = options.newEventId ?? uuidV7Generator();
  return (next) => async (request, call) => {
    const time = clock.now();
    const started = performance.now();
    let result: unknown;
    let failed = false;
    let error: unknown;
    try {
      result = await next(request, call);
    } catch (thrown) {
      failed = true;
      error = thrown;
    }
    const latencyMicros = (performance.now() - started) * 1000;
    try {
      const event = encodeAuditEvent(
        auditEventFields({ call, service, actionPrefix, eventId: newEventId(), time, latencyMicros, failed, error, hmacKey, plainContextAccounts }),
      );
      await outbox.append(event);
    } catch (cause) {
      throw cause instanceof KeyholdError && cause.reason === "AUDIT_UNAVAILABLE" ? cause : auditUnavailable(cause);
    }
    if (failed) throw error;
    return result;
  };
}

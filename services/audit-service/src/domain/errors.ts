// The refusals audit-service's domain raises beyond server-kit's helpers.
import { KeyholdError } from "@keyhold/server-kit";

export const SEQUENCE_GAP_REASON = "AUDIT_SEQUENCE_GAP" as const;

/**
 * FAILED_PRECONDITION AUDIT_SEQUENCE_GAP: a batch starts after the first sequence the log still
 * expects from its source. ErrorInfo metadata "acknowledged_through" says where the log is, so
 * the shipper resends from the next sequence.
 */
export function sequenceGap(field: string, acknowledgedThrough: bigint, found: bigint): KeyholdError {
  return new KeyholdError(
    SEQUENCE_GAP_REASON,
    `${field}: sequence gap: the log has this source through ${acknowledgedThrough}, so the next batch must start at ${acknowledgedThrough + 1n}, not ${found}`,
    { field, metadata: { acknowledged_through: acknowledgedThrough.toString() } },
  );
}

/** The log refuses appends and signatures after an integrity failure (see AuditLog). */
export function logHalted(problem: string): KeyholdError {
  return new KeyholdError("AUDIT_UNAVAILABLE", "audit log unavailable: integrity check failed", { cause: new Error(problem) });
}

export function eventNotFound(field: string): KeyholdError {
  return new KeyholdError("NOT_FOUND", `${field}: event not found`, { field });
}

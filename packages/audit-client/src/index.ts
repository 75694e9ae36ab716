export { auditDetailsOf, buildAuditEvent, MAX_USER_AGENT_LENGTH, okOutcome, outcomeOf, protectEncryptionContext, recordAuditDetails, traceIdOf } from "./event.ts";
export type { AuditDetails, AuditEventInput } from "./event.ts";
export { auditInterceptor, MIN_HMAC_KEY_BYTES } from "./interceptor.ts";
export type { AuditInterceptorOptions } from "./interceptor.ts";
export { auditUnavailable, Outbox, OutboxWriterError } from "./outbox.ts";
export type { AuditSink, OutboxOptions, OutboxRow, OutboxStats } from "./outbox.ts";
export { AuditShipper } from "./shipper.ts";
export type { ShippableOutbox, ShipperMetrics, ShipperOptions, StopResult } from "./shipper.ts";

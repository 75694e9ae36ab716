// Composes the handlers into the two services audit-service serves.
import { RawAuditIngest, type RawAuditIngestMethods } from "@keyhold/audit-client";
import { AuditIngestService, AuditService } from "@keyhold/proto";
import { bindService, type ServiceBinding } from "@keyhold/server-kit";
import type { AppContext } from "./context.ts";
import { appendEvents } from "./handlers/append-events.ts";
import { exportEvents } from "./handlers/export-events.ts";
import { getCheckpoint } from "./handlers/get-checkpoint.ts";
import { getEvent } from "./handlers/get-event.ts";
import { lookupEvents } from "./handlers/lookup-events.ts";
import { verifyLog } from "./handlers/verify-log.ts";

/**
 * Methods that decide access without CallAccess.require (for authorizationRequiredInterceptor):
 * AppendEvents admits Keyhold services only (call.callingService set by a trusted transport).
 */
export const AUTHORIZATION_EXEMPT_METHODS: ReadonlySet<string> = new Set([`${AuditIngestService.typeName}/AppendEvents`]);

export function auditServiceBindings(ctx: AppContext): ServiceBinding[] {
  return [
    bindService(AuditService, {
      lookupEvents: lookupEvents(ctx),
      getEvent: getEvent(ctx),
      getCheckpoint: getCheckpoint(ctx),
      verifyLog: verifyLog(ctx),
      exportEvents: exportEvents(ctx),
    }),
    // Events arrive as bytes (see handlers/append-events.ts); reflection shows the real service.
    bindService<RawAuditIngestMethods>(RawAuditIngest, { appendEvents: appendEvents(ctx) }, [], { describedBy: AuditIngestService }),
  ];
}

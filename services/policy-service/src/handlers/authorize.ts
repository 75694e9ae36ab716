// Authorize (internal: Keyhold services only): may this principal perform this action on this
// resource? The calling service names the principal (it authenticated it); the decision, the
// deciding statement and what the decision depended on (for the caller's cache key).
import type { AuthorizeRequestSchema, AuthorizeResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requireAction, requireResourceKrn } from "../domain/names.ts";
import { decidingStatement, requestPrincipal } from "./authorization-fields.ts";
import { requireKeyholdService } from "./common.ts";

export function authorize(ctx: AppContext): UnaryHandler<typeof AuthorizeRequestSchema, typeof AuthorizeResponseSchema> {
  return async (request, call) => {
    requireKeyholdService(call);
    const principal = requestPrincipal(request.principal, "principal");
    const action = requireAction(request.action, "action");
    const resource = requireResourceKrn(request.resource, "resource");
    if (request.sourceIp.length > 64) throw invalidArgument("source_ip", "must be an IPv4 or IPv6 address");
    if (request.viaService.length > 64) throw invalidArgument("via_service", "must be at most 64 characters");
    const answer = await ctx.authority.decide({
      principal,
      action,
      resource,
      encryptionContext: request.encryptionContext,
      ...(request.sourceIp === "" ? {} : { sourceIp: request.sourceIp }),
      ...(request.viaService === "" ? {} : { viaService: request.viaService }),
      secureTransport: request.secureTransport,
    });
    return {
      allowed: answer.allowed,
      reason: answer.reason,
      ...(answer.decidedBy === undefined ? {} : { decidedBy: decidingStatement(answer.decidedBy) }),
      dependsOnEncryptionContext: answer.dependsOn.encryptionContext,
      dependsOnSourceIp: answer.dependsOn.sourceIp,
      dependsOnTime: answer.dependsOn.time,
    };
  };
}

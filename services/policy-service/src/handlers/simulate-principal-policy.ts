// SimulatePrincipalPolicy: iam:SimulatePrincipalPolicy on the simulated principal's krn. The
// answer is what Authorize would say for that principal (same engine, same policy sets), with
// the statement or grant that decided.
import type { SimulatePrincipalPolicyRequestSchema, SimulatePrincipalPolicyResponseSchema } from "@keyhold/proto";
import { invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requireAction, requirePrincipalKrn, requireResourceKrn } from "../domain/names.ts";
import { principalNotFound } from "./common.ts";
import { decidingStatement } from "./authorization-fields.ts";

export function simulatePrincipalPolicy(
  ctx: AppContext,
): UnaryHandler<typeof SimulatePrincipalPolicyRequestSchema, typeof SimulatePrincipalPolicyResponseSchema> {
  return async (request, call) => {
    const principal = requirePrincipalKrn(request.principalKrn, "principal_krn");
    const action = requireAction(request.action, "action");
    const resource = requireResourceKrn(request.resource, "resource");
    if (request.sourceIp.length > 64) throw invalidArgument("source_ip", "must be an IPv4 or IPv6 address");
    await ctx.access.require(call, "iam:SimulatePrincipalPolicy", principal.krn, { notFound: () => principalNotFound("principal_krn") });
    const exists = principal.kind === "root" ? (await ctx.store.getAccount(principal.accountId)) !== undefined : (await ctx.store.getPrincipal(principal.krn)) !== undefined;
    if (!exists) throw principalNotFound("principal_krn");
    const answer = await ctx.authority.decide({
      principal: { krn: principal.krn, accountId: principal.accountId, kind: principal.kind, name: principal.name },
      action,
      resource,
      encryptionContext: request.encryptionContext,
      ...(request.sourceIp === "" ? {} : { sourceIp: request.sourceIp }),
      secureTransport: true,
    });
    return {
      allowed: answer.allowed,
      reason: answer.reason,
      ...(answer.decidedBy === undefined ? {} : { decidedBy: decidingStatement(answer.decidedBy) }),
    };
  };
}

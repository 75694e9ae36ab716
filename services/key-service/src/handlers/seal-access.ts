// SealService calls are management-account administrator actions on the key-service's seal:
// kms:<RPC> on krn:keyhold:kms:<region>:<management account>:seal. A principal of any other
// account is refused before policy is asked.
import { recordAuditDetails } from "@keyhold/audit-client";
import { accessDenied } from "@keyhold/authz";
import { callerOf, type CallContext } from "@keyhold/server-kit";
import type { SealServiceStatus } from "@keyhold/proto";
import type { AppContext } from "../context.ts";
import type { SealStatus } from "../domain/sealed-root-key.ts";

export function sealKrn(region: string, managementAccountId: string): string {
  return `krn:keyhold:kms:${region}:${managementAccountId}:seal`;
}

export async function requireSealAccess(ctx: AppContext, call: CallContext, action: string): Promise<void> {
  const resource = sealKrn(ctx.config.region, ctx.config.managementAccountId);
  recordAuditDetails(call, { resource });
  if (callerOf(call).accountId !== ctx.config.managementAccountId) throw accessDenied(action, resource);
  await ctx.access.require(call, action, resource);
}

export function sealStatusView(status: SealStatus): Omit<SealServiceStatus, "$typeName" | "$unknown"> {
  return { ...status };
}

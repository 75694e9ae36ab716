// Who sees what. Every AuditService call is authorized as `audit:<Method>` on the caller's own
// account's log, krn:keyhold:audit:<region>:<caller account>:log. A caller then sees its own
// account's events only, except principals of the management account, who see every
// account's (and may filter by account_id). Asking for another account's events without being
// in the management account is ACCESS_DENIED on that account's log.
import { accessDenied } from "@keyhold/authz";
import { callerOf, type CallContext } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";

export function logKrn(region: string, accountId: string): string {
  return `krn:keyhold:audit:${region}:${accountId}:log`;
}

export interface ReadScope {
  /** The only account whose events the caller sees; undefined: every account. */
  readonly accountId: string | undefined;
}

export async function authorizeRead(ctx: AppContext, call: CallContext, action: string, requestedAccount?: string): Promise<ReadScope> {
  const caller = callerOf(call);
  await ctx.access.require(call, action, logKrn(ctx.config.region, caller.accountId));
  if (caller.accountId === ctx.config.managementAccountId) return { accountId: requestedAccount };
  if (requestedAccount !== undefined && requestedAccount !== caller.accountId) {
    throw accessDenied(action, logKrn(ctx.config.region, requestedAccount));
  }
  return { accountId: caller.accountId };
}

/** Whether a record of `accountId` is visible in `scope`. */
export function visible(scope: ReadScope, accountId: string): boolean {
  return scope.accountId === undefined || scope.accountId === accountId;
}

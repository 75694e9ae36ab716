// Request fields of AttachPolicy / DetachPolicy: a user or role, and a policy it may carry
// (one of its own account's, or a Keyhold-managed one).
import { invalidArgument } from "@keyhold/server-kit";
import { requirePolicyKrn, requirePrincipalKrn, type ParsedPolicyKrn, type ParsedPrincipalKrn } from "../domain/names.ts";

export function attachmentFields(principalKrn: string, policyKrn: string): { principal: ParsedPrincipalKrn; policy: ParsedPolicyKrn } {
  const principal = requirePrincipalKrn(principalKrn, "principal_krn");
  if (principal.kind === "root") throw invalidArgument("principal_krn", "policies attach to users and roles; the account root may do everything in its account");
  const policy = requirePolicyKrn(policyKrn, "policy_krn");
  if (!policy.managed && policy.accountId !== principal.accountId) {
    throw invalidArgument("policy_krn", "must be a policy of the principal's account or a Keyhold-managed policy");
  }
  return { principal, policy };
}

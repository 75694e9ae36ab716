// PutPolicy: creates or replaces a customer-managed policy of the caller's account;
// iam:PutPolicy on krn:keyhold:iam::<caller account>:policy/<name>. The document is validated:
// INVALID_ARGUMENT names the statement and the field (`document.Statement[1].Effect`).
import type { PutPolicyRequestSchema, PutPolicyResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { MAX_POLICY_NAME_LENGTH, policyKrn, requireIamName } from "../domain/names.ts";
import { validateDescription, validatePolicyDocument } from "./common.ts";
import { policyView } from "./views.ts";

export function putPolicy(ctx: AppContext): UnaryHandler<typeof PutPolicyRequestSchema, typeof PutPolicyResponseSchema> {
  return async (request, call) => {
    const caller = callerOf(call);
    const name = requireIamName(request.policyName, "policy_name", MAX_POLICY_NAME_LENGTH);
    const description = validateDescription(request.description, "description");
    validatePolicyDocument(request.document, "identity", "document");
    const krn = policyKrn(caller.accountId, name);
    await ctx.access.require(call, "iam:PutPolicy", krn);
    const now = ctx.clock.now();
    const stored = await ctx.store.putPolicy({ krn, accountId: caller.accountId, name, description, document: request.document, createdAt: now, updatedAt: now });
    return { policy: policyView(stored) };
  };
}

// PutResourcePolicy (internal: called by key-service for its caller's PutKeyPolicy): the END
// caller (forwarded by the calling service, never the service itself) must be allowed
// kms:PutKeyPolicy on the key krn by the policies in force — the confused-deputy rule. A key of
// another account that the caller may not use answers KEY_NOT_FOUND, like a missing key. The
// calling service has checked that the key exists.
import type { PutResourcePolicyRequestSchema, PutResourcePolicyResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requireKeyKrn } from "../domain/names.ts";
import { keyNotFound, requireKeyholdService, validatePolicyDocument } from "./common.ts";

export function putResourcePolicy(ctx: AppContext): UnaryHandler<typeof PutResourcePolicyRequestSchema, typeof PutResourcePolicyResponseSchema> {
  return async (request, call) => {
    requireKeyholdService(call);
    const key = requireKeyKrn(request.resource, "resource");
    validatePolicyDocument(request.document, "resource", "document");
    await ctx.access.require(call, "kms:PutKeyPolicy", key.krn, { notFound: () => keyNotFound("resource") });
    await ctx.store.putResourcePolicy({ resourceKrn: key.krn, accountId: key.accountId, document: request.document, updatedAt: ctx.clock.now() });
    return {};
  };
}

// CreateGrant (internal, for the end caller's CreateGrant): kms:CreateGrant on the key krn for
// the forwarded END caller. Gives the grantee named operations on the key, optionally
// constrained to an exact encryption context or a context subset (not both). Returns the grant
// id and a grant token `khg_<grant id>_<secret>` that lets its holder retire the grant; the
// store keeps the token's digest.
import type { CreateKeyGrantRequestSchema, CreateKeyGrantResponseSchema } from "@keyhold/proto";
import { callerOf, invalidArgument, KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { formatToken, newSecret, secretDigest } from "../domain/credentials.ts";
import { contextConstraint, grantOperations } from "../domain/grants.ts";
import { requireKeyKrn, requirePrincipalKrn } from "../domain/names.ts";
import type { GrantConstraintsRecord, GrantRecord } from "../store/records.ts";
import { keyNotFound, requireKeyholdService } from "./common.ts";

const GRANT_NAME = /^[A-Za-z0-9:/_-]{1,256}$/;

export function createKeyGrant(ctx: AppContext): UnaryHandler<typeof CreateKeyGrantRequestSchema, typeof CreateKeyGrantResponseSchema> {
  return async (request, call) => {
    requireKeyholdService(call);
    const caller = callerOf(call);
    const key = requireKeyKrn(request.keyId, "key_id");
    const grantee = requirePrincipalKrn(request.granteePrincipal, "grantee_principal");
    const retiring = request.retiringPrincipal === "" ? undefined : requirePrincipalKrn(request.retiringPrincipal, "retiring_principal");
    const operations = grantOperations(request.operations, "operations");
    let constraints: GrantConstraintsRecord | undefined;
    if (request.constraints !== undefined) {
      const equals = contextConstraint(request.constraints.encryptionContextEquals, "constraints.encryption_context_equals");
      const subset = contextConstraint(request.constraints.encryptionContextSubset, "constraints.encryption_context_subset");
      if (equals !== undefined && subset !== undefined) {
        throw invalidArgument("constraints", "give encryption_context_equals or encryption_context_subset, not both");
      }
      if (equals !== undefined || subset !== undefined) constraints = { encryptionContextEquals: equals, encryptionContextSubset: subset };
    }
    if (request.name !== "" && !GRANT_NAME.test(request.name)) throw invalidArgument("name", "must be 1-256 characters of letters, digits and : / _ -");
    await ctx.access.require(call, "kms:CreateGrant", key.krn, { notFound: () => keyNotFound("key_id") });

    const secret = newSecret(ctx.random);
    const now = ctx.clock.now();
    for (let attempt = 0; attempt < 8; attempt++) {
      const grant: GrantRecord = {
        grantId: ctx.ids.grantId(),
        keyKrn: key.krn,
        accountId: key.accountId,
        granteePrincipal: grantee.krn,
        retiringPrincipal: retiring?.krn,
        operations,
        constraints,
        name: request.name,
        issuingPrincipal: caller.krn,
        tokenHash: secretDigest(secret),
        createdAt: now,
      };
      if ((await ctx.store.createGrant(grant)) === "ok") return { grantId: grant.grantId, grantToken: formatToken("grant", grant.grantId, secret) };
    }
    throw new KeyholdError("INTERNAL", "could not allocate a grant id");
  };
}

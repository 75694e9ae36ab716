// ListCertificateIdentities: iam:ListCertificateIdentities on the principal's krn (a user or
// role); in SAN order, at most MAX_CERTIFICATE_IDENTITIES_PER_PRINCIPAL, so unpaged.
import type { ListCertificateIdentitiesRequestSchema, ListCertificateIdentitiesResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requireIdentityOwner } from "./certificate-identity-fields.ts";
import { principalNotFound } from "./common.ts";
import { certificateIdentityView } from "./views.ts";

export function listCertificateIdentities(
  ctx: AppContext,
): UnaryHandler<typeof ListCertificateIdentitiesRequestSchema, typeof ListCertificateIdentitiesResponseSchema> {
  return async (request, call) => {
    const owner = requireIdentityOwner(request.principalKrn, "principal_krn");
    await ctx.access.require(call, "iam:ListCertificateIdentities", owner.krn, { notFound: () => principalNotFound("principal_krn") });
    if ((await ctx.store.getPrincipal(owner.krn)) === undefined) throw principalNotFound("principal_krn");
    return { certificateIdentities: (await ctx.store.listCertificateIdentities(owner.krn)).map(certificateIdentityView) };
  };
}

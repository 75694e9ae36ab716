// RemoveCertificateIdentity: iam:RemoveCertificateIdentity on the principal's krn; effective at
// once (a credential change: every cache flushes). A SAN not mapped to that principal is
// CERTIFICATE_IDENTITY_NOT_FOUND.
import type { RemoveCertificateIdentityRequestSchema, RemoveCertificateIdentityResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { requireSan } from "../domain/certificate-identities.ts";
import { certificateIdentityNotFound, requireIdentityOwner } from "./certificate-identity-fields.ts";
import { principalNotFound } from "./common.ts";

export function removeCertificateIdentity(
  ctx: AppContext,
): UnaryHandler<typeof RemoveCertificateIdentityRequestSchema, typeof RemoveCertificateIdentityResponseSchema> {
  return async (request, call) => {
    const owner = requireIdentityOwner(request.principalKrn, "principal_krn");
    const { san } = requireSan(request.san, "san");
    await ctx.access.require(call, "iam:RemoveCertificateIdentity", owner.krn, { notFound: () => principalNotFound("principal_krn") });
    if (!(await ctx.store.removeCertificateIdentity(owner.krn, san))) throw certificateIdentityNotFound("san");
    return {};
  };
}

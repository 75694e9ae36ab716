// AddCertificateIdentity: iam:AddCertificateIdentity on the principal's krn (a user or role).
// Maps a SAN — SPIFFE id or other URI, or DNS name — to it: a caller whose verified client
// certificate carries the SAN, and who sends no bearer credential, acts as the principal. A SAN
// maps to one principal system-wide (ALREADY_EXISTS otherwise). A credential change: every
// cache flushes.
import type { AddCertificateIdentityRequestSchema, AddCertificateIdentityResponseSchema } from "@keyhold/proto";
import { KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { MAX_CERTIFICATE_IDENTITIES_PER_PRINCIPAL, requireSan } from "../domain/certificate-identities.ts";
import type { CertificateIdentityRecord } from "../store/records.ts";
import { requireIdentityOwner } from "./certificate-identity-fields.ts";
import { alreadyExists, principalNotFound } from "./common.ts";
import { certificateIdentityView } from "./views.ts";

export function addCertificateIdentity(ctx: AppContext): UnaryHandler<typeof AddCertificateIdentityRequestSchema, typeof AddCertificateIdentityResponseSchema> {
  return async (request, call) => {
    const owner = requireIdentityOwner(request.principalKrn, "principal_krn");
    const { san, type } = requireSan(request.san, "san");
    await ctx.access.require(call, "iam:AddCertificateIdentity", owner.krn, { notFound: () => principalNotFound("principal_krn") });
    const record: CertificateIdentityRecord = { san, type, principalKrn: owner.krn, accountId: owner.accountId, createdAt: ctx.clock.now() };
    switch (await ctx.store.addCertificateIdentity(record, MAX_CERTIFICATE_IDENTITIES_PER_PRINCIPAL)) {
      case "ok":
        return { certificateIdentity: certificateIdentityView(record) };
      case "principal-missing":
        throw principalNotFound("principal_krn");
      case "exists":
        throw alreadyExists("san", "a mapping of this certificate identity");
      case "limit":
        throw new KeyholdError("LIMIT_EXCEEDED", `principal_krn: a principal has at most ${MAX_CERTIFICATE_IDENTITIES_PER_PRINCIPAL} certificate identities`, {
          field: "principal_krn",
        });
    }
  };
}

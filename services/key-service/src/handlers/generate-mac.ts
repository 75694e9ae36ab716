import { recordAuditDetails } from "@keyhold/audit-client";
import type { GenerateMacRequestSchema, GenerateMacResponseSchema } from "@keyhold/proto";
import type { UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { computeMac, requireMacAlgorithm, validateMacMessage } from "../domain/mac-operations.ts";
import { keyKrn } from "../domain/names.ts";

export function generateMac(ctx: AppContext): UnaryHandler<typeof GenerateMacRequestSchema, typeof GenerateMacResponseSchema> {
  return async (request, call) => {
    validateMacMessage(request.message, "message");
    const algorithm = requireMacAlgorithm(request.macAlgorithm, "mac_algorithm");
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:GenerateMac");
    const { mac, version } = await computeMac(ctx, key, algorithm, request.message);
    recordAuditDetails(call, { keyVersionId: version.versionId });
    return { mac, keyId: keyKrn(ctx.config.region, key.accountId, key.keyId), macAlgorithm: algorithm };
  };
}

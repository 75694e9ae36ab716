import { recordAuditDetails } from "@keyhold/audit-client";
import type { VerifyMacRequestSchema, VerifyMacResponseSchema } from "@keyhold/proto";
import { invalidArgument, KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { computeMac, macsEqual, requireMacAlgorithm, validateMacMessage } from "../domain/mac-operations.ts";
import { keyKrn } from "../domain/names.ts";

const MAX_MAC_BYTES = 64;

/** A MAC that does not verify is refused (INVALID_MAC), as AWS KMS, so no caller can ignore it. */
export function verifyMac(ctx: AppContext): UnaryHandler<typeof VerifyMacRequestSchema, typeof VerifyMacResponseSchema> {
  return async (request, call) => {
    validateMacMessage(request.message, "message");
    const algorithm = requireMacAlgorithm(request.macAlgorithm, "mac_algorithm");
    if (request.mac.byteLength === 0) throw invalidArgument("mac", "is required");
    if (request.mac.byteLength > MAX_MAC_BYTES) throw invalidArgument("mac", `must be at most ${MAX_MAC_BYTES} bytes`);
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:VerifyMac");
    const { mac, version } = await computeMac(ctx, key, algorithm, request.message);
    recordAuditDetails(call, { keyVersionId: version.versionId });
    const valid = macsEqual(mac, request.mac);
    mac.fill(0);
    if (!valid) throw new KeyholdError("INVALID_MAC", "mac: the MAC does not verify for this message, key and algorithm", { field: "mac" });
    return { keyId: keyKrn(ctx.config.region, key.accountId, key.keyId), macValid: true, macAlgorithm: algorithm };
  };
}

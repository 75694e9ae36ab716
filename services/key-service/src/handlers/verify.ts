import { recordAuditDetails } from "@keyhold/audit-client";
import { Origin, type VerifyRequestSchema, type VerifyResponseSchema } from "@keyhold/proto";
import { invalidArgument, KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { verify as verifySignature } from "../domain/asymmetric-engine.ts";
import { publicKeyOf, signInput, type SignInput } from "../domain/asymmetric-operations.ts";
import { asymmetricVersion } from "../domain/asymmetric-keys.ts";
import { authorizedKey } from "../domain/key-access.ts";
import { keyKrn } from "../domain/names.ts";
import type { KeyVersionRecord } from "../store/records.ts";

const MAX_SIGNATURE_BYTES = 1024;

async function verifyInProcess(ctx: AppContext, version: KeyVersionRecord, input: SignInput, message: Uint8Array, signature: Uint8Array): Promise<boolean> {
  const publicKey = publicKeyOf(version);
  // ECDSA over a digest is verified in JavaScript (milliseconds): off the event loop.
  return input.scheme.kind === "ecdsa" && input.digest
    ? await ctx.privateKeys.verify(publicKey, input.scheme, message, true, signature)
    : verifySignature(publicKey, input.scheme, message, input.digest, signature);
}

/** Public-key work only (in the token for a key with origin HSM), done in place when fast. A signature that does not verify is INVALID_SIGNATURE. */
export function verify(ctx: AppContext): UnaryHandler<typeof VerifyRequestSchema, typeof VerifyResponseSchema> {
  return async (request, call) => {
    if (request.signature.byteLength === 0) throw invalidArgument("signature", "is required");
    if (request.signature.byteLength > MAX_SIGNATURE_BYTES) throw invalidArgument("signature", `must be at most ${MAX_SIGNATURE_BYTES} bytes`);
    const key = await authorizedKey(ctx, call, request.keyId, "key_id", "kms:Verify");
    const version = await asymmetricVersion(ctx, key, ctx.clock.now());
    const input = signInput(key, request.signingAlgorithm, request.messageType, request.message);
    recordAuditDetails(call, { keyVersionId: version.versionId });
    const valid = key.origin === Origin.HSM ? await ctx.hsmKeys.verify(version.versionId, request.signingAlgorithm, request.message, input.digest, request.signature) : await verifyInProcess(ctx, version, input, request.message, request.signature);
    if (!valid) {
      throw new KeyholdError("INVALID_SIGNATURE", "signature: the signature does not verify for this message, key and algorithm", { field: "signature" });
    }
    return { keyId: keyKrn(ctx.config.region, key.accountId, key.keyId), signatureValid: true, signingAlgorithm: request.signingAlgorithm };
  };
}

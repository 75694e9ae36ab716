import { recordAuditDetails } from "@keyhold/audit-client";
import type { GenerateRandomRequestSchema, GenerateRandomResponseSchema } from "@keyhold/proto";
import { callerOf, invalidArgument, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { accountKeysKrn } from "../domain/key-access.ts";
import { sealedError } from "../domain/sealed-root-key.ts";

export const MAX_RANDOM_BYTES = 1024;

export function generateRandom(ctx: AppContext): UnaryHandler<typeof GenerateRandomRequestSchema, typeof GenerateRandomResponseSchema> {
  return async (request, call) => {
    recordAuditDetails(call, { resource: accountKeysKrn(ctx.config.region, callerOf(call).accountId) });
    await ctx.access.require(call, "kms:GenerateRandom", accountKeysKrn(ctx.config.region, callerOf(call).accountId));
    if (request.numberOfBytes < 1 || request.numberOfBytes > MAX_RANDOM_BYTES) {
      throw invalidArgument("number_of_bytes", `must be between 1 and ${MAX_RANDOM_BYTES}`);
    }
    // Sealed, key-service does no cryptography at all (as every other crypto call).
    if (ctx.seal.status().sealed) throw sealedError();
    return { plaintext: ctx.random(request.numberOfBytes) };
  };
}

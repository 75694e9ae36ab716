import { recordAuditDetails } from "@keyhold/audit-client";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { BatchGetSecretValueRequestSchema, BatchGetSecretValueResponseSchema, GetSecretValueResponseSchema } from "@keyhold/proto";
import { callerOf, invalidArgument, KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { accountSecretsKrn } from "../domain/names.ts";
import { readSecretValue } from "./get-secret-value.ts";

export const MAX_BATCH_SECRETS = 20;

/** As AWS: secrets:BatchGetSecretValue on the account, and secrets:GetSecretValue on each secret. */
export function batchGetSecretValue(ctx: AppContext): UnaryHandler<typeof BatchGetSecretValueRequestSchema, typeof BatchGetSecretValueResponseSchema> {
  return async (request, call) => {
    const accountKrn = accountSecretsKrn(ctx.config.region, callerOf(call).accountId);
    recordAuditDetails(call, { resource: accountKrn });
    await ctx.access.require(call, "secrets:BatchGetSecretValue", accountKrn);
    if (request.secretIds.length === 0) throw invalidArgument("secret_ids", "name at least one secret");
    if (request.secretIds.length > MAX_BATCH_SECRETS) throw invalidArgument("secret_ids", `at most ${MAX_BATCH_SECRETS} secrets`);
    const values: MessageInitShape<typeof GetSecretValueResponseSchema>[] = [];
    const errors: { secretId: string; reason: string; message: string }[] = [];
    for (const secretId of request.secretIds) {
      try {
        values.push(await readSecretValue(ctx, call, secretId, "", "", "secrets:GetSecretValue"));
      } catch (error) {
        // A database outage fails the whole call (UNAVAILABLE: retry), not one secret of it.
        if (!(error instanceof KeyholdError) || error.reason === "INTERNAL" || error.reason === "DATABASE_UNAVAILABLE") throw error;
        errors.push({ secretId, reason: error.reason, message: error.message });
      }
    }
    // The event names the batch (the account's secrets), not the last secret read.
    recordAuditDetails(call, { resource: accountKrn, keyVersionId: "" });
    return { secretValues: values, errors };
  };
}

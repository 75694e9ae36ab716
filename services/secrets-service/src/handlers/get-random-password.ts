import { recordAuditDetails } from "@keyhold/audit-client";
import type { GetRandomPasswordRequestSchema, GetRandomPasswordResponseSchema } from "@keyhold/proto";
import { callerOf, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { accountSecretsKrn } from "../domain/names.ts";
import { randomPassword } from "../domain/password.ts";

export function getRandomPassword(ctx: AppContext): UnaryHandler<typeof GetRandomPasswordRequestSchema, typeof GetRandomPasswordResponseSchema> {
  return async (request, call) => {
    const krn = accountSecretsKrn(ctx.config.region, callerOf(call).accountId);
    recordAuditDetails(call, { resource: krn });
    await ctx.access.require(call, "secrets:GetRandomPassword", krn);
    return {
      randomPassword: randomPassword({
        length: request.passwordLength,
        excludeCharacters: request.excludeCharacters,
        excludeNumbers: request.excludeNumbers,
        excludePunctuation: request.excludePunctuation,
        excludeUppercase: request.excludeUppercase,
        excludeLowercase: request.excludeLowercase,
        includeSpace: request.includeSpace,
        requireEachIncludedType: !request.skipRequireEachIncludedType,
      }),
    };
  };
}

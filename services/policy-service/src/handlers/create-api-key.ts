// CreateApiKey: iam:CreateApiKey on the owning principal's krn (a user, or the account root;
// the caller itself when principal_krn is empty). The secret is in this response only; the
// store keeps its SHA-256 digest.
import type { CreateApiKeyRequestSchema, CreateApiKeyResponseSchema } from "@keyhold/proto";
import { KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { formatToken, newSecret, secretDigest } from "../domain/credentials.ts";
import type { ApiKeyRecord } from "../store/records.ts";
import { apiKeyOwner } from "./api-key-fields.ts";
import { principalNotFound, validateDescription } from "./common.ts";
import { apiKeyView } from "./views.ts";

export function createApiKey(ctx: AppContext): UnaryHandler<typeof CreateApiKeyRequestSchema, typeof CreateApiKeyResponseSchema> {
  return async (request, call) => {
    const owner = apiKeyOwner(request.principalKrn, call, "principal_krn");
    const description = validateDescription(request.description, "description");
    await ctx.access.require(call, "iam:CreateApiKey", owner.krn, { notFound: () => principalNotFound("principal_krn") });
    const secret = newSecret(ctx.random);
    const created = await ctx.store.transaction(async (tx): Promise<ApiKeyRecord> => {
      // Checked in the transaction that stores the key, so a key never outlives its owner.
      const exists = owner.kind === "root" ? (await tx.getAccount(owner.accountId)) !== undefined : (await tx.getPrincipal(owner.krn)) !== undefined;
      if (!exists) throw principalNotFound("principal_krn");
      for (let attempt = 0; attempt < 8; attempt++) {
        const record: ApiKeyRecord = {
          apiKeyId: ctx.ids.apiKeyId(),
          principalKrn: owner.krn,
          accountId: owner.accountId,
          description,
          status: "active",
          createdAt: ctx.clock.now(),
          lastUsedAt: undefined,
          secretHash: secretDigest(secret),
        };
        if ((await tx.createApiKey(record)) === "ok") return record;
      }
      throw new KeyholdError("INTERNAL", "could not allocate an API key id");
    });
    return { apiKey: apiKeyView(created), secret: formatToken("api-key", created.apiKeyId, secret) };
  };
}

import { recordAuditDetails } from "@keyhold/audit-client";
import { SecretType, type CreateSecretRequestSchema, type CreateSecretResponseSchema } from "@keyhold/proto";
import { callerOf, invalidArgument, KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { secretKrn, validateSecretName } from "../domain/names.ts";
import { parseApiKeyValue, prepareApiKeySecret, type ApiKeyValue } from "../domain/rotation/api-key-rotation.ts";
import { validateTags } from "../domain/tags.ts";
import { requestValue, sameValue, type SecretValue } from "../domain/values.ts";
import { firstVersion, openVersionForCaller } from "../domain/versions.ts";
import type { SecretRecord } from "../store/records.ts";
import { validateDescription, validateKeyRef, versionIdOrNew } from "./fields.ts";

export const DEFAULT_API_KEY_GRACE_SECONDS = 86_400;
const MAX_GRACE_SECONDS = 30 * 86_400;

export function createSecret(ctx: AppContext): UnaryHandler<typeof CreateSecretRequestSchema, typeof CreateSecretResponseSchema> {
  return async (request, call) => {
    const caller = callerOf(call);
    const name = validateSecretName(request.name, "name");
    const krn = secretKrn(ctx.config.region, caller.accountId, name);
    recordAuditDetails(call, { resource: krn });
    await ctx.access.require(call, "secrets:CreateSecret", krn);
    validateDescription(request.description);
    const kmsKeyId = validateKeyRef(request.kmsKeyId, "kms_key_id");
    const tags = validateTags(request.tags, "tags");
    const secretType = request.secretType === SecretType.UNSPECIFIED ? SecretType.GENERIC : request.secretType;
    if (!Object.values(SecretType).includes(secretType)) throw invalidArgument("secret_type", "unknown secret type");
    let value = requestValue(request.secretString, request.secretBinary);
    const versionId = versionIdOrNew(request.versionId, "version_id", ctx.newId);
    const grace = Number(request.apiKeyGracePeriodSeconds);
    if (secretType !== SecretType.KEYHOLD_API_KEY && (request.apiKeyPrincipalKrn !== "" || grace !== 0)) {
      throw invalidArgument("api_key_principal_krn", "only for secrets of type SECRET_TYPE_KEYHOLD_API_KEY");
    }
    if (grace < 0 || grace > MAX_GRACE_SECONDS) throw invalidArgument("api_key_grace_period_seconds", `must be between 0 and ${MAX_GRACE_SECONDS}`);

    // A replay of the same request (same version id and value) answers as the first time did.
    const replayOf = async (existing: SecretRecord | undefined): Promise<CreateAnswer> => {
      if (existing !== undefined && request.versionId !== "" && value !== undefined && existing.deletionDate === undefined) {
        const version = await ctx.store.getVersion(existing.secretId, versionId);
        if (version !== undefined) {
          const stored = await openVersionForCaller(ctx, call, existing, version, "name");
          try {
            if (sameValue(stored, value)) return { name, krn, versionId };
          } finally {
            stored.bytes.fill(0);
          }
        }
      }
      throw secretExists();
    };
    const existing = await ctx.store.getSecret(caller.accountId, name);
    if (existing !== undefined) return replayOf(existing);

    if (secretType === SecretType.KEYHOLD_API_KEY) {
      if (request.apiKeyPrincipalKrn === "") throw invalidArgument("api_key_principal_krn", "is required for API key secrets");
      if (value === undefined) {
        value = await prepareApiKeySecret(ctx, caller, request.apiKeyPrincipalKrn, "api_key_principal_krn");
      } else {
        // A value given by the caller must be the key of the named principal, in the managed shape.
        const given = apiKeyValueOf(value);
        if (given === undefined) throw invalidArgument("secret_string", "an API key secret's value is JSON {\"principalKrn\", \"apiKeyId\", \"apiKey\"}");
        if (given.principalKrn !== request.apiKeyPrincipalKrn) throw invalidArgument("secret_string", "principalKrn differs from api_key_principal_krn");
      }
    }
    const now = ctx.clock.now();
    const secret: SecretRecord = {
      secretId: ctx.newId(),
      accountId: caller.accountId,
      name,
      description: request.description,
      secretType,
      kmsKeyId,
      createdAt: now,
      updatedAt: now,
      rotationEnabled: false,
      rotationIntervalSeconds: 0,
      rotationHandlerUrl: "",
      lastRotatedAt: undefined,
      nextRotationAt: undefined,
      rotationToken: undefined,
      rotationLeaseUntil: undefined,
      lastRotationError: "",
      deletionDate: undefined,
      apiKeyPrincipalKrn: request.apiKeyPrincipalKrn,
      apiKeyGracePeriodSeconds: secretType === SecretType.KEYHOLD_API_KEY ? (grace === 0 ? DEFAULT_API_KEY_GRACE_SECONDS : grace) : 0,
    };
    if (value === undefined) {
      if (!(await ctx.store.createSecret(secret, tags, undefined))) throw secretExists();
      return { name, krn, versionId: "" };
    }
    try {
      // The secret and its first value in one transaction: never a secret without its value.
      const first = await firstVersion(ctx, caller, secret, versionId, value);
      // Another call created the name meanwhile (a concurrent replay answers as the first call).
      if (!(await ctx.store.createSecret(secret, tags, first))) return await replayOf(await ctx.store.getSecret(caller.accountId, name));
    } finally {
      value.bytes.fill(0);
    }
    recordAuditDetails(call, { keyVersionId: versionId });
    return { name, krn, versionId };
  };
}

interface CreateAnswer {
  readonly name: string;
  readonly krn: string;
  readonly versionId: string;
}

function apiKeyValueOf(value: SecretValue): ApiKeyValue | undefined {
  try {
    return parseApiKeyValue(value);
  } catch {
    return undefined;
  }
}

function secretExists(): KeyholdError {
  return new KeyholdError("ALREADY_EXISTS", "name: a secret with this name exists in the account", { field: "name" });
}

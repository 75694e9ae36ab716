import { recordAuditDetails } from "@keyhold/audit-client";
import { create, toBinary } from "@bufbuild/protobuf";
import { createHash } from "node:crypto";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { CreateKeyRequestSchema, KeyManager, KeySpec, KeyState, KeyVersionSource, Origin, type CreateKeyRequest, type CreateKeyResponseSchema } from "@keyhold/proto";
import { callerOf, invalidArgument, KeyholdError, type UnaryHandler } from "@keyhold/server-kit";
import type { AppContext } from "../context.ts";
import { accountKeysKrn } from "../domain/key-access.ts";
import { hsmSpecFor, HSM_TOKEN_OBJECT } from "../domain/hsm-keys.ts";
import { generateMaterial, type GeneratedMaterial } from "../domain/key-generation.ts";
import { assertImportableSpec } from "../domain/key-import.ts";
import { usageFor } from "../domain/key-specs.ts";
import { checkExternalKey, validateExternalKeyFields } from "../domain/external-keys.ts";
import type { ExternalKeyRef } from "../store/records.ts";
import { validateTags } from "../domain/tags.ts";
import { NEW_KEY_LIFECYCLE } from "../store/records.ts";
import { keyMetadata } from "./views.ts";

export const MAX_DESCRIPTION_LENGTH = 8192;
const IDEMPOTENCY_TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** The request minus its idempotency token, hashed: "same body" for idempotent replays. */
function requestHash(request: CreateKeyRequest): string {
  const body = toBinary(CreateKeyRequestSchema, create(CreateKeyRequestSchema, { ...request, idempotencyToken: "" }));
  return createHash("sha256").update(body).digest("hex");
}

export function validateDescription(description: string): void {
  if (description.length > MAX_DESCRIPTION_LENGTH) throw invalidArgument("description", `must be at most ${MAX_DESCRIPTION_LENGTH} characters`);
}

/**
 * Runs the store write for a key whose version is already a token object; when the write fails,
 * the object is destroyed again (in the background) so the token holds no orphan.
 */
async function storeOrUndo<T>(ctx: AppContext, inToken: boolean, versionId: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (inToken) destroyQuietly(ctx, versionId);
    throw error;
  }
}

function destroyQuietly(ctx: AppContext, versionId: string): void {
  ctx.hsmKeys.destroy(versionId).catch((error: unknown) => ctx.logger.warn("could not destroy an unused HSM key version", { keyVersionId: versionId, error: String(error) }));
}

export function createKey(ctx: AppContext): UnaryHandler<typeof CreateKeyRequestSchema, typeof CreateKeyResponseSchema> {
  return async (request, call) => {
    const caller = callerOf(call);
    recordAuditDetails(call, { resource: accountKeysKrn(ctx.config.region, caller.accountId) });
    await ctx.access.require(call, "kms:CreateKey", accountKeysKrn(ctx.config.region, caller.accountId));
    validateDescription(request.description);
    const keySpec = request.keySpec === KeySpec.UNSPECIFIED ? KeySpec.SYMMETRIC_DEFAULT : request.keySpec;
    const keyUsage = usageFor(keySpec, request.keyUsage);
    const origin = request.origin === Origin.UNSPECIFIED ? Origin.SOFTWARE : request.origin;
    if (origin !== Origin.SOFTWARE && origin !== Origin.EXTERNAL && origin !== Origin.HSM && origin !== Origin.EXTERNAL_KEY_STORE) {
      throw invalidArgument("origin", "must be SOFTWARE, EXTERNAL, HSM or EXTERNAL_KEY_STORE");
    }
    if (origin === Origin.EXTERNAL) assertImportableSpec(keySpec, "key_spec");
    const external = validateExternalKeyFields(request, origin, keySpec);
    const hsmSpec = origin === Origin.HSM ? hsmSpecFor(keySpec, keyUsage) : undefined;
    if (origin === Origin.HSM) ctx.hsmKeys.assertConfigured("origin");
    const tags = validateTags(request.tags, "tags");
    const token = request.idempotencyToken;
    if (token !== "" && !IDEMPOTENCY_TOKEN.test(token)) {
      throw invalidArgument("idempotency_token", "must be 1-64 characters of letters, digits, '_' and '-'");
    }
    const hash = token === "" ? "" : requestHash(request);
    const replay = async (requestHashSeen: string, keyId: string): Promise<MessageInitShape<typeof CreateKeyResponseSchema>> => {
      if (requestHashSeen !== hash) {
        throw new KeyholdError("IDEMPOTENCY_CONFLICT", "idempotency_token: already used with a different request", { field: "idempotency_token" });
      }
      const existing = await ctx.store.getKey(caller.accountId, keyId);
      // The key was created with this token and has since been deleted.
      if (existing === undefined) throw new KeyholdError("KEY_NOT_FOUND", "idempotency_token: the key created with this token has been deleted", { field: "idempotency_token" });
      return { keyMetadata: keyMetadata(existing, ctx.config.region) };
    };
    if (token !== "") {
      const previous = await ctx.store.findIdempotency(caller.accountId, "CreateKey", token);
      if (previous !== undefined) return replay(previous.requestHash, previous.resourceId);
    }

    const externalKey: ExternalKeyRef | undefined = external === undefined ? undefined : await checkExternalKey(ctx, call, caller.accountId, external);
    const keyId = ctx.newId();
    const versionId = ctx.newId();
    const now = ctx.clock.now();
    // EXTERNAL keys start without material (PendingImport): ImportKeyMaterial brings it. HSM
    // keys get a token object named by the version id; nothing is stored but its public key.
    let material: GeneratedMaterial;
    if (origin === Origin.EXTERNAL) material = { wrapped: Buffer.alloc(0), publicKey: undefined };
    else if (hsmSpec !== undefined) material = { wrapped: Buffer.alloc(0), publicKey: (await ctx.hsmKeys.create(versionId, hsmSpec)).publicKey };
    else material = await generateMaterial(ctx, keySpec, caller.accountId, keyId, versionId);
    const outcome = await storeOrUndo(ctx, hsmSpec !== undefined, versionId, () => ctx.store.createKey({
      key: {
        keyId,
        accountId: caller.accountId,
        description: request.description,
        keySpec,
        keyUsage,
        origin,
        keyManager: KeyManager.CUSTOMER,
        state: origin === Origin.EXTERNAL ? KeyState.PENDING_IMPORT : KeyState.ENABLED,
        createdAt: now,
        primaryVersionId: versionId,
        ...NEW_KEY_LIFECYCLE,
        externalKey,
      },
      firstVersion: {
        versionId,
        keyId,
        accountId: caller.accountId,
        wrappedMaterial: material.wrapped,
        wrappedBy: hsmSpec !== undefined ? HSM_TOKEN_OBJECT : ctx.rootKey.description,
        createdAt: now,
        source: KeyVersionSource.CREATION,
        publicKey: material.publicKey,
      },
      tags,
      idempotency: token === "" ? undefined : { operation: "CreateKey", token, requestHash: hash },
    }));
    if (outcome.kind === "replayed") {
      ctx.materials.forget(versionId);
      if (hsmSpec !== undefined) destroyQuietly(ctx, versionId);
      return replay(outcome.previous.requestHash, outcome.previous.resourceId);
    }
    const metadata = keyMetadata(outcome.key, ctx.config.region);
    recordAuditDetails(call, { resource: metadata.krn });
    return { keyMetadata: metadata };
  };
}


// EXTERNAL_KEY_STORE keys at creation: the request names a connected store and an external
// key that the store's proxy reports as an enabled AES_256 key for ENCRYPT and DECRYPT (the
// checks AWS KMS makes with GetKeyMetadata). Several Keyhold keys may reference one external key.
import { ExternalKeyStoreConnectionState, KeySpec, KeyState, Origin, type CreateKeyRequest } from "@keyhold/proto";
import { invalidArgument, KeyholdError, type CallContext } from "@keyhold/server-kit";
import { EXTERNAL_KEY_ID } from "@keyhold/xks";
import type { AppContext } from "../context.ts";
import type { ExternalKeyRef, KeyRecord } from "../store/records.ts";
import { resolveExternalKeyStore } from "./external-key-stores.ts";
import { keyKrn } from "./names.ts";
import { originOf } from "./xks-proxies.ts";

/** The external key fields of a CreateKey request: required with EXTERNAL_KEY_STORE, refused otherwise. */
export function validateExternalKeyFields(request: CreateKeyRequest, origin: Origin, keySpec: KeySpec): ExternalKeyRef | undefined {
  if (origin !== Origin.EXTERNAL_KEY_STORE) {
    if (request.externalKeyStoreId !== "") throw invalidArgument("external_key_store_id", "is only for keys with origin EXTERNAL_KEY_STORE");
    if (request.xksKeyId !== "") throw invalidArgument("xks_key_id", "is only for keys with origin EXTERNAL_KEY_STORE");
    return undefined;
  }
  if (keySpec !== KeySpec.SYMMETRIC_DEFAULT) throw invalidArgument("key_spec", "keys in an external key store must be SYMMETRIC_DEFAULT");
  if (request.externalKeyStoreId === "") throw invalidArgument("external_key_store_id", "is required for origin EXTERNAL_KEY_STORE");
  if (request.xksKeyId === "") throw invalidArgument("xks_key_id", "is required for origin EXTERNAL_KEY_STORE");
  if (!EXTERNAL_KEY_ID.test(request.xksKeyId)) throw invalidArgument("xks_key_id", "must be 1-128 characters of A-Z a-z 0-9 . _ -");
  return { externalKeyStoreId: request.externalKeyStoreId, xksKeyId: request.xksKeyId };
}

/** Resolves the store (id or krn) and asks its proxy about the external key (GetKeyMetadata). */
export async function checkExternalKey(ctx: AppContext, call: CallContext, accountId: string, fields: ExternalKeyRef): Promise<ExternalKeyRef> {
  const store = await resolveExternalKeyStore(ctx.store, ctx.config.region, accountId, fields.externalKeyStoreId, "external_key_store_id");
  if (store.connectionState !== ExternalKeyStoreConnectionState.CONNECTED) {
    throw new KeyholdError("EXTERNAL_KEY_STORE_INVALID_STATE", "external_key_store_id: the external key store must be connected (ConnectExternalKeyStore)", {
      field: "external_key_store_id",
    });
  }
  const metadata = await ctx.xks.keyMetadata(store, fields.xksKeyId, originOf(call), "external_key_store_id");
  if (metadata === "not-found") throw invalidArgument("xks_key_id", "the external key manager has no key with this id");
  const problems: string[] = [];
  if (metadata.keySpec !== "AES_256") problems.push("it is not an AES_256 key");
  if (!metadata.keyUsage.includes("ENCRYPT") || !metadata.keyUsage.includes("DECRYPT")) problems.push("it is not allowed both ENCRYPT and DECRYPT");
  if (metadata.keyStatus !== "ENABLED") problems.push("it is not ENABLED");
  if (problems.length > 0) throw invalidArgument("xks_key_id", `the external key manager reports the key unusable: ${problems.join(", ")}`);
  return { externalKeyStoreId: store.externalKeyStoreId, xksKeyId: fields.xksKeyId };
}

/**
 * The key as it reads now: an enabled EXTERNAL_KEY_STORE key whose store is not connected, or
 * whose proxy is unreachable, slow or refusing Keyhold, reads Unavailable (a health check runs
 * when what is known of the proxy is older than the health cache period).
 */
export async function withAvailability(ctx: AppContext, key: KeyRecord, call: CallContext): Promise<KeyRecord> {
  if (key.origin !== Origin.EXTERNAL_KEY_STORE || key.state !== KeyState.ENABLED || key.externalKey === undefined) return key;
  const store = await ctx.store.getExternalKeyStore(key.accountId, key.externalKey.externalKeyStoreId);
  const available = store !== undefined && (await ctx.xks.isAvailable(store, originOf(call, keyKrn(ctx.config.region, key.accountId, key.keyId))));
  return available ? key : { ...key, state: KeyState.UNAVAILABLE };
}

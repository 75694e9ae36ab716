// The symmetric engine as the handlers use it: encrypt under a key's primary version, decrypt
// a self-describing ciphertext by the version it names. No transport here.
import { KeySpec, KeyUsage, Origin } from "@keyhold/proto";
import type { Clock } from "../context.ts";
import { KeyholdError, invalidArgument, type CallContext } from "@keyhold/server-kit";
import type { KeyStore } from "../store/key-store.ts";
import type { KeyRecord, KeyVersionRecord } from "../store/records.ts";
import { CIPHERTEXT_OVERHEAD, invalidCiphertext, openSymmetric, readKeyVersionId, sealSymmetric } from "./ciphertext.ts";
import type { EncryptionContext } from "./encryption-context.ts";
import type { HsmKeys } from "./hsm-keys.ts";
import { assertUsableFor } from "./key-resolver.ts";
import type { KeyMaterials } from "./key-materials.ts";
import { keyKrn } from "./names.ts";
import { assembleXksCiphertext, isXksCiphertext, parseXksCiphertext, XKS_CIPHERTEXT_OVERHEAD, xksAad } from "./xks-ciphertext.ts";
import { originOf, storeUnavailable, type XksProxies } from "./xks-proxies.ts";

export const MAX_PLAINTEXT_BYTES = 6144;
const MAX_CIPHERTEXT_BYTES = MAX_PLAINTEXT_BYTES + CIPHERTEXT_OVERHEAD;

export interface SymmetricDeps {
  readonly store: KeyStore;
  readonly materials: KeyMaterials;
  /** Keys with origin HSM encrypt and decrypt in the token. */
  readonly hsmKeys: HsmKeys;
  readonly clock: Clock;
  /** The XKS proxies of EXTERNAL_KEY_STORE keys. */
  readonly xks: XksProxies;
  readonly config: { readonly region: string };
}

const SYMMETRIC_SPECS: readonly KeySpec[] = [KeySpec.SYMMETRIC_DEFAULT];

export interface Sealed {
  readonly blob: Buffer;
  readonly version: KeyVersionRecord;
}

export interface Opened {
  readonly plaintext: Buffer;
  readonly key: KeyRecord;
  readonly version: KeyVersionRecord;
}

export function validatePlaintext(plaintext: Uint8Array, field: string): void {
  if (plaintext.byteLength === 0) throw invalidArgument(field, "must not be empty");
  if (plaintext.byteLength > MAX_PLAINTEXT_BYTES) {
    throw new KeyholdError("PLAINTEXT_TOO_LARGE", `${field}: must be at most ${MAX_PLAINTEXT_BYTES} bytes; use a data key for more`, { field });
  }
}

export async function primaryVersion(store: KeyStore, key: KeyRecord): Promise<KeyVersionRecord> {
  const version = await store.getVersion(key.primaryVersionId);
  if (version === undefined) throw new KeyholdError("INTERNAL", "key has no primary version");
  return version;
}

/**
 * Encrypts under the key's primary version; the key must be enabled for ENCRYPT_DECRYPT. An
 * EXTERNAL_KEY_STORE key seals twice: under its Keyhold-held version, then through its XKS proxy
 * (`call` names the caller and operation in the proxy request).
 */
export async function sealUnderKey(deps: SymmetricDeps, key: KeyRecord, plaintext: Uint8Array, context: EncryptionContext, field: string, call?: CallContext): Promise<Sealed> {
  assertUsableFor(key, KeyUsage.ENCRYPT_DECRYPT, field, deps.clock.now(), SYMMETRIC_SPECS);
  const version = await primaryVersion(deps.store, key);
  if (key.origin === Origin.HSM) return { blob: await deps.hsmKeys.encrypt(version.versionId, plaintext, context), version };
  const inner = await deps.materials.withSymmetric(version, (material) => sealSymmetric(material, version.versionId, plaintext, context));
  if (key.origin !== Origin.EXTERNAL_KEY_STORE) return { blob: inner, version };
  const { store, xksKeyId } = await externalKeyOf(deps, key, field);
  const aad = xksAad(version.versionId, xksKeyId, context);
  const outer = await deps.xks.encrypt(store, xksKeyId, inner, aad, originOf(call, keyKrn(deps.config.region, key.accountId, key.keyId)), field);
  const blob = assembleXksCiphertext({
    keyVersionId: version.versionId,
    xksKeyId,
    initializationVector: outer.initializationVector,
    ciphertextMetadata: outer.ciphertextMetadata,
    authenticationTag: outer.authenticationTag,
    body: outer.ciphertext,
  });
  return { blob, version };
}

/** The store and external key id of an EXTERNAL_KEY_STORE key (its store gone: unavailable). */
async function externalKeyOf(deps: SymmetricDeps, key: KeyRecord, field: string) {
  if (key.externalKey === undefined) throw new KeyholdError("INTERNAL", "external key store key without an external key");
  const store = await deps.store.getExternalKeyStore(key.accountId, key.externalKey.externalKeyStoreId);
  if (store === undefined) throw storeUnavailable(field, "it no longer exists");
  return { store, xksKeyId: key.externalKey.xksKeyId };
}

/**
 * The key version a ciphertext names. Anything malformed or unknown is the one uniform
 * INVALID_CIPHERTEXT (the caller authorizes on the version's key before opening it).
 */
export async function versionOfCiphertext(deps: SymmetricDeps, blob: Uint8Array, field: string): Promise<KeyVersionRecord> {
  if (blob.byteLength === 0) throw invalidArgument(field, "must not be empty");
  if (isXksCiphertext(blob)) {
    if (blob.byteLength > MAX_CIPHERTEXT_BYTES + XKS_CIPHERTEXT_OVERHEAD) throw invalidCiphertext();
    const version = await deps.store.getVersion(parseXksCiphertext(blob).keyVersionId);
    if (version === undefined) throw invalidCiphertext();
    return version;
  }
  if (blob.byteLength > MAX_CIPHERTEXT_BYTES) throw invalidCiphertext();
  const version = await deps.store.getVersion(readKeyVersionId(blob));
  if (version === undefined) throw invalidCiphertext();
  return version;
}

/**
 * Decrypts with the version the ciphertext names (already authorized). Another key than
 * `expected`, a wrong context or any tampering is the uniform INVALID_CIPHERTEXT; a
 * disabled key is KEY_DISABLED naming `keyField` (key_id in Decrypt, source_key_id in ReEncrypt).
 */
export async function openWithVersion(
  deps: SymmetricDeps,
  version: KeyVersionRecord,
  blob: Uint8Array,
  context: EncryptionContext,
  expected: KeyRecord | undefined,
  keyField: string,
  call?: CallContext,
): Promise<Opened> {
  if (expected !== undefined && (version.keyId !== expected.keyId || version.accountId !== expected.accountId)) throw invalidCiphertext();
  const key = await deps.store.getKey(version.accountId, version.keyId);
  if (key === undefined) throw invalidCiphertext();
  assertUsableFor(key, KeyUsage.ENCRYPT_DECRYPT, keyField, deps.clock.now(), SYMMETRIC_SPECS);
  // A v2 (double) ciphertext only for an EXTERNAL_KEY_STORE key, and only such one for it.
  if ((key.origin === Origin.EXTERNAL_KEY_STORE) !== isXksCiphertext(blob)) throw invalidCiphertext();
  if (key.origin === Origin.HSM) return { plaintext: await deps.hsmKeys.decrypt(version.versionId, blob, context), key, version };
  let inner: Buffer = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
  if (key.origin === Origin.EXTERNAL_KEY_STORE) {
    const parts = parseXksCiphertext(blob);
    const { store, xksKeyId } = await externalKeyOf(deps, key, keyField);
    if (parts.keyVersionId !== version.versionId || parts.xksKeyId !== xksKeyId) throw invalidCiphertext();
    inner = await deps.xks.decrypt(
      store,
      xksKeyId,
      { ciphertext: parts.body, initializationVector: parts.initializationVector, authenticationTag: parts.authenticationTag, ciphertextMetadata: parts.ciphertextMetadata },
      xksAad(version.versionId, xksKeyId, context),
      originOf(call, keyKrn(deps.config.region, key.accountId, key.keyId)),
      keyField,
    );
    if (!isInnerOf(inner, version.versionId)) throw invalidCiphertext();
  }
  const sealed = inner;
  const plaintext = await deps.materials.withSymmetric(version, (material) => openSymmetric(material, sealed, context));
  return { plaintext, key, version };
}

/** Whether the proxy's plaintext is a v1 ciphertext of the version the outer header names. */
function isInnerOf(inner: Uint8Array, versionId: string): boolean {
  try {
    return readKeyVersionId(inner) === versionId;
  } catch {
    return false;
  }
}

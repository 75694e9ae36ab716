// Store records → API messages. Never carries key material.
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import {
  AliasListEntrySchema,
  ExternalKeyStoreConnectionErrorCode,
  ExternalKeyStoreConnectionState,
  ExternalKeyStoreSchema,
  type ExternalKeyStore,
  EncryptionAlgorithm,
  ExpirationModel,
  KeyMetadataSchema,
  KeySpec,
  KeyState,
  KeyUsage,
  KeyVersionSchema,
  Origin,
  RotationPolicySchema,
  type AliasListEntry,
  type KeyMetadata,
  type KeyVersion,
  type RotationPolicy,
} from "@keyhold/proto";
import { asymmetricEncryptionAlgorithmsOf, signingAlgorithmsOf } from "../domain/asymmetric-operations.ts";
import { specInfo } from "../domain/key-specs.ts";
import { externalKeyStoreKrn } from "../domain/external-key-stores.ts";
import { aliasKrn, keyKrn } from "../domain/names.ts";
import type { AliasRecord, ExternalKeyStoreRecord, KeyRecord, KeyVersionRecord } from "../store/records.ts";

export function keyMetadata(key: KeyRecord, region: string): KeyMetadata {
  return create(KeyMetadataSchema, {
    keyId: key.keyId,
    krn: keyKrn(region, key.accountId, key.keyId),
    accountId: key.accountId,
    description: key.description,
    keySpec: key.keySpec,
    keyUsage: key.keyUsage,
    origin: key.origin,
    keyState: key.state,
    keyManager: key.keyManager,
    enabled: key.state === KeyState.ENABLED,
    creationDate: timestampFromDate(key.createdAt),
    primaryVersionId: key.primaryVersionId,
    ...(key.deletionDate === undefined ? {} : { deletionDate: timestampFromDate(key.deletionDate) }),
    deletionProtection: key.deletionProtection,
    ...algorithmsOf(key.keySpec, key.keyUsage),
    ...(key.origin !== Origin.EXTERNAL
      ? {}
      : key.materialExpiresAt === undefined
        ? { expirationModel: ExpirationModel.KEY_MATERIAL_DOES_NOT_EXPIRE }
        : { expirationModel: ExpirationModel.KEY_MATERIAL_EXPIRES, validTo: timestampFromDate(key.materialExpiresAt) }),
    ...(key.externalKey === undefined ? {} : { externalKeyStoreId: key.externalKey.externalKeyStoreId, xksKeyId: key.externalKey.xksKeyId }),
  });
}

/** The algorithms a key offers, by spec and usage. */
function algorithmsOf(
  keySpec: KeySpec,
  keyUsage: KeyUsage,
): Pick<MessageInitShape<typeof KeyMetadataSchema>, "encryptionAlgorithms" | "macAlgorithms" | "signingAlgorithms"> {
  const mac = specInfo(keySpec).mac;
  if (mac !== undefined) return { encryptionAlgorithms: [], macAlgorithms: [mac.algorithm] };
  if (keySpec === KeySpec.SYMMETRIC_DEFAULT && keyUsage === KeyUsage.ENCRYPT_DECRYPT) return { encryptionAlgorithms: [EncryptionAlgorithm.SYMMETRIC_DEFAULT] };
  return { encryptionAlgorithms: [...asymmetricEncryptionAlgorithmsOf(keySpec, keyUsage)], signingAlgorithms: [...signingAlgorithmsOf(keySpec, keyUsage)] };
}

export function keyVersionView(version: KeyVersionRecord, key: KeyRecord, region: string): KeyVersion {
  return create(KeyVersionSchema, {
    keyVersionId: version.versionId,
    keyId: keyKrn(region, key.accountId, key.keyId),
    creationDate: timestampFromDate(version.createdAt),
    primary: version.versionId === key.primaryVersionId,
    source: version.source,
  });
}

export function rotationPolicyView(key: KeyRecord, region: string): RotationPolicy {
  return create(RotationPolicySchema, {
    keyId: keyKrn(region, key.accountId, key.keyId),
    enabled: key.rotationPeriodDays > 0,
    rotationPeriodInDays: key.rotationPeriodDays,
    ...(key.nextRotationAt === undefined ? {} : { nextRotationDate: timestampFromDate(key.nextRotationAt) }),
  });
}

export function aliasEntry(alias: AliasRecord, region: string): AliasListEntry {
  return create(AliasListEntrySchema, {
    aliasName: alias.aliasName,
    aliasKrn: aliasKrn(region, alias.accountId, alias.aliasName),
    targetKeyId: alias.targetKeyId,
    creationDate: timestampFromDate(alias.createdAt),
    lastUpdatedDate: timestampFromDate(alias.updatedAt),
  });
}

/** An external key store as returned: never its secret access key or TLS client key. */
export function externalKeyStoreView(store: ExternalKeyStoreRecord, region: string): ExternalKeyStore {
  return create(ExternalKeyStoreSchema, {
    externalKeyStoreId: store.externalKeyStoreId,
    krn: externalKeyStoreKrn(region, store.accountId, store.externalKeyStoreId),
    accountId: store.accountId,
    externalKeyStoreName: store.name,
    xksProxyUriEndpoint: store.endpoint,
    xksProxyUriPath: store.uriPath,
    accessKeyId: store.accessKeyId,
    tls: {
      caCertificatePem: store.tlsCaPem,
      clientCertificatePem: store.tlsClientCertificatePem,
      hasClientPrivateKey: store.wrappedTlsClientKey.length > 0,
      serverName: store.tlsServerName,
    },
    connectionState: store.connectionState,
    connectionErrorCode:
      store.connectionState === ExternalKeyStoreConnectionState.FAILED ? store.connectionErrorCode : ExternalKeyStoreConnectionErrorCode.UNSPECIFIED,
    creationDate: timestampFromDate(store.createdAt),
  });
}

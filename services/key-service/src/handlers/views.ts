// Store records → API messages. Never carries key material.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AliasListEntrySchema, EncryptionAlgorithm, KeyMetadataSchema, KeyState, type AliasListEntry, type KeyMetadata } from "@keyhold/proto";
import { aliasKrn, keyKrn } from "../domain/names.ts";
import type { AliasRecord, KeyRecord } from "../store/records.ts";

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
    encryptionAlgorithms: [EncryptionAlgorithm.SYMMETRIC_DEFAULT],
    ...(key.deletionDate === undefined ? {} : { deletionDate: timestampFromDate(key.deletionDate) }),
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

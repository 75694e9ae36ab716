// Store records → API messages. Never carries a secret value.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { SecretMetadataSchema, type SecretMetadata } from "@keyhold/proto";
import { secretKrn } from "../domain/names.ts";
import type { SecretRecord, TagRecord } from "../store/records.ts";

export function secretMetadata(
  secret: SecretRecord,
  region: string,
  tags: readonly TagRecord[],
  labels: ReadonlyMap<string, readonly string[]>,
  defaultKeyKrn: string | undefined,
): SecretMetadata {
  const when = (date: Date | undefined) => (date === undefined ? {} : timestampFromDate(date));
  return create(SecretMetadataSchema, {
    name: secret.name,
    krn: secretKrn(region, secret.accountId, secret.name),
    accountId: secret.accountId,
    description: secret.description,
    secretType: secret.secretType,
    kmsKeyId: secret.kmsKeyId === "" ? (defaultKeyKrn ?? "") : secret.kmsKeyId,
    tags: tags.map((tag) => ({ key: tag.key, value: tag.value })),
    rotationEnabled: secret.rotationEnabled,
    rotationIntervalSeconds: BigInt(secret.rotationIntervalSeconds),
    rotationHandlerUrl: secret.rotationHandlerUrl,
    createdDate: timestampFromDate(secret.createdAt),
    lastChangedDate: timestampFromDate(secret.updatedAt),
    ...(secret.lastRotatedAt === undefined ? {} : { lastRotatedDate: when(secret.lastRotatedAt) }),
    ...(secret.nextRotationAt === undefined || !secret.rotationEnabled ? {} : { nextRotationDate: when(secret.nextRotationAt) }),
    ...(secret.deletionDate === undefined ? {} : { deletionDate: when(secret.deletionDate) }),
    versions: [...labels].filter(([, stages]) => stages.length > 0).map(([versionId, stages]) => ({ versionId, versionStages: [...stages] })),
    lastRotationError: secret.lastRotationError,
    apiKeyGracePeriodSeconds: BigInt(secret.apiKeyGracePeriodSeconds),
  });
}

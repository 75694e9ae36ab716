import { recordAuditDetails } from "@keyhold/audit-client";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { GetSecretValueRequestSchema, GetSecretValueResponseSchema } from "@keyhold/proto";
import type { CallContext, UnaryHandler } from "@keyhold/server-kit";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { AppContext } from "../context.ts";
import { canonicalLabel } from "../domain/labels.ts";
import { validateVersionId } from "../domain/names.ts";
import { authorizedSecret } from "../domain/secret-access.ts";
import { openVersionForCaller, versionToRead } from "../domain/versions.ts";
import { VALUE_KINDS } from "../store/records.ts";

/** One secret's value for the caller (GetSecretValue and each secret of BatchGetSecretValue). */
export async function readSecretValue(
  ctx: AppContext,
  call: CallContext,
  secretId: string,
  versionId: string,
  versionStage: string,
  action: string,
): Promise<MessageInitShape<typeof GetSecretValueResponseSchema>> {
  const { secret, krn } = await authorizedSecret(ctx, call, secretId, "secret_id", action);
  if (versionId !== "") validateVersionId(versionId, "version_id");
  const stage = versionStage === "" ? "" : canonicalLabel(versionStage, "version_stage");
  const { version, stages } = await versionToRead(ctx.store, secret, versionId, stage);
  recordAuditDetails(call, { keyVersionId: version.versionId });
  const value = await openVersionForCaller(ctx, call, secret, version, "secret_id");
  try {
    return {
      name: secret.name,
      krn,
      versionId: version.versionId,
      ...(value.kind === VALUE_KINDS.string ? { secretString: value.bytes.toString("utf8") } : { secretBinary: new Uint8Array(value.bytes) }),
      versionStages: [...stages],
      createdDate: timestampFromDate(version.createdAt),
      secretType: secret.secretType,
    };
  } finally {
    value.bytes.fill(0);
  }
}

export function getSecretValue(ctx: AppContext): UnaryHandler<typeof GetSecretValueRequestSchema, typeof GetSecretValueResponseSchema> {
  return async (request, call) => readSecretValue(ctx, call, request.secretId, request.versionId, request.versionStage, "secrets:GetSecretValue");
}

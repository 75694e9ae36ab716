// Field checks of the admin API: INVALID_ARGUMENT naming the field; and the shapes it answers.
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { XkiCredentialSource, XkiKeyStatus, type XkiCredentialSchema, type XkiKeySchema } from "@keyhold/proto";
import { invalidArgument } from "@keyhold/server-kit";
import { EXTERNAL_KEY_ID, normalizePrefix } from "@keyhold/xks";
import { ACCESS_KEY_ID, SECRET_ACCESS_KEY } from "../config.ts";
import type { AppContext } from "../context.ts";
import type { CredentialView } from "../domain/credentials.ts";
import type { KeyInfo } from "../domain/external-hsm.ts";

/** Admin calls may take longer than XKS calls (key generation): 10 s. */
export const ADMIN_DEADLINE_MS = 10_000;

export function externalKeyIdField(ctx: AppContext, value: string): string {
  if (!EXTERNAL_KEY_ID.test(value)) throw invalidArgument("external_key_id", "must be 1-128 of [A-Za-z0-9._-]");
  if (ctx.internalKeyLabels.has(value)) throw invalidArgument("external_key_id", "is reserved for the proxy's own keys");
  return value;
}

export function prefixField(value: string): string {
  try {
    return normalizePrefix(value);
  } catch {
    throw invalidArgument("prefix", "must be [A-Za-z0-9/_-] and short enough for a 128-character XKS path");
  }
}

export function accessKeyIdField(value: string): string {
  if (!ACCESS_KEY_ID.test(value)) throw invalidArgument("access_key_id", "must be 4-128 of [A-Za-z0-9_-]");
  return value;
}

export function secretAccessKeyField(value: string): string {
  // The message never includes the value.
  if (!SECRET_ACCESS_KEY.test(value)) throw invalidArgument("secret_access_key", "must be 32-256 printable ASCII characters without spaces");
  return value;
}

export function keyMessage(info: KeyInfo): MessageInitShape<typeof XkiKeySchema> {
  return {
    externalKeyId: info.label,
    keySpec: info.keySpec,
    keyUsage: [...info.keyUsage],
    status: info.status === "ENABLED" ? XkiKeyStatus.ENABLED : XkiKeyStatus.DISABLED,
  };
}

export function credentialMessage(view: CredentialView): MessageInitShape<typeof XkiCredentialSchema> {
  return {
    prefix: view.prefix,
    accessKeyId: view.accessKeyId,
    secretFingerprint: view.secretFingerprint,
    createTime: timestampFromDate(view.createTime),
    source: view.source === "config" ? XkiCredentialSource.CONFIG : XkiCredentialSource.ADMIN_API,
  };
}

// Secret names, krns, version ids and the parsing of `secret_id` (a name or a krn), validated
// before anything is looked up.
import { invalidArgument, KeyholdError } from "@keyhold/server-kit";

const NAME = /^[A-Za-z0-9/_+=.@-]{1,512}$/;
const KRN = /^krn:keyhold:secrets:([a-z0-9-]{1,32}):([0-9]{12}):secret\/(.+)$/;
const VERSION_ID = /^[A-Za-z0-9_-]{32,64}$/;
export const MAX_SECRET_ID_LENGTH = 2048;

export interface SecretRef {
  readonly name: string;
  /** Set when the reference was a krn. */
  readonly accountId: string | undefined;
  readonly region: string | undefined;
}

export function secretKrn(region: string, accountId: string, name: string): string {
  return `krn:keyhold:secrets:${region}:${accountId}:secret/${name}`;
}

/** The krn account-level actions (CreateSecret's list, ListSecrets, ...) are authorized on. */
export function accountSecretsKrn(region: string, accountId: string): string {
  return `krn:keyhold:secrets:${region}:${accountId}:secret/*`;
}

export function validateSecretName(value: string, field: string): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (!NAME.test(value)) throw invalidArgument(field, "must be 1-512 characters of letters, digits and / _ + = . @ -");
  if (value.startsWith("krn:")) throw invalidArgument(field, "must be a name, not a krn");
  return value;
}

export function parseSecretRef(value: string, field: string): SecretRef {
  if (value === "") throw invalidArgument(field, "is required");
  if (value.length > MAX_SECRET_ID_LENGTH) throw invalidArgument(field, "is too long");
  if (value.startsWith("krn:")) {
    const m = KRN.exec(value);
    if (m === null) throw invalidArgument(field, "must be a secret name or a krn:keyhold:secrets:<region>:<account>:secret/<name>");
    const name = m[3]!;
    if (!NAME.test(name)) throw invalidArgument(field, "the krn does not name a valid secret name");
    return { name, accountId: m[2]!, region: m[1]! };
  }
  if (!NAME.test(value)) throw invalidArgument(field, "must be a secret name (letters, digits and / _ + = . @ -) or a secret krn");
  return { name: value, accountId: undefined, region: undefined };
}

/** A caller-chosen version id (AWS ClientRequestToken): 32-64 letters, digits, '_' or '-'. */
export function validateVersionId(value: string, field: string): string {
  if (!VERSION_ID.test(value)) throw invalidArgument(field, "must be 32-64 characters of letters, digits, '_' and '-'");
  return value;
}

export function secretNotFound(field: string): KeyholdError {
  return new KeyholdError("SECRET_NOT_FOUND", `${field}: secret not found`, { field });
}

export function versionNotFound(field: string): KeyholdError {
  return new KeyholdError("SECRET_VERSION_NOT_FOUND", `${field}: secret version not found`, { field });
}

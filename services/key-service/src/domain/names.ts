// Key and alias names: krn formats and the parsing of `key_id` (UUID, key krn, alias name or
// alias krn), validated before anything is looked up.
import { invalidArgument } from "@keyhold/server-kit";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const ALIAS_NAME = /^alias\/[A-Za-z0-9/_-]+$/;
const ACCOUNT = /^[0-9]{12}$/;
const KRN = /^krn:keyhold:kms:([a-z0-9-]+):([0-9]{12}):(key|alias)\/(.+)$/;
export const MAX_ALIAS_NAME_LENGTH = 256;
export const RESERVED_ALIAS_PREFIX = "alias/keyhold/";

/** A parsed key reference; `accountId` and `region` are set when it was a krn. */
export type KeyRef =
  | { readonly kind: "key"; readonly keyId: string; readonly accountId: string | undefined; readonly region: string | undefined }
  | { readonly kind: "alias"; readonly aliasName: string; readonly accountId: string | undefined; readonly region: string | undefined };

export function keyKrn(region: string, accountId: string, keyId: string): string {
  return `krn:keyhold:kms:${region}:${accountId}:key/${keyId}`;
}

export function aliasKrn(region: string, accountId: string, aliasName: string): string {
  return `krn:keyhold:kms:${region}:${accountId}:${aliasName}`;
}

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

export function isAccountId(value: string): boolean {
  return ACCOUNT.test(value);
}

/** Parses a `key_id`-style field. `allowAlias` false for fields that must name a key. */
export function parseKeyRef(value: string, field: string, allowAlias = true): KeyRef {
  if (value === "") throw invalidArgument(field, "is required");
  if (value.length > 2048) throw invalidArgument(field, "is too long");
  if (isUuid(value)) return { kind: "key", keyId: value, accountId: undefined, region: undefined };
  if (value.startsWith("alias/")) {
    if (!allowAlias) throw invalidArgument(field, "must be a key id or key krn, not an alias");
    validateAliasName(value, field);
    return { kind: "alias", aliasName: value, accountId: undefined, region: undefined };
  }
  const krn = KRN.exec(value);
  if (krn !== null) {
    const [, region, accountId, type, rest] = krn as unknown as [string, string, string, string, string];
    if (type === "key") {
      if (!isUuid(rest)) throw invalidArgument(field, "the krn does not name a valid key id");
      return { kind: "key", keyId: rest, accountId, region };
    }
    if (!allowAlias) throw invalidArgument(field, "must be a key id or key krn, not an alias");
    const aliasName = `alias/${rest}`;
    validateAliasName(aliasName, field);
    return { kind: "alias", aliasName, accountId, region };
  }
  throw invalidArgument(field, "must be a key id (UUID), a key krn, alias/<name> or an alias krn");
}

export function validateAliasName(value: string, field: string): void {
  if (value === "") throw invalidArgument(field, "is required");
  if (value.length > MAX_ALIAS_NAME_LENGTH) throw invalidArgument(field, `must be at most ${MAX_ALIAS_NAME_LENGTH} characters`);
  if (!ALIAS_NAME.test(value)) throw invalidArgument(field, "must be alias/<name> with letters, digits, '/', '_' and '-'");
}

/** Alias names a customer may create or change (alias/keyhold/ is reserved). */
export function validateCustomerAliasName(value: string, field: string): void {
  validateAliasName(value, field);
  if (value.startsWith(RESERVED_ALIAS_PREFIX)) throw invalidArgument(field, `the prefix ${RESERVED_ALIAS_PREFIX} is reserved`);
}

// Resolving a request's key with authorization first: the action is authorized on the key's
// krn before the key is looked up, and a key of another account that the caller may not use
// answers exactly like one that does not exist.
import { recordAuditDetails } from "@keyhold/audit-client";
import type { CallAccess } from "@keyhold/authz";
import { callerOf, type CallContext } from "@keyhold/server-kit";
import type { KeyStore } from "../store/key-store.ts";
import type { KeyRecord } from "../store/records.ts";
import type { EncryptionContext } from "./encryption-context.ts";
import { aliasNotFound, keyNotFound } from "./key-resolver.ts";
import { keyKrn, parseKeyRef } from "./names.ts";

export interface KeyAccessDeps {
  readonly store: KeyStore;
  readonly access: CallAccess;
  readonly config: { readonly region: string };
}

export interface KeyAccessOptions {
  readonly encryptionContext?: EncryptionContext;
  /** false for fields that must name a key (alias and tag RPCs). */
  readonly allowAlias?: boolean;
  /**
   * false when this key is not the call's audited resource (ReEncrypt's destination: the event
   * names the source key, whose material the call unlocks). Default true.
   */
  readonly auditResource?: boolean;
}

/** The krn every account-level action (CreateKey, ListKeys, ...) is authorized on. */
export function accountKeysKrn(region: string, accountId: string): string {
  return `krn:keyhold:kms:${region}:${accountId}:key/*`;
}

/** Authorizes `action` on the key `value` names, then returns that key. */
export async function authorizedKey(
  deps: KeyAccessDeps,
  call: CallContext,
  value: string,
  field: string,
  action: string,
  options: KeyAccessOptions = {},
): Promise<KeyRecord> {
  const caller = callerOf(call);
  const ref = parseKeyRef(value, field, options.allowAlias ?? true);
  if (ref.region !== undefined && ref.region !== deps.config.region) throw ref.kind === "alias" ? aliasNotFound(field) : keyNotFound(field);
  const accountId = ref.accountId ?? caller.accountId;
  // Whatever the caller may not see answers like the missing thing it named.
  const notFound = () => (ref.kind === "alias" ? aliasNotFound(field) : keyNotFound(field));
  let keyId: string;
  if (ref.kind === "alias") {
    const alias = await deps.store.getAlias(accountId, ref.aliasName);
    if (alias === undefined) throw notFound();
    keyId = alias.targetKeyId;
  } else {
    keyId = ref.keyId;
  }
  const krn = keyKrn(deps.config.region, accountId, keyId);
  // Named in the audit event before authorizing, so a denied call names what it was denied on.
  if (options.auditResource ?? true) {
    recordAuditDetails(call, { resource: krn, ...(options.encryptionContext === undefined ? {} : { encryptionContext: options.encryptionContext }) });
  }
  await deps.access.require(call, action, krn, {
    notFound,
    ...(options.encryptionContext === undefined ? {} : { encryptionContext: options.encryptionContext }),
  });
  const key = await deps.store.getKey(accountId, keyId);
  if (key === undefined) throw keyNotFound(field);
  return key;
}

/**
 * The key an optional `key_id`-style constraint names (Decrypt's key_id, ReEncrypt's
 * source_key_id), resolved like any key reference (authorized for `action`, so another
 * account's keys and aliases stay invisible), or undefined when empty.
 */
export async function expectedKey(
  deps: KeyAccessDeps,
  call: CallContext,
  value: string,
  field: string,
  action: string,
  options: KeyAccessOptions = {},
): Promise<KeyRecord | undefined> {
  return value === "" ? undefined : authorizedKey(deps, call, value, field, action, options);
}

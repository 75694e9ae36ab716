// Resolving a request's secret with authorization first: the action is authorized on the
// secret's krn before the secret is looked up, and a secret of another account that the caller
// may not use answers exactly like one that does not exist.
import { recordAuditDetails } from "@keyhold/audit-client";
import type { CallAccess } from "@keyhold/authz";
import { callerOf, KeyholdError, type CallContext } from "@keyhold/server-kit";
import type { SecretStore } from "../store/secret-store.ts";
import type { SecretRecord } from "../store/records.ts";
import { parseSecretRef, secretKrn, secretNotFound } from "./names.ts";

export interface SecretAccessDeps {
  readonly store: SecretStore;
  readonly access: CallAccess;
  readonly config: { readonly region: string };
}

export interface SecretAccessOptions {
  /** Whether the RPC works on a secret scheduled for deletion (Describe, Restore, Delete, tags). */
  readonly allowPendingDeletion?: boolean;
}

export interface AuthorizedSecret {
  readonly secret: SecretRecord;
  readonly krn: string;
}

export function pendingDeletion(field: string): KeyholdError {
  return new KeyholdError("SECRET_PENDING_DELETION", `${field}: the secret is scheduled for deletion (RestoreSecret cancels that)`, { field });
}

/** Authorizes `action` on the secret `value` names, then returns that secret. */
export async function authorizedSecret(
  deps: SecretAccessDeps,
  call: CallContext,
  value: string,
  field: string,
  action: string,
  options: SecretAccessOptions = {},
): Promise<AuthorizedSecret> {
  const caller = callerOf(call);
  const ref = parseSecretRef(value, field);
  if (ref.region !== undefined && ref.region !== deps.config.region) throw secretNotFound(field);
  const accountId = ref.accountId ?? caller.accountId;
  const krn = secretKrn(deps.config.region, accountId, ref.name);
  recordAuditDetails(call, { resource: krn });
  await deps.access.require(call, action, krn, { notFound: () => secretNotFound(field) });
  const secret = await deps.store.getSecret(accountId, ref.name);
  if (secret === undefined) throw secretNotFound(field);
  if (secret.deletionDate !== undefined && options.allowPendingDeletion !== true) throw pendingDeletion(field);
  return { secret, krn };
}

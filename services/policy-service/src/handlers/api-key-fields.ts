// Request fields shared by the API key handlers.
import { callerOf, invalidArgument, type CallContext } from "@keyhold/server-kit";
import { requirePrincipalKrn, type ParsedPrincipalKrn } from "../domain/names.ts";

const API_KEY_ID = /^[0-9a-f]{16}$/;

/**
 * The principal an API key request is about: the named one, or the caller itself when the
 * field is empty and the caller is a user or an account root. Only users and roots hold API
 * keys (roles are assumed).
 */
export function apiKeyOwner(value: string, call: CallContext, field: string): ParsedPrincipalKrn {
  if (value === "") {
    const caller = callerOf(call);
    if (caller.kind === "user" || caller.kind === "root") return { krn: caller.krn, accountId: caller.accountId, kind: caller.kind, name: caller.name };
    throw invalidArgument(field, "is required (the caller is not a user or an account root)");
  }
  const owner = requirePrincipalKrn(value, field);
  if (owner.kind === "role") throw invalidArgument(field, "API keys belong to users or the account root; roles are assumed (sts AssumeRole)");
  return owner;
}

export function requireApiKeyId(value: string, field: string): string {
  if (value === "") throw invalidArgument(field, "is required");
  if (!API_KEY_ID.test(value)) throw invalidArgument(field, "must be 16 lowercase hex digits (the id part of khk_<id>_<secret>)");
  return value;
}

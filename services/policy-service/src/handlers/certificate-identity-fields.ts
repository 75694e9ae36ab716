// Request fields shared by the certificate identity handlers.
import { invalidArgument, KeyholdError } from "@keyhold/server-kit";
import { requirePrincipalKrn, type ParsedPrincipalKrn } from "../domain/names.ts";

/** The principal a certificate identity request is about: a user or role (required). */
export function requireIdentityOwner(value: string, field: string): ParsedPrincipalKrn {
  const owner = requirePrincipalKrn(value, field);
  if (owner.kind === "root") throw invalidArgument(field, "certificate identities map to users and roles, not the account root");
  return owner;
}

export function certificateIdentityNotFound(field: string): KeyholdError {
  return new KeyholdError("CERTIFICATE_IDENTITY_NOT_FOUND", `${field}: certificate identity not found`, { field });
}

// What several handlers share: the refusals they answer with, policy document validation for
// requests, and the rule that AuthorizationService is for Keyhold's own services only.
import { accessDenied } from "@keyhold/authz";
import { invalidArgument, KeyholdError, type CallContext } from "@keyhold/server-kit";
import { parsePolicyDocument, PolicyValidationError, type PolicyDocument, type PolicyKind } from "../domain/policy/index.ts";

export const MAX_DESCRIPTION_LENGTH = 1000;

export function principalNotFound(field: string): KeyholdError {
  return new KeyholdError("PRINCIPAL_NOT_FOUND", `${field}: principal not found`, { field });
}

export function policyNotFound(field: string): KeyholdError {
  return new KeyholdError("POLICY_NOT_FOUND", `${field}: policy not found`, { field });
}

export function apiKeyNotFound(field: string): KeyholdError {
  return new KeyholdError("API_KEY_NOT_FOUND", `${field}: API key not found`, { field });
}

export function grantNotFound(field: string): KeyholdError {
  return new KeyholdError("GRANT_NOT_FOUND", `${field}: grant not found`, { field });
}

export function keyNotFound(field: string): KeyholdError {
  return new KeyholdError("KEY_NOT_FOUND", `${field}: key not found`, { field });
}

export function alreadyExists(field: string, what: string): KeyholdError {
  return new KeyholdError("ALREADY_EXISTS", `${field}: ${what} already exists`, { field });
}

/**
 * AuthorizationService answers only Keyhold services (calls from a trusted peer: in-process,
 * or over mutually authenticated TLS). Anyone else gets ACCESS_DENIED.
 */
export function requireKeyholdService(call: CallContext): void {
  if (call.callingService === undefined) {
    throw accessDenied(`${call.service.typeName}/${call.method.name}`, "an internal Keyhold API");
  }
}

export function validateDescription(value: string, field: string): string {
  if (value.length > MAX_DESCRIPTION_LENGTH) throw invalidArgument(field, `must be at most ${MAX_DESCRIPTION_LENGTH} characters`);
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) || c === 0x7f) throw invalidArgument(field, "must not contain control characters");
  }
  return value;
}

/**
 * Parses a policy document from a request. A malformed one is INVALID_ARGUMENT naming the
 * field inside the document (`document.Statement[1].Effect`) and, in the message and the
 * "statement" metadata, the statement.
 */
export function validatePolicyDocument(json: string, kind: PolicyKind, field: string): PolicyDocument {
  if (json === "") throw invalidArgument(field, "is required");
  try {
    return parsePolicyDocument(json, kind);
  } catch (error) {
    if (!(error instanceof PolicyValidationError)) throw error;
    const inner = error.field === "document" ? "" : error.field;
    const path = inner === "" ? field : `${field}.${inner}`;
    const detail = error.message.startsWith(`${error.field}: `) ? error.message.slice(error.field.length + 2) : error.message;
    throw new KeyholdError("INVALID_ARGUMENT", `${path}: ${detail}`, {
      field: path,
      ...(error.statementIndex === undefined ? {} : { metadata: { statement: String(error.statementIndex) } }),
    });
  }
}

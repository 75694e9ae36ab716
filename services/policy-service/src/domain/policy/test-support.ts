// Builders for the policy tests: accounts, principals, keys, documents and requests.
import { parsePolicyDocument, type PolicyKind } from "./document.ts";
import type { AttachedPolicy, AuthorizationContext, AuthorizationPrincipal, AuthorizationRequest, Grant, PolicySet } from "./evaluate.ts";

export const OWNER = "111122223333";
export const OTHER = "444455556666";
export const THIRD = "777788889999";
export const REGION = "eu-west-1";
export const KEY_ID = "6b8f4c2e-1d3a-4e5f-9a7b-0c1d2e3f4a5b";
export const KEY = `krn:keyhold:kms:${REGION}:${OWNER}:key/${KEY_ID}`;
export const OTHER_KEY = `krn:keyhold:kms:${REGION}:${OWNER}:key/0f1e2d3c-4b5a-4697-8887-a6b5c4d3e2f1`;
export const NOW = new Date("2025-06-01T12:00:00Z");

export function rootOf(accountId: string): AuthorizationPrincipal {
  return { krn: `krn:keyhold:iam::${accountId}:root`, accountId, type: "root" };
}

export function userOf(accountId: string, name: string): AuthorizationPrincipal {
  return { krn: `krn:keyhold:iam::${accountId}:user/${name}`, accountId, type: "user" };
}

export function roleOf(accountId: string, name: string, sessionName?: string): AuthorizationPrincipal {
  return { krn: `krn:keyhold:iam::${accountId}:role/${name}`, accountId, type: "role", sessionName };
}

export const ALICE = userOf(OWNER, "alice");
export const BOB = userOf(OTHER, "bob");

/** A document JSON from one statement or a list. */
export function documentJson(statements: object | readonly object[]): string {
  return JSON.stringify({ Version: "2012-10-17", Statement: statements });
}

export function attach(kind: PolicyKind, statements: object | readonly object[], id = `${kind}-policy`, name = `${kind}-name`): AttachedPolicy {
  return { id, name, document: parsePolicyDocument(documentJson(statements), kind) };
}

export function identity(statements: object | readonly object[], id = "identity-policy", name = "identity-name"): AttachedPolicy {
  return attach("identity", statements, id, name);
}

export function keyPolicy(statements: object | readonly object[], id = "key-policy", name = "key-name"): AttachedPolicy {
  return attach("resource", statements, id, name);
}

export function allow(action: string | readonly string[], extra: object = {}): object {
  return { Effect: "Allow", Action: action, Resource: "*", ...extra };
}

export function deny(action: string | readonly string[], extra: object = {}): object {
  return { Effect: "Deny", Action: action, Resource: "*", ...extra };
}

export interface RequestOptions {
  readonly principal?: AuthorizationPrincipal;
  readonly action?: string;
  readonly resource?: string;
  readonly resourceAccountId?: string;
  readonly context?: Partial<AuthorizationContext>;
}

export function request(options: RequestOptions = {}): AuthorizationRequest {
  return {
    principal: options.principal ?? ALICE,
    action: options.action ?? "kms:Encrypt",
    resource: options.resource ?? KEY,
    resourceAccountId: options.resourceAccountId ?? OWNER,
    context: { currentTime: NOW, ...options.context },
  };
}

export function policies(parts: { identity?: readonly AttachedPolicy[]; resource?: AttachedPolicy | undefined; grants?: readonly Grant[] }): PolicySet {
  return { identity: parts.identity ?? [], resource: parts.resource, grants: parts.grants ?? [] };
}

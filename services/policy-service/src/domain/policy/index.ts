// The policy language and its evaluation: parse and compile documents, evaluate requests
// against identity policies, the key (or trust) policy and grants, managed policies.
export { MAX_POLICY_DOCUMENT_BYTES, PolicyValidationError, parsePolicyDocument } from "./document.ts";
export type { PolicyDocument, PolicyEffect, PolicyKind, PolicyStatement } from "./document.ts";
export { evaluate } from "./evaluate.ts";
export type {
  AttachedPolicy,
  AuthorizationContext,
  AuthorizationPrincipal,
  AuthorizationRequest,
  DecidedBy,
  Decision,
  DecisionDependencies,
  DecisionReason,
  Grant,
  GrantConstraints,
  PolicySet,
} from "./evaluate.ts";
export { MANAGED_POLICY_NAMES, defaultKeyPolicy, managedPolicy } from "./managed.ts";
export type { ManagedPolicyName } from "./managed.ts";

// Authorization decisions (AWS KMS semantics) over compiled policy documents and grants.
//
//   1. An explicit Deny in any applicable identity or resource (key / trust) policy statement
//      wins over everything, grants included.
//   2. Same account (principal.accountId === resourceAccountId): allowed when an identity
//      policy, the resource policy or a grant allows.
//   3. Cross-account: allowed only when the resource side (resource policy or grant) AND the
//      caller's identity policies both allow.
//   4. Otherwise denied (default deny).
//
// A statement applies when its Action/NotAction matches the action (case-insensitive), its
// Resource/NotResource the resource (case-sensitive), its Principal the principal (resource
// and trust policies) and every condition holds.
//
// For sts:AssumeRole, pass the role's trust policy as `resource` and the role krn as the
// resource: trust statements have no Resource and apply to whatever role they are attached to.
//
// Hot path: no allocation per statement; one small state object and the decision per call.
import { matchesPatternSet, type PatternSet } from "./glob.ts";
import { cidrContains, parseRequestIp, type IpAddressValue } from "./ip.ts";
import {
  DEPENDS_ON_ENCRYPTION_CONTEXT,
  DEPENDS_ON_SOURCE_IP,
  DEPENDS_ON_TIME,
  type CompiledCondition,
  type PolicyDocument,
  type PolicyStatement,
  type PrincipalSet,
  type StringCondition,
} from "./document.ts";

export interface AuthorizationPrincipal {
  /** krn:keyhold:iam::<account>:root | user/<name> | role/<name> (an assumed-role session is its role's krn). */
  readonly krn: string;
  readonly accountId: string;
  readonly type: "root" | "user" | "role" | "service";
  /** Set for assumed-role sessions. */
  readonly sessionName?: string | undefined;
}

export interface AuthorizationContext {
  /**
   * The caller's address (IPv4, IPv6, IPv4-mapped IPv6; brackets and a zone are tolerated).
   * "" is the same as absent; an address that does not parse is present but in no block.
   */
  readonly sourceIp?: string | undefined;
  readonly currentTime: Date;
  readonly encryptionContext?: Readonly<Record<string, string>> | undefined;
  /** The service that called on the principal's behalf (kms:ViaService); "" is the same as absent. */
  readonly viaService?: string | undefined;
  readonly secureTransport?: boolean | undefined;
}

export interface AuthorizationRequest {
  readonly principal: AuthorizationPrincipal;
  /** `<service>:<Action>`, e.g. kms:Encrypt (any case). */
  readonly action: string;
  /** The resource krn, e.g. krn:keyhold:kms:<region>:<account>:key/<uuid>. */
  readonly resource: string;
  readonly resourceAccountId: string;
  readonly context: AuthorizationContext;
}

export interface AttachedPolicy {
  readonly id: string;
  readonly name: string;
  readonly document: PolicyDocument;
}

export interface GrantConstraints {
  /** The request's encryption context must equal this exactly. */
  readonly encryptionContextEquals?: Readonly<Record<string, string>> | undefined;
  /** Every pair of this must be in the request's encryption context. */
  readonly encryptionContextSubset?: Readonly<Record<string, string>> | undefined;
}

export interface Grant {
  readonly grantId: string;
  /** The key krn the grant is on (compared exactly with the request's resource). */
  readonly keyKrn: string;
  /** Compared exactly with the principal's krn. */
  readonly granteePrincipal: string;
  /** Operation names, case-insensitive: `kms:Encrypt`, or `Encrypt` for a kms: action. */
  readonly operations: readonly string[];
  readonly constraints?: GrantConstraints | undefined;
}

export interface PolicySet {
  /** Identity policies attached to the principal (and its groups), kind "identity". */
  readonly identity: readonly AttachedPolicy[];
  /** The key policy (kind "resource") or, for sts:AssumeRole, the role's trust policy. */
  readonly resource: AttachedPolicy | undefined;
  /** Grants on the resource. */
  readonly grants: readonly Grant[];
}

export type DecisionReason =
  | "explicit-deny"
  | "allowed"
  | "implicit-deny"
  | "cross-account-missing-identity-allow"
  | "cross-account-missing-resource-allow";

export interface DecidedBy {
  readonly kind: "identity" | "resource" | "grant";
  /** Policy id, or the grant id for a grant. */
  readonly policyId: string;
  /** Policy name, or the grant id for a grant. */
  readonly policyName: string;
  /** Statement index in the document; 0 for a grant. */
  readonly statementIndex: number;
  readonly sid?: string;
}

export interface DecisionDependencies {
  readonly encryptionContext: boolean;
  readonly sourceIp: boolean;
  readonly time: boolean;
}

export interface Decision {
  readonly allowed: boolean;
  readonly reason: DecisionReason;
  /**
   * explicit-deny: the deny statement. allowed: the allowing statement or grant — for
   * cross-account calls the resource side (key policy statement or grant), for same-account
   * calls the first of identity policy, key policy, grant that allowed. Otherwise undefined.
   */
  readonly decidedBy: DecidedBy | undefined;
  /**
   * Which volatile request attributes could have changed this decision: true when a statement
   * or grant whose conditions/constraints were evaluated reads the attribute. Every other
   * request field (principal, action, resource, resourceAccountId, viaService,
   * secureTransport) can always change the decision and belongs in any cache key.
   *
   * Sound for caching: two requests that agree on every other field and on the attributes
   * marked true follow the same evaluation path and get the same decision (statements are
   * evaluated in a fixed order; only statements whose conditions were read are marked; a
   * statement skipped because an earlier one already decided would be skipped again).
   */
  readonly dependsOn: DecisionDependencies;
}

/** Mutable per-call state: dependency bits and the lazily parsed source address. */
interface EvaluationState {
  dependsOn: number;
  ipParsed: boolean;
  ip: IpAddressValue | undefined;
}

export function evaluate(request: AuthorizationRequest, policies: PolicySet): Decision {
  const action = request.action.toLowerCase();
  const state: EvaluationState = { dependsOn: 0, ipParsed: false, ip: undefined };
  const sameAccount = request.principal.accountId === request.resourceAccountId;

  // Identity policies: any Deny ends it; the first Allow is kept (later Allow statements are
  // not evaluated, later Deny statements are).
  let identityPolicy: AttachedPolicy | undefined;
  let identityStatement: PolicyStatement | undefined;
  for (const policy of policies.identity) {
    for (const statement of policy.document.statements) {
      if (statement.effect === "Allow" && identityStatement !== undefined) continue;
      if (!applies(statement, request, action, false, state)) continue;
      if (statement.effect === "Deny") return decision(false, "explicit-deny", decided("identity", policy, statement), state);
      identityPolicy = policy;
      identityStatement = statement;
    }
  }

  // Resource policy: its Allow statements matter unless a same-account identity Allow decided.
  const resourcePolicy = policies.resource;
  let resourceStatement: PolicyStatement | undefined;
  if (resourcePolicy !== undefined) {
    const needAllow = !(sameAccount && identityStatement !== undefined);
    for (const statement of resourcePolicy.document.statements) {
      if (statement.effect === "Allow" && (!needAllow || resourceStatement !== undefined)) continue;
      if (!applies(statement, request, action, true, state)) continue;
      if (statement.effect === "Deny") return decision(false, "explicit-deny", decided("resource", resourcePolicy, statement), state);
      resourceStatement = statement;
    }
  }

  // Grants (never Deny): consulted only while the resource side is still missing.
  let grant: Grant | undefined;
  if (resourceStatement === undefined && !(sameAccount && identityStatement !== undefined)) {
    for (const candidate of policies.grants) {
      if (grantMatches(candidate, request, action, state)) {
        grant = candidate;
        break;
      }
    }
  }

  const resourceSide: DecidedBy | undefined =
    resourceStatement !== undefined && resourcePolicy !== undefined
      ? decided("resource", resourcePolicy, resourceStatement)
      : grant !== undefined
        ? { kind: "grant", policyId: grant.grantId, policyName: grant.grantId, statementIndex: 0 }
        : undefined;
  const identitySide: DecidedBy | undefined =
    identityStatement !== undefined && identityPolicy !== undefined ? decided("identity", identityPolicy, identityStatement) : undefined;

  if (sameAccount) {
    const by = identitySide ?? resourceSide;
    return by === undefined ? decision(false, "implicit-deny", undefined, state) : decision(true, "allowed", by, state);
  }
  if (identitySide !== undefined && resourceSide !== undefined) return decision(true, "allowed", resourceSide, state);
  if (identitySide === undefined && resourceSide === undefined) return decision(false, "implicit-deny", undefined, state);
  if (identitySide === undefined) return decision(false, "cross-account-missing-identity-allow", undefined, state);
  return decision(false, "cross-account-missing-resource-allow", undefined, state);
}

function decided(kind: "identity" | "resource", policy: AttachedPolicy, statement: PolicyStatement): DecidedBy {
  return statement.sid === undefined
    ? { kind, policyId: policy.id, policyName: policy.name, statementIndex: statement.index }
    : { kind, policyId: policy.id, policyName: policy.name, statementIndex: statement.index, sid: statement.sid };
}

function decision(allowed: boolean, reason: DecisionReason, decidedBy: DecidedBy | undefined, state: EvaluationState): Decision {
  const bits = state.dependsOn;
  return {
    allowed,
    reason,
    decidedBy,
    dependsOn: {
      encryptionContext: (bits & DEPENDS_ON_ENCRYPTION_CONTEXT) !== 0,
      sourceIp: (bits & DEPENDS_ON_SOURCE_IP) !== 0,
      time: (bits & DEPENDS_ON_TIME) !== 0,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Statements

function matchesMaybeNegated(set: PatternSet, negated: boolean, value: string): boolean {
  return matchesPatternSet(set, value) !== negated;
}

function applies(statement: PolicyStatement, request: AuthorizationRequest, action: string, resourcePhase: boolean, state: EvaluationState): boolean {
  if (!matchesMaybeNegated(statement.action, statement.actionNegated, action)) return false;
  const resource = statement.resource;
  if (resource !== undefined && !matchesMaybeNegated(resource, statement.resourceNegated, request.resource)) return false;
  const principal = statement.principal;
  if (principal !== undefined) {
    if (!principalMatches(principal, request)) return false;
  } else if (resourcePhase) {
    // A resource or trust policy statement without Principal cannot be parsed; an identity
    // document passed as a key policy by mistake must not grant everyone.
    return false;
  }
  const conditions = statement.conditions;
  if (conditions.length === 0) return true;
  state.dependsOn |= statement.dependsOn;
  for (let i = 0; i < conditions.length; i++) {
    if (!conditionHolds(conditions[i] as CompiledCondition, request, state)) return false;
  }
  return true;
}

/**
 * "*" matches anyone; a user/role krn that principal; an account root krn the root of that
 * account and — only when that account is not the resource's — every principal of it
 * (delegation: the other account's identity policies must then allow too).
 */
function principalMatches(principal: PrincipalSet, request: AuthorizationRequest): boolean {
  if (principal.any) return true;
  const caller = request.principal;
  if (principal.krns.has(caller.krn)) return true;
  return caller.accountId !== request.resourceAccountId && principal.rootAccounts.has(caller.accountId);
}

// ---------------------------------------------------------------------------------------------
// Conditions

function encryptionContextValue(request: AuthorizationRequest, key: string): string | undefined {
  const context = request.context.encryptionContext;
  return context !== undefined && Object.hasOwn(context, key) ? context[key] : undefined;
}

function hasEncryptionContextKeys(request: AuthorizationRequest): boolean {
  const context = request.context.encryptionContext;
  if (context === undefined) return false;
  for (const key in context) if (Object.hasOwn(context, key)) return true;
  return false;
}

/**
 * "" counts as missing for sourceIp and viaService: proto3 strings cannot tell an absent value
 * from an empty one, and "" is never an address or a service name.
 */
function presentText(value: string | undefined): string | undefined {
  return value === "" ? undefined : value;
}

/** The value of a single-valued string key, or undefined when the request lacks it. */
function stringValue(condition: CompiledCondition, request: AuthorizationRequest): string | undefined {
  switch (condition.key) {
    case "encryptionContext":
      return encryptionContextValue(request, condition.contextKey);
    case "callerAccount":
    case "principalAccount":
      return request.principal.accountId;
    case "viaService":
      return presentText(request.context.viaService);
    case "principalKrn":
      return request.principal.krn;
    case "principalType":
      return request.principal.type;
    default:
      return undefined;
  }
}

function keyPresent(condition: CompiledCondition, request: AuthorizationRequest): boolean {
  switch (condition.key) {
    case "encryptionContext":
      return encryptionContextValue(request, condition.contextKey) !== undefined;
    case "encryptionContextKeys":
      return hasEncryptionContextKeys(request);
    case "viaService":
      return presentText(request.context.viaService) !== undefined;
    case "sourceIp":
      return presentText(request.context.sourceIp) !== undefined;
    case "secureTransport":
      return request.context.secureTransport !== undefined;
    case "callerAccount":
    case "principalAccount":
    case "principalKrn":
    case "principalType":
    case "currentTime":
      return true;
  }
}

function stringMatches(condition: StringCondition, value: string): boolean {
  switch (condition.mode) {
    case "equals":
      return condition.exact.has(value);
    case "equalsIgnoreCase":
      return condition.exact.has(value.toLowerCase());
    case "like":
      return condition.like !== undefined && matchesPatternSet(condition.like, value);
  }
}

/** One request value against a (possibly negated) string condition: any value matches / none does. */
function stringValueHolds(condition: StringCondition, value: string): boolean {
  return stringMatches(condition, value) !== condition.negated;
}

function stringConditionHolds(condition: StringCondition, request: AuthorizationRequest): boolean {
  if (condition.set === "none") {
    const value = stringValue(condition, request);
    if (value === undefined) return condition.ifExists || condition.negated;
    return stringValueHolds(condition, value);
  }
  // The only multi-valued key: kms:EncryptionContextKeys.
  const context = request.context.encryptionContext;
  if (condition.set === "forAllValues") {
    if (context !== undefined) {
      for (const key in context) {
        if (Object.hasOwn(context, key) && !stringValueHolds(condition, key)) return false;
      }
    }
    return true; // also for an empty or missing set
  }
  let any = false;
  if (context !== undefined) {
    for (const key in context) {
      if (!Object.hasOwn(context, key)) continue;
      any = true;
      if (stringValueHolds(condition, key)) return true;
    }
  }
  return !any && condition.ifExists;
}

function sourceIp(request: AuthorizationRequest, state: EvaluationState): IpAddressValue | undefined {
  if (!state.ipParsed) {
    const text = request.context.sourceIp;
    state.ip = text === undefined ? undefined : parseRequestIp(text);
    state.ipParsed = true;
  }
  return state.ip;
}

function conditionHolds(condition: CompiledCondition, request: AuthorizationRequest, state: EvaluationState): boolean {
  switch (condition.kind) {
    case "string":
      return stringConditionHolds(condition, request);
    case "null":
      return keyPresent(condition, request) ? condition.whenPresent : condition.whenMissing;
    case "ip": {
      if (presentText(request.context.sourceIp) === undefined) return condition.ifExists || condition.negated;
      // An address that does not parse is present but inside no block.
      const ip = sourceIp(request, state);
      let inside = false;
      if (ip !== undefined) {
        const blocks = condition.blocks;
        for (let i = 0; i < blocks.length && !inside; i++) inside = cidrContains(blocks[i]!, ip);
      }
      return inside !== condition.negated;
    }
    case "date": {
      const now = request.context.currentTime.getTime();
      const times = condition.times;
      for (let i = 0; i < times.length; i++) {
        const t = times[i]!;
        switch (condition.comparison) {
          case "lt":
            if (now < t) return true;
            break;
          case "gt":
            if (now > t) return true;
            break;
          case "le":
            if (now <= t) return true;
            break;
          case "ge":
            if (now >= t) return true;
            break;
        }
      }
      return false;
    }
    case "bool": {
      const value = request.context.secureTransport;
      if (value === undefined) return condition.ifExists;
      return value ? condition.matchTrue : condition.matchFalse;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Grants

function lowerAscii(c: number): number {
  return c >= 65 && c <= 90 ? c + 32 : c;
}

/** `operation` (any case) equals `action` (lower case) from `offset` on. */
function equalsFrom(operation: string, action: string, offset: number): boolean {
  if (operation.length !== action.length - offset) return false;
  for (let i = 0; i < operation.length; i++) {
    if (lowerAscii(operation.charCodeAt(i)) !== action.charCodeAt(offset + i)) return false;
  }
  return true;
}

function operationAllowed(operations: readonly string[], action: string): boolean {
  const kms = action.startsWith("kms:");
  for (let i = 0; i < operations.length; i++) {
    const operation = operations[i]!;
    if (equalsFrom(operation, action, 0)) return true;
    if (kms && !operation.includes(":") && equalsFrom(operation, action, 4)) return true;
  }
  return false;
}

function containsPairs(context: Readonly<Record<string, string>> | undefined, pairs: Readonly<Record<string, string>>): boolean {
  for (const key in pairs) {
    if (!Object.hasOwn(pairs, key)) continue;
    if (context === undefined || !Object.hasOwn(context, key) || context[key] !== pairs[key]) return false;
  }
  return true;
}

function ownKeyCount(record: Readonly<Record<string, string>> | undefined): number {
  let count = 0;
  if (record !== undefined) for (const key in record) if (Object.hasOwn(record, key)) count++;
  return count;
}

function grantMatches(grant: Grant, request: AuthorizationRequest, action: string, state: EvaluationState): boolean {
  if (grant.granteePrincipal !== request.principal.krn || grant.keyKrn !== request.resource) return false;
  if (!operationAllowed(grant.operations, action)) return false;
  const constraints = grant.constraints;
  if (constraints === undefined) return true;
  const equals = constraints.encryptionContextEquals;
  const subset = constraints.encryptionContextSubset;
  if (equals === undefined && subset === undefined) return true;
  state.dependsOn |= DEPENDS_ON_ENCRYPTION_CONTEXT;
  const context = request.context.encryptionContext;
  if (equals !== undefined && (ownKeyCount(context) !== ownKeyCount(equals) || !containsPairs(context, equals))) return false;
  if (subset !== undefined && !containsPairs(context, subset)) return false;
  return true;
}

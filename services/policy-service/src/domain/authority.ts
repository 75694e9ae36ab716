// The PolicyAuthority policy-service serves from its own store: in-process for its own RPCs
// and behind AuthorizationService (Authenticate, Authorize, WatchChanges) for every other service.
//
// authorize() gathers the policies that apply and asks the engine (policy/evaluate.ts):
//   identity  the policies attached to the principal (for an assumed-role session, its role's);
//             an account root gets one synthetic allow-everything policy, so it may do anything
//             in its own account unless a resource policy explicitly denies it (AWS root
//             semantics), and across accounts still needs the other account's allow;
//   resource  the resource policy of the resource krn: a key's key policy (the default key
//             policy when none was put), a role's trust policy for sts: actions, a built-in
//             read policy for Keyhold-managed policies;
//   grants    the grants on the key.
// sts:AssumeRole additionally needs the trust policy itself to allow the caller, in the same
// account too (an identity policy alone cannot let anyone assume a role).
//
// Hot path: compiled documents and the per-principal and per-resource policy sets live in
// memory; a change in the store drops the sets (documents are cached by content and never go
// stale), so authorize() parses no JSON and queries nothing while nothing changes. A set read
// from the store while a change was announced is used for that call but not cached (the
// generation moved), so a cache never keeps what a change made stale. With PostgreSQL, changes
// made by other replicas are announced too (the store LISTENs for them).
import { MAX_CERTIFICATE_NAMES, type AuthorizationAnswer, type AuthorizationQuery, type PolicyAuthority } from "@keyhold/authz";
import { KeyholdError, type Logger, type PeerIdentity, type Principal } from "@keyhold/server-kit";
import type { PolicyStore } from "../store/policy-store.ts";
import type { GrantRecord, SubjectAltNameTypeName } from "../store/records.ts";
import { MAX_DNS_SAN_LENGTH, MAX_URI_SAN_LENGTH } from "./certificate-identities.ts";
import type { Clock } from "./clock.ts";
import { DUMMY_DIGEST, digestsEqual, parseToken, secretDigest } from "./credentials.ts";
import { accountOfKrn, parseKeyKrn, parsePolicyKrn, parsePrincipalKrn, rootKrn } from "./names.ts";
import {
  defaultKeyPolicy,
  evaluate,
  managedPolicy,
  parsePolicyDocument,
  type AttachedPolicy,
  type AuthorizationRequest,
  type Decision,
  type Grant,
  type PolicyDocument,
  type PolicyKind,
} from "./policy/index.ts";

/** API key uses are recorded at most this often per key (a write per call would be too many). */
export const LAST_USED_RESOLUTION_MS = 60_000;
const MAX_CACHED_DOCUMENTS = 4096;
const MAX_CACHED_SETS = 10_000;

/** What a bearer credential stands for, and until when (role sessions expire). */
export interface AuthenticatedCredential {
  readonly principal: Principal;
  readonly expiresAt: Date | undefined;
}

interface ResourceSide {
  readonly resource: AttachedPolicy | undefined;
  readonly grants: readonly Grant[];
}

const ROOT_POLICY_NAME = "AccountRoot";

const MANAGED_POLICY_READ_DOCUMENT = JSON.stringify({
  Version: "2012-10-17",
  Statement: [{ Sid: "ManagedPoliciesAreReadable", Effect: "Allow", Principal: "*", Action: "iam:GetPolicy", Resource: "*" }],
});

export function invalidCredential(): KeyholdError {
  return new KeyholdError("UNAUTHENTICATED", "invalid credential");
}

/** The engine's view of a grant record. */
export function engineGrant(record: GrantRecord): Grant {
  const constraints = record.constraints;
  return {
    grantId: record.grantId,
    keyKrn: record.keyKrn,
    granteePrincipal: record.granteePrincipal,
    operations: record.operations,
    constraints:
      constraints === undefined
        ? undefined
        : { encryptionContextEquals: constraints.encryptionContextEquals, encryptionContextSubset: constraints.encryptionContextSubset },
  };
}

export class LocalPolicyAuthority implements PolicyAuthority {
  readonly changesLive = true;
  private readonly store: PolicyStore;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly documents = new Map<string, PolicyDocument>();
  private readonly identitySets = new Map<string, readonly AttachedPolicy[]>();
  private readonly resourceSides = new Map<string, ResourceSide>();
  private readonly rootPolicy: AttachedPolicy;
  private readonly unsubscribe: () => void;
  /** Bumped by every change: a set read under an older generation is not cached. */
  private generation = 0;

  constructor(store: PolicyStore, clock: Clock, logger: Logger) {
    this.store = store;
    this.clock = clock;
    this.logger = logger;
    this.rootPolicy = {
      id: ROOT_POLICY_NAME,
      name: ROOT_POLICY_NAME,
      document: parsePolicyDocument(JSON.stringify({ Version: "2012-10-17", Statement: [{ Effect: "Allow", Action: "*", Resource: "*" }] }), "identity"),
    };
    // Registered first, so the sets are gone before any other listener hears of a change.
    this.unsubscribe = store.onChange(() => this.dropSets());
  }

  onChange(listener: (sequence: bigint) => void): () => void {
    return this.store.onChange((event) => listener(event.sequence));
  }

  close(): void {
    this.unsubscribe();
    this.dropSets();
    this.documents.clear();
  }

  private dropSets(): void {
    this.generation++;
    this.identitySets.clear();
    this.resourceSides.clear();
  }

  // ---------------------------------------------------------------------------------------------
  // Authentication

  async authenticate(credential: string): Promise<Principal> {
    const { principal, expiresAt } = await this.authenticateCredential(credential);
    return expiresAt === undefined ? principal : { ...principal, reusableUntil: expiresAt };
  }

  /**
   * Resolves an API key or role session token. Every refusal — malformed, unknown id, wrong
   * secret of any length, disabled key, expired session — is the same UNAUTHENTICATED
   * "invalid credential"; a well-formed token always costs one digest comparison.
   */
  async authenticateCredential(credential: string): Promise<AuthenticatedCredential> {
    const token = parseToken(credential);
    if (token === undefined || token.kind === "grant") throw invalidCredential();
    const presented = secretDigest(token.secret);
    const now = this.clock.now();
    if (token.kind === "api-key") {
      const record = await this.store.getApiKey(token.id);
      const matches = digestsEqual(record?.secretHash ?? DUMMY_DIGEST, presented);
      if (!matches || record === undefined || record.status !== "active") throw invalidCredential();
      const parsed = parsePrincipalKrn(record.principalKrn);
      if (parsed === undefined || parsed.kind === "role") throw invalidCredential();
      if (record.lastUsedAt === undefined || now.getTime() - record.lastUsedAt.getTime() >= LAST_USED_RESOLUTION_MS) {
        await this.store.touchApiKey(record.apiKeyId, now);
      }
      return { principal: { accountId: parsed.accountId, krn: parsed.krn, kind: parsed.kind, name: parsed.name }, expiresAt: undefined };
    }
    const session = await this.store.getRoleSession(token.id);
    const matches = digestsEqual(session?.secretHash ?? DUMMY_DIGEST, presented);
    if (!matches || session === undefined || session.expiresAt.getTime() <= now.getTime()) throw invalidCredential();
    const role = parsePrincipalKrn(session.roleKrn);
    if (role === undefined || role.kind !== "role") throw invalidCredential();
    return {
      principal: { accountId: role.accountId, krn: role.krn, kind: "role", name: role.name, sessionName: session.sessionName },
      expiresAt: session.expiresAt,
    };
  }

  async authenticateCertificate(identity: PeerIdentity): Promise<Principal> {
    return this.certificatePrincipal(identity);
  }

  /**
   * The principal a verified client certificate identity maps to: the first of its URIs, then
   * of its DNS names, that is mapped; otherwise UNAUTHENTICATED "invalid credential". (SANs are
   * not secrets: the certificate's verification is what authenticated them.)
   */
  async certificatePrincipal(identity: PeerIdentity): Promise<Principal> {
    for (const uri of identity.uris.slice(0, MAX_CERTIFICATE_NAMES)) {
      const principal = uri.length <= MAX_URI_SAN_LENGTH ? await this.mappedPrincipal(uri, "uri") : undefined;
      if (principal !== undefined) return principal;
    }
    for (const dnsName of identity.dnsNames.slice(0, MAX_CERTIFICATE_NAMES)) {
      const principal = dnsName.length <= MAX_DNS_SAN_LENGTH ? await this.mappedPrincipal(dnsName.toLowerCase(), "dns") : undefined;
      if (principal !== undefined) return principal;
    }
    throw invalidCredential();
  }

  private async mappedPrincipal(san: string, type: SubjectAltNameTypeName): Promise<Principal | undefined> {
    const record = await this.store.getCertificateIdentity(san);
    if (record === undefined || record.type !== type) return undefined;
    const parsed = parsePrincipalKrn(record.principalKrn);
    if (parsed === undefined || parsed.kind === "root") return undefined;
    return { accountId: parsed.accountId, krn: parsed.krn, kind: parsed.kind, name: parsed.name };
  }

  // ---------------------------------------------------------------------------------------------
  // Authorization

  async authorize(query: AuthorizationQuery): Promise<AuthorizationAnswer> {
    return this.decide(query);
  }

  /** authorize(), for this service's handlers. */
  async decide(query: AuthorizationQuery): Promise<AuthorizationAnswer> {
    const principal = query.principal;
    const resourceAccountId = accountOfKrn(query.resource);
    const request: AuthorizationRequest = {
      principal: {
        krn: principal.krn,
        accountId: principal.accountId,
        type: principal.kind,
        sessionName: principal.sessionName,
      },
      action: query.action,
      resource: query.resource,
      resourceAccountId,
      context: {
        sourceIp: query.sourceIp,
        currentTime: this.clock.now(),
        encryptionContext: query.encryptionContext,
        viaService: query.viaService,
        secureTransport: query.secureTransport,
      },
    };
    const identity = await this.identityPolicies(principal);
    const side = await this.resourceSide(query.resource, query.action);
    const decision = evaluate(request, { identity, resource: side.resource, grants: side.grants });
    if (decision.allowed && isAssumeRole(query.action) && principal.accountId === resourceAccountId) {
      // Same account: the engine lets an identity allow suffice, but a role is assumed only
      // when its trust policy says so: either it names the caller, or (as in AWS) it names the
      // caller's account, which delegates to that account's identity policies: then both the
      // trust policy and the caller's identity policies must allow, exactly the cross-account rule.
      const trustOnly = evaluate(request, { identity: [], resource: side.resource, grants: [] });
      if (trustOnly.allowed) return answer(decision, decision, trustOnly);
      const delegated = evaluate({ ...request, resourceAccountId: DELEGATION_PROBE_ACCOUNT }, { identity, resource: side.resource, grants: [] });
      return answer(delegated.allowed ? decision : trustOnly, decision, trustOnly, delegated);
    }
    return answer(decision, decision);
  }

  private async identityPolicies(principal: Principal): Promise<readonly AttachedPolicy[]> {
    if (principal.kind === "root") return principal.krn === rootKrn(principal.accountId) ? [this.rootPolicy] : [];
    if (principal.kind === "service") return [];
    const cacheKey = `${principal.accountId}\n${principal.krn}`;
    const cached = this.identitySets.get(cacheKey);
    if (cached !== undefined) return cached;
    const generation = this.generation;
    const policies: AttachedPolicy[] = [];
    for (const attachment of await this.store.listAttachments(principal.krn)) {
      const policy = await this.identityPolicy(attachment.policyKrn, principal.accountId);
      if (policy !== undefined) policies.push(policy);
    }
    if (generation === this.generation) this.remember(this.identitySets, cacheKey, policies);
    return policies;
  }

  /** An attached policy, compiled; undefined when it no longer exists or does not parse. */
  private async identityPolicy(krn: string, accountId: string): Promise<AttachedPolicy | undefined> {
    const parsed = parsePolicyKrn(krn);
    if (parsed === undefined) return undefined;
    if (parsed.managed) {
      const document = this.compile(managedPolicy(parsed.name, accountId), "identity", krn);
      return document === undefined ? undefined : { id: krn, name: parsed.name, document };
    }
    if (parsed.accountId !== accountId) return undefined;
    const record = await this.store.getPolicy(krn);
    if (record === undefined) return undefined;
    const document = this.compile(record.document, "identity", krn);
    return document === undefined ? undefined : { id: krn, name: record.name, document };
  }

  private async resourceSide(resource: string, action: string): Promise<ResourceSide> {
    const trust = isStsAction(action);
    const cacheKey = trust ? `sts\n${resource}` : resource;
    const cached = this.resourceSides.get(cacheKey);
    if (cached !== undefined) return cached;
    const generation = this.generation;
    const side = trust ? await this.trustSide(resource) : await this.policySide(resource);
    if (generation === this.generation) this.remember(this.resourceSides, cacheKey, side);
    return side;
  }

  /** For sts: actions on a role, its trust policy; nothing else applies. */
  private async trustSide(resource: string): Promise<ResourceSide> {
    const role = parsePrincipalKrn(resource);
    if (role === undefined || role.kind !== "role") return { resource: undefined, grants: [] };
    const record = await this.store.getPrincipal(resource);
    if (record?.trustPolicy === undefined) return { resource: undefined, grants: [] };
    const document = this.compile(record.trustPolicy, "trust", resource);
    return { resource: document === undefined ? undefined : { id: resource, name: `${role.name} trust policy`, document }, grants: [] };
  }

  private async policySide(resource: string): Promise<ResourceSide> {
    const key = parseKeyKrn(resource);
    if (key !== undefined) {
      const stored = await this.store.getResourcePolicy(resource);
      const document = this.compile(stored?.document ?? defaultKeyPolicy(key.accountId), "resource", resource);
      return {
        resource: document === undefined ? undefined : { id: resource, name: stored === undefined ? "default key policy" : "key policy", document },
        grants: (await this.store.grantsForKey(resource)).map(engineGrant),
      };
    }
    const managed = parsePolicyKrn(resource);
    if (managed?.managed === true) {
      const document = this.compile(MANAGED_POLICY_READ_DOCUMENT, "resource", resource);
      return { resource: document === undefined ? undefined : { id: resource, name: "managed policy", document }, grants: [] };
    }
    const stored = await this.store.getResourcePolicy(resource);
    if (stored === undefined) return { resource: undefined, grants: [] };
    const document = this.compile(stored.document, "resource", resource);
    return { resource: document === undefined ? undefined : { id: resource, name: "resource policy", document }, grants: [] };
  }

  /**
   * A compiled document, cached by content. Stored documents were validated on upload; one
   * that no longer parses (a stricter engine) applies as absent, and is logged.
   */
  private compile(json: string, kind: PolicyKind, owner: string): PolicyDocument | undefined {
    const cacheKey = `${kind}\n${json}`;
    const cached = this.documents.get(cacheKey);
    if (cached !== undefined) return cached;
    let document: PolicyDocument;
    try {
      document = parsePolicyDocument(json, kind);
    } catch (error) {
      this.logger.warn("stored policy document does not parse; it applies as absent", {
        owner,
        kind,
        problem: error instanceof Error ? error.message : String(error),
      });
      return undefined;
    }
    this.remember(this.documents, cacheKey, document, MAX_CACHED_DOCUMENTS);
    return document;
  }

  private remember<V>(map: Map<string, V>, key: string, value: V, max = MAX_CACHED_SETS): void {
    if (map.size >= max) map.clear();
    map.set(key, value);
  }
}

function isStsAction(action: string): boolean {
  return action.length > 4 && action.slice(0, 4).toLowerCase() === "sts:";
}

/**
 * An account id no principal has: evaluating a same-account trust policy "as if across
 * accounts" makes an account-root principal in it delegate to the caller's identity policies.
 */
const DELEGATION_PROBE_ACCOUNT = "trust-delegation";

function isAssumeRole(action: string): boolean {
  return action.toLowerCase() === "sts:assumerole";
}

/** The engine's decision as the PolicyAuthority contract states it; dependencies of every evaluation made. */
function answer(decision: Decision, ...evaluated: Decision[]): AuthorizationAnswer {
  const by = decision.decidedBy;
  let encryptionContext = false;
  let sourceIp = false;
  let time = false;
  for (const d of evaluated) {
    encryptionContext ||= d.dependsOn.encryptionContext;
    sourceIp ||= d.dependsOn.sourceIp;
    time ||= d.dependsOn.time;
  }
  return {
    allowed: decision.allowed,
    reason: decision.reason,
    decidedBy:
      by === undefined ? undefined : { kind: by.kind, policyId: by.policyId, policyName: by.policyName, statementIndex: by.statementIndex, sid: by.sid },
    dependsOn: { encryptionContext, sourceIp, time },
  };
}

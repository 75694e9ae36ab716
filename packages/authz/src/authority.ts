// The contract between services and policy-service: who is calling, and may they do this.
// policy-service implements it in-process over its own store; every other service reaches it
// through RemotePolicyAuthority, behind CachedPolicyAuthority so the hot path is local.
import type { PeerIdentity, Principal } from "@keyhold/server-kit";

export interface AuthorizationQuery {
  readonly principal: Principal;
  /** e.g. kms:Encrypt */
  readonly action: string;
  /** The resource krn. */
  readonly resource: string;
  readonly encryptionContext?: Readonly<Record<string, string>>;
  readonly sourceIp?: string;
  /** The Keyhold service the call came through (kms:ViaService). */
  readonly viaService?: string;
  readonly secureTransport: boolean;
}

export interface DecidingStatement {
  readonly kind: string;
  readonly policyId: string;
  readonly policyName: string;
  readonly statementIndex: number;
  readonly sid: string | undefined;
}

export interface AuthorizationAnswer {
  readonly allowed: boolean;
  readonly reason: string;
  readonly decidedBy: DecidingStatement | undefined;
  /** Which request attributes the answer depended on: a cache must key on them. */
  readonly dependsOn: { readonly encryptionContext: boolean; readonly sourceIp: boolean; readonly time: boolean };
}

export interface PolicyAuthority {
  /** The principal a bearer credential stands for; throws KeyholdError UNAUTHENTICATED. */
  authenticate(credential: string): Promise<Principal>;
  /**
   * The principal a verified client certificate identity maps to: the first of its URIs, then
   * of its DNS names, that is mapped. Throws KeyholdError UNAUTHENTICATED when none is.
   */
  authenticateCertificate(identity: PeerIdentity): Promise<Principal>;
  authorize(query: AuthorizationQuery): Promise<AuthorizationAnswer>;
  /** Called on every policy, grant, credential or principal change; returns an unsubscribe. */
  onChange(listener: (sequence: bigint) => void): () => void;
  /** True while change notifications are known to arrive (caches may be trusted). */
  readonly changesLive: boolean;
}

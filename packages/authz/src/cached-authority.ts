// Keeps authentication and authorization answers in memory so the hot path makes no call to
// policy-service. Every change notification drops everything at once (revocation is immediate);
// while notifications are not known to arrive, nothing cached is trusted.
import { createHash } from "node:crypto";
import type { PeerIdentity, Principal } from "@keyhold/server-kit";
import type { AuthorizationAnswer, AuthorizationQuery, PolicyAuthority } from "./authority.ts";

export interface CacheOptions {
  readonly maxEntries: number;
  /** How long an answer may be used (a backstop; change notifications flush earlier). */
  readonly ttlMs: number;
  /** For answers that depend on the time of day. */
  readonly timeDependentTtlMs: number;
  readonly now?: () => number;
}

interface Expiring<T> {
  readonly value: T;
  readonly expiresAt: number;
}

/** Decisions for one (principal, action, resource), keyed further by what they depended on. */
interface DecisionFamily {
  readonly dependsOn: AuthorizationAnswer["dependsOn"];
  readonly answers: Map<string, Expiring<AuthorizationAnswer>>;
}

export interface CacheStats {
  hits: number;
  misses: number;
  flushes: number;
}

function canonicalContext(context: Readonly<Record<string, string>> | undefined): string {
  if (context === undefined) return "";
  return JSON.stringify(Object.keys(context).sort().map((k) => [k, context[k]]));
}

export class CachedPolicyAuthority implements PolicyAuthority {
  private readonly inner: PolicyAuthority;
  private readonly options: CacheOptions;
  private readonly now: () => number;
  private readonly credentials = new Map<string, Expiring<Principal>>();
  /** By the certificate identity's names (JSON of [uris, dnsNames]). */
  private readonly certificates = new Map<string, Expiring<Principal>>();
  private readonly decisions = new Map<string, DecisionFamily>();
  readonly stats: CacheStats = { hits: 0, misses: 0, flushes: 0 };
  private readonly unsubscribe: () => void;

  constructor(inner: PolicyAuthority, options: CacheOptions) {
    this.inner = inner;
    this.options = options;
    this.now = options.now ?? Date.now;
    this.unsubscribe = inner.onChange(() => this.flush());
  }

  get changesLive(): boolean {
    return this.inner.changesLive;
  }

  onChange(listener: (sequence: bigint) => void): () => void {
    return this.inner.onChange(listener);
  }

  flush(): void {
    this.credentials.clear();
    this.certificates.clear();
    this.decisions.clear();
    this.stats.flushes++;
  }

  close(): void {
    this.unsubscribe();
    this.flush();
  }

  async authenticate(credential: string): Promise<Principal> {
    const id = createHash("sha256").update(credential).digest("base64url");
    const cached = this.usable(this.credentials.get(id));
    if (cached !== undefined) {
      this.stats.hits++;
      return cached;
    }
    this.stats.misses++;
    const principal = await this.inner.authenticate(credential);
    this.bound(this.credentials);
    const limit = principal.reusableUntil?.getTime() ?? Infinity;
    this.credentials.set(id, { value: principal, expiresAt: Math.min(this.now() + this.options.ttlMs, limit) });
    return principal;
  }

  async authenticateCertificate(identity: PeerIdentity): Promise<Principal> {
    const id = JSON.stringify([identity.uris, identity.dnsNames]);
    const cached = this.usable(this.certificates.get(id));
    if (cached !== undefined) {
      this.stats.hits++;
      return cached;
    }
    this.stats.misses++;
    const principal = await this.inner.authenticateCertificate(identity);
    this.bound(this.certificates);
    this.certificates.set(id, { value: principal, expiresAt: this.now() + this.options.ttlMs });
    return principal;
  }

  async authorize(query: AuthorizationQuery): Promise<AuthorizationAnswer> {
    const familyKey = `${query.principal.krn}\n${query.principal.sessionName ?? ""}\n${query.action}\n${query.resource}\n${query.viaService ?? ""}\n${query.secureTransport}`;
    const family = this.decisions.get(familyKey);
    if (family !== undefined) {
      const cached = this.usable(family.answers.get(this.detailKey(family.dependsOn, query)));
      if (cached !== undefined) {
        this.stats.hits++;
        return cached;
      }
    }
    this.stats.misses++;
    const answer = await this.inner.authorize(query);
    const target = family !== undefined && sameDependencies(family.dependsOn, answer.dependsOn) ? family : { dependsOn: answer.dependsOn, answers: new Map() };
    if (target !== family) {
      this.bound(this.decisions);
      this.decisions.set(familyKey, target);
    }
    if (target.answers.size >= this.options.maxEntries) target.answers.clear();
    const ttl = answer.dependsOn.time ? this.options.timeDependentTtlMs : this.options.ttlMs;
    target.answers.set(this.detailKey(answer.dependsOn, query), { value: answer, expiresAt: this.now() + ttl });
    return answer;
  }

  private detailKey(dependsOn: AuthorizationAnswer["dependsOn"], query: AuthorizationQuery): string {
    if (!dependsOn.encryptionContext && !dependsOn.sourceIp) return "";
    return `${dependsOn.encryptionContext ? canonicalContext(query.encryptionContext) : ""}\n${dependsOn.sourceIp ? (query.sourceIp ?? "") : ""}`;
  }

  private usable<T>(entry: Expiring<T> | undefined): T | undefined {
    if (entry === undefined || !this.inner.changesLive || entry.expiresAt <= this.now()) return undefined;
    return entry.value;
  }

  private bound(map: Map<string, unknown>): void {
    if (map.size >= this.options.maxEntries) map.clear();
  }
}

function sameDependencies(a: AuthorizationAnswer["dependsOn"], b: AuthorizationAnswer["dependsOn"]): boolean {
  return a.encryptionContext === b.encryptionContext && a.sourceIp === b.sourceIp && a.time === b.time;
}

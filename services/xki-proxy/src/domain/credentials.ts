// The SigV4 credentials the XKS API accepts, per path prefix: those of the configuration file
// and those added through the admin API, all active at once (a rotation adds the new pair,
// switches KMS over, then removes the old one), changed without a restart. A prefix is served
// when it is configured or has a credential. Secrets stay in memory only here; the list
// shows a fingerprint instead.
import { createHash } from "node:crypto";
import { KeyholdError } from "@keyhold/server-kit";
import type { ConfiguredPrefix } from "../config.ts";

export type CredentialSource = "config" | "admin";

export interface Credential {
  readonly prefix: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly createTime: Date;
  readonly source: CredentialSource;
}

export interface CredentialView {
  readonly prefix: string;
  readonly accessKeyId: string;
  readonly secretFingerprint: string;
  readonly createTime: Date;
  readonly source: CredentialSource;
}

export function secretFingerprint(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex").slice(0, 16);
}

export class CredentialRegistry {
  readonly #configuredPrefixes: ReadonlySet<string>;
  readonly #byPrefix = new Map<string, Map<string, Credential>>();
  #prefixes: readonly string[] = [];

  constructor(configured: readonly ConfiguredPrefix[], now: Date) {
    this.#configuredPrefixes = new Set(configured.map((p) => p.prefix));
    for (const { prefix, credentials } of configured) {
      for (const { accessKeyId, secretAccessKey } of credentials) {
        this.#put({ prefix, accessKeyId, secretAccessKey, createTime: now, source: "config" });
      }
    }
    this.#refreshPrefixes();
  }

  #put(credential: Credential): void {
    let map = this.#byPrefix.get(credential.prefix);
    if (map === undefined) {
      map = new Map();
      this.#byPrefix.set(credential.prefix, map);
    }
    map.set(credential.accessKeyId, credential);
  }

  #refreshPrefixes(): void {
    const all = new Set([...this.#configuredPrefixes, ...[...this.#byPrefix].filter(([, m]) => m.size > 0).map(([p]) => p)]);
    // Longest first, so a prefix that extends another is matched before it.
    this.#prefixes = [...all].sort((a, b) => b.length - a.length || (a < b ? -1 : 1));
  }

  /** The served prefixes (normalized, "" for none), longest first. */
  prefixes(): readonly string[] {
    return this.#prefixes;
  }

  /** The secret(s) an access key id signs with under `prefix` ([] when unknown there). */
  secretsOf(prefix: string, accessKeyId: string): readonly string[] {
    const found = this.#byPrefix.get(prefix)?.get(accessKeyId);
    return found === undefined ? [] : [found.secretAccessKey];
  }

  get(prefix: string, accessKeyId: string): Credential | undefined {
    return this.#byPrefix.get(prefix)?.get(accessKeyId);
  }

  /** Adds a credential (ALREADY_EXISTS when the prefix has this access key id). */
  add(credential: Credential): void {
    if (this.get(credential.prefix, credential.accessKeyId) !== undefined) {
      throw new KeyholdError("ALREADY_EXISTS", `access key id ${credential.accessKeyId} already exists under prefix "${credential.prefix}"`, { field: "access_key_id" });
    }
    this.#put(credential);
    this.#refreshPrefixes();
  }

  /** Removes an admin-added credential. */
  remove(prefix: string, accessKeyId: string): Credential {
    const found = this.get(prefix, accessKeyId);
    if (found === undefined) throw new KeyholdError("NOT_FOUND", `no access key id ${accessKeyId} under prefix "${prefix}"`);
    if (found.source === "config") {
      throw new KeyholdError("UNSUPPORTED_OPERATION", `access key id ${accessKeyId} comes from the configuration file: remove it there`);
    }
    this.#byPrefix.get(prefix)?.delete(accessKeyId);
    this.#refreshPrefixes();
    return found;
  }

  list(prefix?: string): CredentialView[] {
    const out: CredentialView[] = [];
    for (const [p, map] of this.#byPrefix) {
      if (prefix !== undefined && p !== prefix) continue;
      for (const c of map.values()) {
        out.push({ prefix: c.prefix, accessKeyId: c.accessKeyId, secretFingerprint: secretFingerprint(c.secretAccessKey), createTime: c.createTime, source: c.source });
      }
    }
    return out.sort((a, b) => (a.prefix === b.prefix ? (a.accessKeyId < b.accessKeyId ? -1 : 1) : a.prefix < b.prefix ? -1 : 1));
  }

  /** The admin-added credentials (for the store). */
  adminCredentials(): Credential[] {
    return [...this.#byPrefix.values()].flatMap((m) => [...m.values()]).filter((c) => c.source === "admin");
  }
}

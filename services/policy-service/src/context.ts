// AppContext: everything a handler uses, built once by app.ts; tests pass overrides.
import type { CallAccess } from "@keyhold/authz";
import type { Logger } from "@keyhold/server-kit";
import type { PolicyServiceConfig } from "./config.ts";
import type { LocalPolicyAuthority } from "./domain/authority.ts";
import type { Clock } from "./domain/clock.ts";
import type { PolicyStore } from "./store/policy-store.ts";

/** New identifiers. Credential ids are public; secrets come from `random`, never from here. */
export interface IdGenerator {
  /** 16 lowercase hex digits. */
  apiKeyId(): string;
  /** 16 lowercase hex digits. */
  sessionId(): string;
  /** 32 lowercase hex digits. */
  grantId(): string;
  /** 12 digits. */
  accountId(): string;
}

export interface AppContext {
  readonly config: PolicyServiceConfig;
  readonly store: PolicyStore;
  readonly authority: LocalPolicyAuthority;
  /** Authorizes a handler's action on a resource for the call's principal. */
  readonly access: CallAccess;
  readonly clock: Clock;
  /** Cryptographically secure random bytes. */
  readonly random: (size: number) => Buffer;
  readonly ids: IdGenerator;
  readonly logger: Logger;
}

export function randomIds(random: (size: number) => Buffer): IdGenerator {
  return {
    apiKeyId: () => random(8).toString("hex"),
    sessionId: () => random(8).toString("hex"),
    grantId: () => random(16).toString("hex"),
    accountId: () => {
      // 12 decimal digits from 8 random bytes (the bias of the modulo is below 2^-24).
      const value = random(8).readBigUInt64BE() % 1_000_000_000_000n;
      return value.toString().padStart(12, "0");
    },
  };
}

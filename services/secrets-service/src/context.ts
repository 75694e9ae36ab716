// AppContext: everything a handler uses, built once by app.ts; tests pass overrides.
import type { Client } from "@connectrpc/connect";
import type { CallAccess, PolicyAuthority } from "@keyhold/authz";
import type { IamService } from "@keyhold/proto";
import type { Logger } from "@keyhold/server-kit";
import type { SecretsServiceConfig } from "./config.ts";
import type { DataKeyCache } from "./domain/data-key-cache.ts";
import type { DefaultKeys } from "./domain/default-keys.ts";
import type { Envelope } from "./domain/envelope.ts";
import type { KeyPeer } from "./domain/key-peer.ts";
import type { Rotator } from "./domain/rotation/rotator.ts";
import type { SecretStore } from "./store/secret-store.ts";

export interface Clock {
  now(): Date;
}

export interface AppContext {
  readonly config: SecretsServiceConfig;
  readonly store: SecretStore;
  /** Authorizes each call's action on its resource (through the cached policy authority). */
  readonly access: CallAccess;
  /** The policy authority behind `access` (kms:Decrypt checks for cached data keys). */
  readonly authority: PolicyAuthority;
  /** Plaintext data keys of recently read versions (bounded, short-lived, zeroed). */
  readonly dataKeys: DataKeyCache;
  /** key-service: data keys, key descriptions, default keys. */
  readonly keys: KeyPeer;
  readonly envelope: Envelope;
  readonly defaultKeys: DefaultKeys;
  /** policy-service's IamService (API key secrets), called forwarding the principal acted for. */
  readonly iam: Client<typeof IamService>;
  /** Runs rotations (on demand and from the scheduler), one per secret at a time. */
  readonly rotator: Rotator;
  readonly clock: Clock;
  /** New ids (UUID v4): secrets, generated version ids. */
  readonly newId: () => string;
  readonly logger: Logger;
}

export const systemClock: Clock = { now: () => new Date() };

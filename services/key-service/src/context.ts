// AppContext: everything a handler uses, built once by app.ts; tests pass overrides.
import type { CallAccess } from "@keyhold/authz";
import type { Client } from "@connectrpc/connect";
import type { AuthorizationService } from "@keyhold/proto";
import type { Logger } from "@keyhold/server-kit";
import type { KeyServiceConfig } from "./config.ts";
import type { HsmKeys } from "./domain/hsm-keys.ts";
import type { KeyMaterials } from "./domain/key-materials.ts";
import type { PrivateKeyPool } from "./domain/private-key-pool.ts";
import type { RootKeyProvider } from "./domain/root-key.ts";
import type { SealControl } from "./domain/sealed-root-key.ts";
import type { XksProxies } from "./domain/xks-proxies.ts";
import type { KeyStore } from "./store/key-store.ts";

export interface Clock {
  now(): Date;
}

export interface AppContext {
  readonly config: KeyServiceConfig;
  readonly store: KeyStore;
  readonly rootKey: RootKeyProvider;
  /** Seal status, unsealing and sealing of the root key (NOT_SEALABLE for a key file or an HSM). */
  readonly seal: SealControl;
  readonly materials: KeyMaterials;
  /** HSM-protected keys (origin HSM): key versions as token objects, used through hsm-gateway. */
  readonly hsmKeys: HsmKeys;
  /** Worker threads for private-key operations (key pair generation, signing, RSA decryption). */
  readonly privateKeys: PrivateKeyPool;
  /** Clients of the external key stores' XKS proxies (EXTERNAL_KEY_STORE keys). */
  readonly xks: XksProxies;
  /** Authorizes each call's action on its resource (through the cached policy authority). */
  readonly access: CallAccess;
  /** policy-service, where key policies and grants live (calls forward the end caller). */
  readonly policy: Client<typeof AuthorizationService>;
  readonly clock: Clock;
  /** Cryptographically secure random bytes. */
  readonly random: (size: number) => Buffer;
  /** New resource ids (UUID v4). */
  readonly newId: () => string;
  readonly logger: Logger;
}

export const systemClock: Clock = { now: () => new Date() };

// AppContext: everything the XKS handlers and the admin handlers use, built once by app.ts.
import type { HsmMetrics, SessionPool, Token } from "@keyhold/pkcs11";
import type { Logger } from "@keyhold/server-kit";
import type { XkiProxyConfig } from "./config.ts";
import type { CredentialStore } from "./domain/credential-store.ts";
import type { CredentialRegistry } from "./domain/credentials.ts";
import type { ExternalHsm } from "./domain/external-hsm.ts";
import type { HealthCheck } from "./domain/health.ts";
import type { AuthorizationPolicy } from "./domain/policy.ts";

export interface AppContext {
  readonly config: XkiProxyConfig;
  readonly logger: Logger;
  readonly token: Token;
  readonly pool: SessionPool;
  readonly metrics: HsmMetrics;
  readonly hsm: ExternalHsm;
  readonly credentials: CredentialRegistry;
  readonly credentialStore: CredentialStore;
  /** Secondary authorization; undefined: none configured (every signed request may proceed). */
  readonly policy: AuthorizationPolicy | undefined;
  readonly health: HealthCheck;
  /** Labels of the proxy's own keys (health, credential sealing): not served over XKS. */
  readonly internalKeyLabels: ReadonlySet<string>;
  readonly now: () => Date;
}

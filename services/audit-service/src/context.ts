// AppContext: everything a handler uses, built once by app.ts; tests pass overrides.
import type { CallAccess } from "@keyhold/authz";
import type { Logger } from "@keyhold/server-kit";
import type { AuditServiceConfig } from "./config.ts";
import type { AuditLog, Clock } from "./domain/audit-log.ts";
import type { CheckpointSigner } from "./domain/checkpoint.ts";
import type { AuditStore } from "./store/audit-store.ts";

export type { Clock } from "./domain/audit-log.ts";

export interface AppContext {
  readonly config: AuditServiceConfig;
  readonly store: AuditStore;
  /** Appends, checkpoints, verification and retention over the store. */
  readonly log: AuditLog;
  readonly signer: CheckpointSigner;
  /** Authorizes each call's action on the caller's account's log. */
  readonly access: CallAccess;
  readonly clock: Clock;
  readonly logger: Logger;
}

export const systemClock: Clock = { now: () => new Date() };

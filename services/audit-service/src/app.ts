// Builds audit-service from its dependencies. The all-in-one process and a standalone main
// both use createAuditServiceApp; tests pass overrides (store, signer, clock). It signs a
// checkpoint every checkpointIntervalMs when the log grew, prunes by retention every
// pruneIntervalMs, and signs a last checkpoint when closed.
import { authenticationInterceptor, authorizationRequiredInterceptor, CallAccess, type PolicyAuthority } from "@keyhold/authz";
import { InProcessLeaseManager, type LeaseManager } from "@keyhold/coordination";
import type { CallInterceptor, Logger, ServiceBinding } from "@keyhold/server-kit";
import { POSTGRES_SCHEMA, type AuditServiceConfig } from "./config.ts";
import { systemClock, type AppContext, type Clock } from "./context.ts";
import { AuditLog } from "./domain/audit-log.ts";
import { LocalFileCheckpointSigner, type CheckpointSigner } from "./domain/checkpoint.ts";
import { LocalLogWriter, type LogWriter } from "./domain/log-writer.ts";
import { AUTHORIZATION_EXEMPT_METHODS, auditServiceBindings } from "./routes.ts";
import type { AuditStore } from "./store/audit-store.ts";
import { openSqliteDatabase, SqliteAuditStore } from "./store/sqlite-audit-store.ts";
import { WorkerLogWriter } from "./writer/worker-log-writer.ts";

/** The leases of the periodic checkpoint and of retention (one replica at a time runs each). */
export const CHECKPOINT_LEASE = "audit-service.checkpoint";
export const RETENTION_LEASE = "audit-service.retention";

export interface AuditServiceOverrides {
  /** A store to use instead of the configured database; writes then run on the event loop (LocalLogWriter). */
  readonly store?: AuditStore;
  readonly signer?: CheckpointSigner;
  readonly clock?: Clock;
  /**
   * Leases so the periodic checkpoint and retention run on one replica at a time; default
   * in-process (always granted).
   */
  readonly leases?: LeaseManager;
}

/** What audit-service needs from other services. */
export interface AuditServiceDependencies {
  /** Who is calling and may they: policy-service (behind a local cache). */
  readonly authority: PolicyAuthority;
}

export interface AuditServiceApp {
  readonly context: AppContext;
  readonly bindings: readonly ServiceBinding[];
  /**
   * What a server or transport serving `bindings` installs, in order: authentication (bearer
   * credential, or the trusted Keyhold service and its forwarded caller), then the check that
   * every handler authorized its call (AppendEvents decides by the calling service).
   */
  readonly interceptors: readonly CallInterceptor[];
  close(): Promise<void>;
}

export async function createAuditServiceApp(
  config: AuditServiceConfig,
  logger: Logger,
  dependencies: AuditServiceDependencies,
  overrides: AuditServiceOverrides = {},
): Promise<AuditServiceApp> {
  const log = logger.child({ service: "audit-service" });
  const clock = overrides.clock ?? systemClock;
  // The database is created and migrated here first (the SQLite file, or the audit_service
  // schema on the PostgreSQL server that every replica shares); then the log writer thread opens
  // its own connection for every write, and this one serves reads. An injected store or an
  // in-memory database (one connection only) is written on the event loop instead.
  const store = overrides.store ?? (await openStore(config, log));
  let signer: CheckpointSigner | undefined;
  let writer: LogWriter | undefined;
  let auditLog: AuditLog;
  try {
    writer =
      overrides.store !== undefined || (config.databaseUrl === undefined && config.databasePath === ":memory:")
        ? new LocalLogWriter(store)
        : await startLogWriterThread(config, log);
    signer = overrides.signer ?? (await LocalFileCheckpointSigner.open(config.signingKeyFile, log));
    auditLog = await AuditLog.open({ store, writer, signer, clock, logger: log, retentionDays: config.retentionDays });
  } catch (error) {
    await writer?.close();
    if (overrides.signer === undefined) await signer?.close();
    await store.close();
    throw error;
  }
  const context: AppContext = {
    config,
    store,
    log: auditLog,
    signer,
    access: new CallAccess(dependencies.authority),
    clock,
    logger: log,
  };
  const report = (what: string) => (error: unknown) => {
    log.error(`${what} failed`, { cause: error instanceof Error ? error.message : typeof error });
  };
  const timers: NodeJS.Timeout[] = [];
  const leases = overrides.leases ?? new InProcessLeaseManager(log);
  if (config.checkpointIntervalMs > 0) {
    const timer = setInterval(() => {
      if (auditLog.halted === undefined) {
        leases.runExclusive(CHECKPOINT_LEASE, Math.max(config.checkpointIntervalMs, 30_000), () => auditLog.checkpoint()).catch(report("periodic checkpoint"));
      }
    }, config.checkpointIntervalMs);
    timer.unref();
    timers.push(timer);
  }
  if (config.retentionDays > 0) {
    const timer = setInterval(() => {
      leases.runExclusive(RETENTION_LEASE, Math.max(config.pruneIntervalMs, 30_000), () => auditLog.prune()).catch(report("retention"));
    }, config.pruneIntervalMs);
    timer.unref();
    timers.push(timer);
  }
  let closed = false;
  return {
    context,
    bindings: auditServiceBindings(context),
    interceptors: [authenticationInterceptor(dependencies.authority), authorizationRequiredInterceptor(AUTHORIZATION_EXEMPT_METHODS)],
    async close() {
      if (closed) return;
      closed = true;
      for (const timer of timers) clearInterval(timer);
      // Cover what arrived since the last checkpoint, so a restart starts from a signed tree.
      if (auditLog.halted === undefined) await auditLog.checkpoint().catch(report("final checkpoint"));
      await auditLog.close();
      await signer.close();
      await store.close();
    },
  };
}

/** The log's store on this thread: PostgreSQL (schema migrated) when configured, else the SQLite file. */
async function openStore(config: AuditServiceConfig, log: Logger): Promise<AuditStore> {
  if (config.databaseUrl === undefined) return new SqliteAuditStore(openSqliteDatabase(config.databasePath));
  // Loaded only when used: the PostgreSQL client adds seconds to a SQLite deployment's start on a busy machine.
  const { openPostgresAuditStore } = await import("./store/postgres-audit-store.ts");
  const store = openPostgresAuditStore(config.databaseUrl, { schema: POSTGRES_SCHEMA, logger: log });
  try {
    await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** The log writer thread, at the configured lower priority (said once in the log). */
async function startLogWriterThread(config: AuditServiceConfig, log: Logger): Promise<WorkerLogWriter> {
  const database =
    config.databaseUrl === undefined ? ({ kind: "sqlite", path: config.databasePath } as const) : ({ kind: "postgres", url: config.databaseUrl, schema: POSTGRES_SCHEMA } as const);
  const writer = await WorkerLogWriter.start({ database, nice: config.writerNice });
  const priority = writer.priority;
  if (priority.applied) log.info("audit log writer thread runs at a lower priority than calls", { nice: priority.nice });
  else if (config.writerNice !== 0) log.warn("audit log writer thread runs at the same priority as calls", { reason: priority.reason });
  return writer;
}

// Streams the outbox to audit-service: reads the unacknowledged rows in order, sends them in
// batches with AuditIngestService.AppendEvents as this service (the transport carries its
// trusted identity), and deletes rows only up to the `acknowledged_through` it gets back. While
// audit-service is unreachable it retries with exponential backoff and the outbox grows. After
// a restart it resumes from the first row still in the file; the receiver skips what it already
// has (its high-water mark per source), so every event arrives exactly once, in order.
import { fromBinary } from "@bufbuild/protobuf";
import { createClient, type Client, type Transport } from "@connectrpc/connect";
import { AuditEventSchema, AuditIngestService, type AuditEvent } from "@keyhold/proto";
import { createSilentLogger, type Logger } from "@keyhold/server-kit";
import { RawAuditIngest } from "./ingest-wire.ts";
import type { Outbox, OutboxRow } from "./outbox.ts";

/** What the shipper needs of the outbox. */
export type ShippableOutbox = Pick<Outbox, "source" | "lastSequence" | "read" | "acknowledge" | "stats" | "whenAppended">;

export interface ShipperOptions {
  readonly outbox: ShippableOutbox;
  /** The way to audit-service's AuditIngestService, authenticated as this service. */
  readonly transport: Transport;
  /** Events per AppendEvents call (default 500). */
  readonly batchSize?: number;
  /**
   * How long to let events gather before reading a batch, after an idle wait ends and after
   * shipping a batch that was not full (default 250 ms): audit-service then commits many events
   * at once instead of a few per call, a lightly loaded service does not fsync its log (on the
   * same disk as the outbox) several times a second, and a busy one ships full batches instead
   * of whatever arrived during the last round trip. Events are durable in the outbox meanwhile.
   */
  readonly lingerMs?: number;
  /** First retry delay after a failure (default 200 ms); doubles per failure up to maxBackoffMs. */
  readonly initialBackoffMs?: number;
  /** Longest retry delay (default 30 s). */
  readonly maxBackoffMs?: number;
  /** Deadline of one AppendEvents call (default 10 s). */
  readonly requestTimeoutMs?: number;
  readonly logger?: Logger;
  /** Jitter source in [0, 1) (default Math.random). */
  readonly random?: () => number;
  /**
   * "passthrough" (default): send the stored event bytes as they are (no decode, no re-encode);
   * needs a binary transport: gRPC, gRPC-Web, Connect with useBinaryFormat, the in-memory router
   * transport. "messages": decode and send messages, for a Connect JSON transport.
   */
  readonly wire?: "passthrough" | "messages";
}

export interface ShipperMetrics {
  /** Events committed to the outbox and not yet acknowledged by audit-service. */
  readonly unshipped: number;
  /** Age of the oldest of them in milliseconds (0 when none). */
  readonly oldestAgeMs: number;
  /** The highest sequence audit-service acknowledged to this shipper. */
  readonly acknowledgedThrough: number;
  /** The highest sequence committed to the outbox. */
  readonly lastSequence: number;
  /** Events acknowledged since this shipper started. */
  readonly shippedEvents: number;
  /** AppendEvents calls that failed in a row (0 while audit-service answers). */
  readonly consecutiveFailures: number;
  /** The last failure's description (never event content). */
  readonly lastError: string | undefined;
}

export interface StopResult {
  /** True when every committed event was acknowledged before the deadline. */
  readonly flushed: boolean;
  /** Events left in the outbox for the next start. */
  readonly unshipped: number;
}

export class AuditShipper {
  private readonly outbox: ShippableOutbox;
  private readonly client: Client<typeof AuditIngestService>;
  private readonly rawClient: Client<typeof RawAuditIngest> | undefined;
  private readonly batchSize: number;
  private readonly lingerMs: number;
  private readonly initialBackoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly requestTimeoutMs: number;
  private readonly logger: Logger;
  private readonly random: () => number;
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private draining = false;
  private drainedAll = false;
  private cursor = 0;
  private shipped = 0;
  private failures = 0;
  private lastError: string | undefined;
  private wakeDrain: (() => void) | undefined;

  constructor(options: ShipperOptions) {
    this.outbox = options.outbox;
    this.client = createClient(AuditIngestService, options.transport);
    this.rawClient = (options.wire ?? "passthrough") === "passthrough" ? createClient(RawAuditIngest, options.transport) : undefined;
    this.batchSize = options.batchSize ?? 500;
    this.lingerMs = options.lingerMs ?? 250;
    this.initialBackoffMs = options.initialBackoffMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.logger = options.logger ?? createSilentLogger();
    this.random = options.random ?? Math.random;
  }

  /** Starts shipping in the background (once). */
  start(): void {
    if (this.running !== undefined) return;
    this.running = this.run().catch((error: unknown) => {
      this.logger.error("audit shipper stopped unexpectedly", { cause: error instanceof Error ? error.message : typeof error });
    });
  }

  /**
   * Ships what it can until everything committed is acknowledged or `deadlineMs` passes, then
   * stops. Stop the service's listeners first, so nothing new arrives while it drains.
   */
  async stop(deadlineMs = 5_000): Promise<StopResult> {
    if (this.running === undefined) this.start();
    this.draining = true;
    this.wakeDrain?.();
    const timer = setTimeout(() => this.abort.abort(), deadlineMs);
    try {
      await this.running;
    } finally {
      clearTimeout(timer);
      this.abort.abort();
    }
    const unshipped = await this.outbox.stats(this.cursor).then(
      (stats) => stats.pending,
      () => Math.max(0, this.outbox.lastSequence - this.cursor),
    );
    return { flushed: this.drainedAll, unshipped };
  }

  async metrics(): Promise<ShipperMetrics> {
    const stats = await this.outbox.stats(this.cursor);
    return {
      unshipped: stats.pending,
      oldestAgeMs: stats.oldestAppendedAt === undefined ? 0 : Math.max(0, Date.now() - stats.oldestAppendedAt),
      acknowledgedThrough: this.cursor,
      lastSequence: stats.lastSequence,
      shippedEvents: this.shipped,
      consecutiveFailures: this.failures,
      lastError: this.lastError,
    };
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      let batch: { rows: readonly OutboxRow[]; lastSequence: number };
      try {
        // The events come with their source and sequence already appended (by the writer thread).
        batch = await this.outbox.read(this.cursor, this.batchSize, { withSourceFields: true });
      } catch (error) {
        await this.failed("reading the outbox failed", error);
        continue;
      }
      if (batch.rows.length === 0) {
        if (this.draining) {
          this.drainedAll = true;
          return;
        }
        await this.idle(batch.lastSequence, signal);
        await this.linger(signal);
        continue;
      }
      try {
        await this.ship(batch.rows, signal);
      } catch (error) {
        if (signal.aborted) return;
        await this.failed("AppendEvents failed", error);
        continue;
      }
      // Less than a full batch was waiting: let the next one gather instead of shipping a few
      // events per round trip (which costs both sides per call and audit-service a commit each).
      if (batch.rows.length < this.batchSize) await this.linger(signal);
    }
  }

  private async ship(rows: readonly OutboxRow[], signal: AbortSignal): Promise<void> {
    const source = this.outbox.source;
    const options = { signal, timeoutMs: this.requestTimeoutMs };
    let response: { acknowledgedThrough: bigint };
    if (this.rawClient !== undefined) {
      response = await this.rawClient.appendEvents({ source, events: rows.map((row) => row.event) }, options);
    } else {
      const events: AuditEvent[] = rows.map((row) => fromBinary(AuditEventSchema, row.event));
      response = await this.client.appendEvents({ source, events }, options);
    }
    const first = rows[0]!.sequence;
    const last = rows[rows.length - 1]!.sequence;
    let acknowledged = Number(response.acknowledgedThrough);
    if (acknowledged > last) {
      // The receiver already has more of this source than this batch (its answers were lost
      // before a restart): only what was sent is deleted here; the rest follows and is skipped.
      this.logger.info("audit-service acknowledged beyond the batch", { source, acknowledged, last });
      acknowledged = last;
    }
    if (acknowledged < first) {
      if (acknowledged < this.cursor) {
        this.logger.error("audit-service acknowledged less than before", { source, acknowledged, previously: this.cursor });
      }
      throw new Error(`audit-service acknowledged through ${acknowledged}, none of ${first}..${last}`);
    }
    this.cursor = acknowledged;
    this.shipped += acknowledged - first + 1;
    this.failures = 0;
    this.lastError = undefined;
    // Deleting is housekeeping, not waited for (it rides with a later commit): if it fails the
    // rows stay, are sent again after a restart and are skipped by the receiver.
    void this.outbox.acknowledge(acknowledged).catch((error: unknown) => {
      this.logger.warn("deleting acknowledged audit events failed", { cause: describe(error) });
    });
  }

  private async failed(what: string, error: unknown): Promise<void> {
    this.failures += 1;
    this.lastError = describe(error);
    const ceiling = Math.min(this.maxBackoffMs, this.initialBackoffMs * 2 ** Math.min(this.failures - 1, 30));
    const delay = ceiling / 2 + (this.random() * ceiling) / 2;
    if (this.failures === 1 || this.failures % 10 === 0) {
      this.logger.warn(`audit shipping: ${what}, retrying`, { failures: this.failures, retryInMs: Math.round(delay), cause: this.lastError });
    }
    await sleep(delay, this.abort.signal);
  }

  /** Lets events gather for lingerMs; stop() ends the wait at once (draining ships right away). */
  private async linger(signal: AbortSignal): Promise<void> {
    if (this.draining || this.lingerMs <= 0) return;
    const local = new AbortController();
    const onAbort = () => local.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    this.wakeDrain = onAbort;
    try {
      await sleep(this.lingerMs, local.signal);
    } finally {
      this.wakeDrain = undefined;
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Waits for a new commit, or for stop() to start draining. */
  private async idle(lastSequence: number, signal: AbortSignal): Promise<void> {
    const local = new AbortController();
    const onAbort = () => local.abort();
    signal.addEventListener("abort", onAbort, { once: true });
    this.wakeDrain = onAbort;
    try {
      await this.outbox.whenAppended(lastSequence, local.signal);
    } finally {
      this.wakeDrain = undefined;
      signal.removeEventListener("abort", onAbort);
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : typeof error;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

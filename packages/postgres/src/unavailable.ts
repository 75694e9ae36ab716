// Which database failures mean "the database cannot be reached right now" rather than "this
// statement is wrong": refused, reset or timed-out connections, a pool that could not connect in
// time, a server shutting down or not yet accepting connections, a statement cancelled by the
// statement or lock timeout. Services answer those with UNAVAILABLE DATABASE_UNAVAILABLE (the client may
// retry, perhaps on another replica); everything else stays an internal error.
import { KeyholdError } from "@keyhold/server-kit";

/** The database cannot be reached; the edge maps it to UNAVAILABLE. The cause is logged, never sent. */
export class DatabaseUnavailableError extends KeyholdError {
  constructor(cause: unknown) {
    super("DATABASE_UNAVAILABLE", "database unavailable", { cause });
  }
}

/** Socket-level failures (Node's system error codes). */
const SYSTEM_CODES: ReadonlySet<string> = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "ETIMEDOUT",
  "EPIPE",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ENOTFOUND",
  "EAI_AGAIN",
]);

/** SQLSTATEs of an unreachable, overloaded or stopping server (besides class 08). */
const SQLSTATES: ReadonlySet<string> = new Set([
  "57P01", // admin_shutdown
  "57P02", // crash_shutdown
  "57P03", // cannot_connect_now (starting up, shutting down, in recovery)
  "57014", // query_canceled: the statement timeout fired
  "55P03", // lock_not_available: the lock timeout fired (a lock held by a stuck or slow replica)
  "53300", // too_many_connections
  "58030", // io_error
]);

/** What node-postgres says when it gives up on a connection (it sets no code on these). */
const MESSAGES: readonly RegExp[] = [
  /^timeout exceeded when trying to connect$/i, // pool: connectionTimeoutMillis
  /^Connection terminated/i, // unexpectedly, due to connection timeout, ...
  /^Query read timeout$/i, // query_timeout
  /not queryable/i, // a client whose connection already failed
  /^Client was closed and is not queryable$/i,
  /^Cannot use a pool after calling end on the pool$/i,
];

/** True when `error` (or what it wraps) means the database cannot be reached right now. */
export function isUnavailable(error: unknown): boolean {
  return unavailable(error, 0);
}

function unavailable(error: unknown, depth: number): boolean {
  if (depth > 4 || typeof error !== "object" || error === null) return false;
  if (error instanceof DatabaseUnavailableError) return true;
  if (error instanceof AggregateError && error.errors.some((inner) => unavailable(inner, depth + 1))) return true;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && (SYSTEM_CODES.has(code) || SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
  const message = (error as { message?: unknown }).message;
  if (typeof message === "string" && MESSAGES.some((pattern) => pattern.test(message))) return true;
  return unavailable((error as { cause?: unknown }).cause, depth + 1);
}

/** `error` as a DatabaseUnavailableError when it is one of the unavailable kinds, else unchanged. */
export function classifyDatabaseError(error: unknown): unknown {
  return !(error instanceof DatabaseUnavailableError) && isUnavailable(error) ? new DatabaseUnavailableError(error) : error;
}

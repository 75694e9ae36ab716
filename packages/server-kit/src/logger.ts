// JSON lines on stderr. Fields are caller-chosen and must never hold key material,
// plaintext, secret values, tokens or encryption context values.
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Readonly<Record<string, string | number | boolean | undefined>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface JsonLoggerOptions {
  readonly level?: LogLevel;
  readonly write?: (line: string) => void;
  readonly fields?: LogFields;
  readonly now?: () => Date;
  /**
   * Fields of the moment added to every line, e.g. the active span's trace_id and span_id
   * (Telemetry.logContext); absent, nothing is asked per line.
   */
  readonly context?: (() => LogFields | undefined) | undefined;
}

export function createJsonLogger(options: JsonLoggerOptions = {}): Logger {
  const threshold = LEVELS[options.level ?? "info"];
  const write = options.write ?? ((line: string) => process.stderr.write(line + "\n"));
  const base = options.fields ?? {};
  const now = options.now ?? (() => new Date());
  const context = options.context;
  const log = (level: LogLevel, message: string, fields?: LogFields) => {
    if (LEVELS[level] < threshold) return;
    const current = context === undefined ? undefined : context();
    write(JSON.stringify({ time: now().toISOString(), level, msg: message, ...base, ...current, ...fields }));
  };
  return {
    debug: (m, f) => log("debug", m, f),
    info: (m, f) => log("info", m, f),
    warn: (m, f) => log("warn", m, f),
    error: (m, f) => log("error", m, f),
    child: (fields) => createJsonLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

/** A logger that drops everything (tests that do not look at logs). */
export function createSilentLogger(): Logger {
  const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silent };
  return silent;
}

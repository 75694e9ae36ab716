// PostgreSQL database secrets, rotated fully by secrets-service, in AWS Secrets Manager's two
// strategies. The value is JSON, as AWS's: {"engine": "postgres", "host", "port", "dbname",
// "username", "password"} and, for alternating users, "masterSecretId": the name or krn of a
// secret (same account) whose CURRENT value holds a superuser's credentials for the same host.
//
//   single user      set: ALTER ROLE <username> PASSWORD <new>, logged in as that user (with the
//                    current password, or already the new one on a retry). The old password stops
//                    working at once.
//   alternating      create: the other of <base> and <base>_clone with a new password; set: as the
//   users            master, CREATE ROLE <clone> LOGIN ... and GRANT <base> TO <clone> on the first
//                    rotation, ALTER ROLE ... PASSWORD afterwards. The role CURRENT named keeps its
//                    password, so connections made with it (and new ones) keep working through the
//                    rotation, until the rotation after next changes that role.
//   test             log in with the PENDING value and run SELECT 1.
// The master's credentials are only ever sent to the master secret's own host and port.
import { KeyholdError } from "@keyhold/server-kit";
import type { SecretsServiceConfig } from "../../config.ts";
import type { SecretRecord } from "../../store/records.ts";
import type { SecretStore } from "../../store/secret-store.ts";
import { VALUE_KINDS } from "../../store/records.ts";
import { accountRoot } from "../key-peer.ts";
import { CURRENT, versionWith } from "../labels.ts";
import { parseSecretRef } from "../names.ts";
import { randomPassword } from "../password.ts";
import type { SecretValue } from "../values.ts";
import { openVersion, type VersionDeps } from "../versions.ts";
import type { ManagedRotation } from "./managed-steps.ts";

export interface PostgresCredentials {
  readonly host: string;
  readonly port: number;
  readonly dbname: string;
  readonly username: string;
  readonly password: string;
}

export interface PostgresValue extends PostgresCredentials {
  /** The whole JSON object (other fields are kept as they are). */
  readonly fields: Readonly<Record<string, unknown>>;
  readonly masterSecretId: string | undefined;
}

/** One database session. */
export interface PostgresSession {
  query(sql: string): Promise<void>;
  /** The number of rows a query returns. */
  count(sql: string): Promise<number>;
  end(): Promise<void>;
}

/** Opens sessions (the pg driver in production; injected in tests only to count or fail). */
export type PostgresConnector = (credentials: PostgresCredentials, signal: AbortSignal) => Promise<PostgresSession>;

/** SQL quoting: identifiers in double quotes, literals in single quotes (standard_conforming_strings). */
export function quoteIdentifier(value: string): string {
  return `"${value.replaceAll('"', '""')}"`;
}

export function quoteLiteral(value: string): string {
  if (value.includes("\0")) throw new KeyholdError("ROTATION_FAILED", "a value holds a NUL character");
  // E'' with backslashes doubled works whatever standard_conforming_strings is.
  return `E'${value.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

const CLONE_SUFFIX = "_clone";
const MAX_ROLE_NAME = 63;
/** Characters AWS's templates keep out of generated database passwords. */
const PASSWORD_EXCLUDED = "/@\"'\\";

export function parsePostgresValue(value: SecretValue, what: string): PostgresValue {
  let fields: Record<string, unknown>;
  try {
    fields = JSON.parse(value.bytes.toString("utf8")) as Record<string, unknown>;
  } catch {
    throw new KeyholdError("ROTATION_FAILED", `${what} is not JSON`);
  }
  if (typeof fields !== "object" || fields === null || Array.isArray(fields)) throw new KeyholdError("ROTATION_FAILED", `${what} is not a JSON object`);
  const text = (name: string, required = true): string => {
    const v = fields[name];
    if (typeof v === "string" && v !== "") return v;
    if (!required && v === undefined) return "";
    throw new KeyholdError("ROTATION_FAILED", `${what} needs a non-empty string "${name}"`);
  };
  if (fields["engine"] !== undefined && fields["engine"] !== "postgres") throw new KeyholdError("ROTATION_FAILED", `${what}: engine must be "postgres"`);
  const rawPort = fields["port"] ?? 5432;
  const port = typeof rawPort === "string" ? Number(rawPort) : rawPort;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) throw new KeyholdError("ROTATION_FAILED", `${what}: port must be 1-65535`);
  const username = text("username");
  if (username.length > MAX_ROLE_NAME) throw new KeyholdError("ROTATION_FAILED", `${what}: username is longer than ${MAX_ROLE_NAME} characters`);
  const master = text("masterSecretId", false);
  return {
    host: text("host"),
    port,
    dbname: text("dbname", false) || "postgres",
    username,
    password: text("password"),
    fields,
    masterSecretId: master === "" ? undefined : master,
  };
}

function toValue(fields: Readonly<Record<string, unknown>>): SecretValue {
  return { kind: VALUE_KINDS.string, bytes: Buffer.from(JSON.stringify(fields), "utf8") };
}

function baseName(username: string): string {
  return username.endsWith(CLONE_SUFFIX) ? username.slice(0, -CLONE_SUFFIX.length) : username;
}

export interface PostgresRotationDeps extends VersionDeps {
  readonly connect: PostgresConnector;
  readonly config: SecretsServiceConfig;
  readonly store: SecretStore;
}

export class PostgresRotation implements ManagedRotation {
  private readonly deps: PostgresRotationDeps;

  constructor(deps: PostgresRotationDeps) {
    this.deps = deps;
  }

  async create(_secret: SecretRecord, current: SecretValue): Promise<SecretValue> {
    const value = parsePostgresValue(current, "the CURRENT value");
    const password = randomPassword({
      length: 32,
      excludeCharacters: PASSWORD_EXCLUDED,
      excludeNumbers: false,
      excludePunctuation: false,
      excludeUppercase: false,
      excludeLowercase: false,
      includeSpace: false,
      requireEachIncludedType: true,
    });
    let username = value.username;
    if (value.masterSecretId !== undefined) {
      const base = baseName(value.username);
      username = value.username.endsWith(CLONE_SUFFIX) ? base : `${base}${CLONE_SUFFIX}`;
      if (username.length > MAX_ROLE_NAME) throw new KeyholdError("ROTATION_FAILED", `the alternate role name ${username} is too long`);
    }
    return toValue({ ...value.fields, username, password });
  }

  async set(secret: SecretRecord, pendingValue: SecretValue, currentValue: SecretValue, signal: AbortSignal): Promise<void> {
    const pending = parsePostgresValue(pendingValue, "the PENDING value");
    const current = parsePostgresValue(currentValue, "the CURRENT value");
    if (pending.host !== current.host || pending.port !== current.port) {
      throw new KeyholdError("ROTATION_FAILED", "the PENDING value names another database server than CURRENT");
    }
    // Already set (a retried rotation)?
    if (await this.canLogIn(pending, signal)) return;
    if (pending.masterSecretId === undefined) {
      const session = await this.deps.connect(current, signal);
      try {
        await session.query(`ALTER ROLE ${quoteIdentifier(pending.username)} WITH PASSWORD ${quoteLiteral(pending.password)}`);
      } finally {
        await session.end();
      }
      return;
    }
    const master = await this.master(secret, pending.masterSecretId);
    if (master.host !== pending.host || master.port !== pending.port) {
      throw new KeyholdError("ROTATION_FAILED", "the master secret is for another database server than this secret");
    }
    if (baseName(pending.username) !== baseName(current.username)) {
      throw new KeyholdError("ROTATION_FAILED", "the PENDING role is not the alternate of the CURRENT role");
    }
    const session = await this.deps.connect({ ...master, dbname: pending.dbname }, signal);
    try {
      const role = quoteIdentifier(pending.username);
      const exists = await session.count(`SELECT 1 FROM pg_roles WHERE rolname = ${quoteLiteral(pending.username)}`);
      if (exists === 0) {
        await session.query(`CREATE ROLE ${role} WITH LOGIN PASSWORD ${quoteLiteral(pending.password)}`);
        // The clone gets what the base role has (as AWS's alternating-users template).
        await session.query(`GRANT ${quoteIdentifier(current.username)} TO ${role}`);
      } else {
        await session.query(`ALTER ROLE ${role} WITH LOGIN PASSWORD ${quoteLiteral(pending.password)}`);
      }
    } finally {
      await session.end();
    }
  }

  async test(_secret: SecretRecord, pendingValue: SecretValue, signal: AbortSignal): Promise<void> {
    const pending = parsePostgresValue(pendingValue, "the PENDING value");
    const session = await this.deps.connect(pending, signal).catch((error: unknown) => {
      throw new KeyholdError("ROTATION_FAILED", "the PENDING credentials do not log in", { cause: error });
    });
    try {
      await session.query("SELECT 1");
    } finally {
      await session.end();
    }
  }

  async finished(): Promise<void> {
    // Nothing to retire: single-user's old password is gone; alternating users keep the old role
    // usable until the rotation after next.
  }

  private async canLogIn(credentials: PostgresCredentials, signal: AbortSignal): Promise<boolean> {
    try {
      const session = await this.deps.connect(credentials, signal);
      await session.end();
      return true;
    } catch {
      return false;
    }
  }

  /** The master secret's CURRENT credentials (same account). */
  private async master(secret: SecretRecord, masterSecretId: string): Promise<PostgresValue> {
    const ref = parseSecretRef(masterSecretId, "masterSecretId");
    if ((ref.accountId !== undefined && ref.accountId !== secret.accountId) || (ref.region !== undefined && ref.region !== this.deps.config.region)) {
      throw new KeyholdError("ROTATION_FAILED", "the master secret must be in the same account and region");
    }
    const master = await this.deps.store.getSecret(secret.accountId, ref.name);
    if (master === undefined || master.deletionDate !== undefined) throw new KeyholdError("ROTATION_FAILED", "the master secret does not exist");
    const currentId = versionWith(await this.deps.store.labels(master.secretId), CURRENT);
    const version = currentId === undefined ? undefined : await this.deps.store.getVersion(master.secretId, currentId);
    if (version === undefined) throw new KeyholdError("ROTATION_FAILED", "the master secret has no value");
    const value = await openVersion(this.deps, accountRoot(secret.accountId), master, version, "secret_id");
    try {
      return parsePostgresValue(value, "the master secret");
    } finally {
      value.bytes.fill(0);
    }
  }
}

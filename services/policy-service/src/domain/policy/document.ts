// Policy documents: parse and validate the JSON policy language (identity policies, key
// policies, role trust policies) and compile it once into the form `evaluate` walks.
//
//   {"Version": "2012-10-17", "Statement": [{"Sid": "...", "Effect": "Allow" | "Deny",
//     "Action" | "NotAction": ..., "Resource" | "NotResource": ..., "Principal": ...,
//     "Condition": {"<Operator>": {"<key>": value | [values]}}}]}
//
// Anything unknown or malformed is refused with a PolicyValidationError naming the field by
// its path (`Statement[2].Condition.IpAddress.keyhold:SourceIp[1]`) and the statement by index
// and Sid. Stricter than AWS where AWS is ambiguous or unsafe: duplicate JSON keys are refused
// (parsers disagree on which one wins); set prefixes (ForAllValues:/ForAnyValue:) are required on
// multi-valued keys and refused on single-valued ones; an operator must suit its key's type;
// date-times need a time zone; wildcard matching never uses a RegExp (see glob.ts).
import { compilePatternSet, type PatternSet } from "./glob.ts";
import { parseCidr, type CidrBlock } from "./ip.ts";

export type PolicyKind = "identity" | "resource" | "trust";
export type PolicyEffect = "Allow" | "Deny";

/** Largest accepted document, in UTF-8 bytes, whitespace included. */
export const MAX_POLICY_DOCUMENT_BYTES = 32 * 1024;
const MAX_NESTING = 16;
const MAX_PATTERN_LENGTH = 2048;
const MAX_SID_LENGTH = 128;

export class PolicyValidationError extends Error {
  override readonly name = "PolicyValidationError";
  /** Index of the offending statement, when the problem is inside one. */
  readonly statementIndex: number | undefined;
  /** Path of the offending field, e.g. `Statement[2].Condition.IpAddress.keyhold:SourceIp`. */
  readonly field: string;

  constructor(field: string, statementIndex: number | undefined, message: string) {
    super(message);
    this.field = field;
    this.statementIndex = statementIndex;
  }
}

// ---------------------------------------------------------------------------------------------
// Compiled form

/** Bits of PolicyStatement.dependsOn / evaluation state: request attributes a condition reads. */
export const DEPENDS_ON_ENCRYPTION_CONTEXT = 1;
export const DEPENDS_ON_SOURCE_IP = 2;
export const DEPENDS_ON_TIME = 4;

export type ConditionKeyId =
  | "encryptionContext"
  | "encryptionContextKeys"
  | "callerAccount"
  | "viaService"
  | "sourceIp"
  | "currentTime"
  | "principalKrn"
  | "principalAccount"
  | "principalType"
  | "secureTransport";

export type SetQualifier = "none" | "forAllValues" | "forAnyValue";

interface ConditionBase {
  /** As written, e.g. `ForAnyValue:StringLikeIfExists`. */
  readonly operator: string;
  readonly key: ConditionKeyId;
  /** The `<k>` of `kms:EncryptionContext:<k>` (case-sensitive); "" for other keys. */
  readonly contextKey: string;
  /** Set qualifier; only multi-valued keys have one (and they always do). */
  readonly set: SetQualifier;
  readonly ifExists: boolean;
}

export interface StringCondition extends ConditionBase {
  readonly kind: "string";
  readonly mode: "equals" | "equalsIgnoreCase" | "like";
  /** StringNotEquals / StringNotLike. */
  readonly negated: boolean;
  /** Values for equals (as written) and equalsIgnoreCase (lower-cased). */
  readonly exact: ReadonlySet<string>;
  /** Patterns for like. */
  readonly like: PatternSet | undefined;
}

export interface IpCondition extends ConditionBase {
  readonly kind: "ip";
  /** NotIpAddress. */
  readonly negated: boolean;
  readonly blocks: readonly CidrBlock[];
}

export interface DateCondition extends ConditionBase {
  readonly kind: "date";
  readonly comparison: "lt" | "gt" | "le" | "ge";
  /** Epoch milliseconds. */
  readonly times: readonly number[];
}

export interface BoolCondition extends ConditionBase {
  readonly kind: "bool";
  readonly matchTrue: boolean;
  readonly matchFalse: boolean;
}

export interface NullCondition extends ConditionBase {
  readonly kind: "null";
  /** A value `true` was given: holds when the key is missing. */
  readonly whenMissing: boolean;
  /** A value `false` was given: holds when the key is present. */
  readonly whenPresent: boolean;
}

export type CompiledCondition = StringCondition | IpCondition | DateCondition | BoolCondition | NullCondition;

export interface PrincipalSet {
  /** "*" (or {"KRN": "*"}): anyone. */
  readonly any: boolean;
  /** Principal krns, account ids already expanded to `krn:keyhold:iam::<account>:root`. */
  readonly krns: ReadonlySet<string>;
  /** Accounts whose root krn is named (delegation to another account's principals). */
  readonly rootAccounts: ReadonlySet<string>;
}

export interface PolicyStatement {
  readonly index: number;
  readonly sid: string | undefined;
  readonly effect: PolicyEffect;
  /** Action (or NotAction, when actionNegated) patterns, lower-cased. */
  readonly action: PatternSet;
  readonly actionNegated: boolean;
  /** Resource or NotResource patterns; undefined in trust policies (the role itself). */
  readonly resource: PatternSet | undefined;
  readonly resourceNegated: boolean;
  /** Present in resource and trust policies only. */
  readonly principal: PrincipalSet | undefined;
  /** All must hold. */
  readonly conditions: readonly CompiledCondition[];
  /** DEPENDS_ON_* bits of the request attributes the conditions read. */
  readonly dependsOn: number;
}

export interface PolicyDocument {
  readonly kind: PolicyKind;
  readonly version: "2012-10-17" | "1";
  readonly id: string | undefined;
  readonly statements: readonly PolicyStatement[];
}

// ---------------------------------------------------------------------------------------------
// Errors

interface StatementScope {
  readonly index: number | undefined;
  sid: string | undefined;
}

const DOCUMENT_SCOPE: StatementScope = { index: undefined, sid: undefined };

function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

function fail(scope: StatementScope, field: string, detail: string): never {
  let where = "";
  if (scope.index !== undefined) {
    where = scope.sid === undefined ? ` (statement ${scope.index})` : ` (statement ${scope.index}, Sid ${show(scope.sid)})`;
  }
  throw new PolicyValidationError(field, scope.index, `${field}: ${detail}${where}`);
}

// ---------------------------------------------------------------------------------------------
// JSON

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

function statementIndexOfPath(path: string): number | undefined {
  const m = /^Statement(?:\[(\d+)\])?(?=[.[])/.exec(path);
  if (m === null) return undefined;
  return m[1] === undefined ? 0 : Number(m[1]);
}

/**
 * Walks text that JSON.parse has accepted and refuses an object with the same key twice
 * (after unescaping), and nesting deeper than any policy needs.
 */
function checkKeysAndDepth(text: string): void {
  let i = 0;
  const skipWhitespace = (): void => {
    while (i < text.length) {
      const c = text.charCodeAt(i);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      i++;
    }
  };
  const readString = (): string => {
    const start = i;
    i++;
    while (text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const scopeOf = (path: string): StatementScope => ({ index: statementIndexOfPath(path), sid: undefined });
  const value = (path: string, depth: number): void => {
    skipWhitespace();
    const c = text.charCodeAt(i);
    if (c === 0x7b || c === 0x5b) {
      if (depth >= MAX_NESTING) fail(scopeOf(path), path === "" ? "document" : path, `nests deeper than ${MAX_NESTING} levels`);
      i++;
      skipWhitespace();
      const close = c === 0x7b ? 0x7d : 0x5d;
      if (text.charCodeAt(i) === close) {
        i++;
        return;
      }
      const keys = c === 0x7b ? new Set<string>() : undefined;
      for (let index = 0; ; index++) {
        skipWhitespace();
        let child: string;
        if (keys !== undefined) {
          const key = readString();
          child = path === "" ? key : `${path}.${key}`;
          if (keys.has(key)) fail(scopeOf(child), child, `the key ${show(key)} appears more than once in the same object`);
          keys.add(key);
          skipWhitespace();
          i++; // ':'
        } else {
          child = `${path}[${index}]`;
        }
        value(child, depth + 1);
        skipWhitespace();
        const next = text.charCodeAt(i);
        i++;
        if (next !== 0x2c) return; // ',' continues; '}' or ']' ends
      }
    }
    if (c === 0x22) {
      readString();
      return;
    }
    while (i < text.length) {
      const d = text.charCodeAt(i);
      if (d === 0x2c || d === 0x7d || d === 0x5d || d === 0x20 || d === 0x09 || d === 0x0a || d === 0x0d) return;
      i++;
    }
  };
  value("", 0);
}

// ---------------------------------------------------------------------------------------------
// Names and values

const ACTION = /^([A-Za-z0-9-]+):([A-Za-z0-9*?]+)$/;
const RESOURCE_HEAD = /^krn:([A-Za-z0-9*?-]+):([A-Za-z0-9*?-]+):([A-Za-z0-9*?-]*):([0-9*?]*):([\x21-\x7e]+)$/;
const ACCOUNT_ID = /^[0-9]{12}$/;
const PRINCIPAL_NAME = "[A-Za-z0-9+=,.@_-]+(?:/[A-Za-z0-9+=,.@_-]+)*";
const PRINCIPAL_KRN = new RegExp(`^krn:keyhold:iam::([0-9]{12}):(?:root|(?:user|role)/${PRINCIPAL_NAME})$`);
const ISO_DATE =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|([+-])(\d{2}):(\d{2})))?$/;

export function rootKrn(accountId: string): string {
  return `krn:keyhold:iam::${accountId}:root`;
}

/** Parses an ISO 8601 date (`2025-01-31`, UTC) or date-time with a zone; epoch ms or undefined. */
export function parseIsoDate(text: string): number | undefined {
  const m = ISO_DATE.exec(text);
  if (m === null) return undefined;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  const millis = m[7] === undefined ? 0 : Number(m[7].padEnd(3, "0").slice(0, 3));
  if (year < 1000 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return undefined;
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const offsetHours = Number(m[10]);
    const offsetMins = Number(m[11]);
    if (offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = (m[9] === "-" ? -1 : 1) * (offsetHours * 60 + offsetMins);
  }
  return Date.UTC(year, month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000;
}

// ---------------------------------------------------------------------------------------------
// Operators and condition keys

type OperatorFamily = "string" | "ip" | "date" | "bool" | "null";

interface OperatorSpec {
  readonly family: OperatorFamily;
  readonly negated: boolean;
  readonly mode: "equals" | "equalsIgnoreCase" | "like";
  readonly comparison: "lt" | "gt" | "le" | "ge";
}

function op(family: OperatorFamily, extra: Partial<OperatorSpec> = {}): OperatorSpec {
  return { family, negated: false, mode: "equals", comparison: "lt", ...extra };
}

const OPERATORS: ReadonlyMap<string, OperatorSpec> = new Map([
  ["StringEquals", op("string")],
  ["StringNotEquals", op("string", { negated: true })],
  ["StringEqualsIgnoreCase", op("string", { mode: "equalsIgnoreCase" })],
  ["StringLike", op("string", { mode: "like" })],
  ["StringNotLike", op("string", { mode: "like", negated: true })],
  ["IpAddress", op("ip")],
  ["NotIpAddress", op("ip", { negated: true })],
  ["Bool", op("bool")],
  ["DateLessThan", op("date", { comparison: "lt" })],
  ["DateGreaterThan", op("date", { comparison: "gt" })],
  ["DateLessThanEquals", op("date", { comparison: "le" })],
  ["DateGreaterThanEquals", op("date", { comparison: "ge" })],
  ["Null", op("null")],
]);

type KeyType = "string" | "ip" | "date" | "bool";

interface KeySpec {
  readonly id: ConditionKeyId;
  readonly canonical: string;
  readonly type: KeyType;
  readonly multiValued: boolean;
  readonly dependsOn: number;
}

function keySpec(id: ConditionKeyId, canonical: string, type: KeyType, dependsOn = 0, multiValued = false): KeySpec {
  return { id, canonical, type, multiValued, dependsOn };
}

const ENCRYPTION_CONTEXT_PREFIX = "kms:encryptioncontext:";
const ENCRYPTION_CONTEXT_KEY = keySpec("encryptionContext", "kms:EncryptionContext:<key>", "string", DEPENDS_ON_ENCRYPTION_CONTEXT);

/** Condition keys by lower-cased name (names are case-insensitive). */
const CONDITION_KEYS: ReadonlyMap<string, KeySpec> = new Map([
  ["kms:encryptioncontextkeys", keySpec("encryptionContextKeys", "kms:EncryptionContextKeys", "string", DEPENDS_ON_ENCRYPTION_CONTEXT, true)],
  ["kms:calleraccount", keySpec("callerAccount", "kms:CallerAccount", "string")],
  ["kms:viaservice", keySpec("viaService", "kms:ViaService", "string")],
  ["keyhold:sourceip", keySpec("sourceIp", "keyhold:SourceIp", "ip", DEPENDS_ON_SOURCE_IP)],
  ["keyhold:currenttime", keySpec("currentTime", "keyhold:CurrentTime", "date", DEPENDS_ON_TIME)],
  ["keyhold:principalkrn", keySpec("principalKrn", "keyhold:PrincipalKrn", "string")],
  ["keyhold:principalaccount", keySpec("principalAccount", "keyhold:PrincipalAccount", "string")],
  ["keyhold:principaltype", keySpec("principalType", "keyhold:PrincipalType", "string")],
  ["keyhold:securetransport", keySpec("secureTransport", "keyhold:SecureTransport", "bool")],
]);

const FAMILY_DESCRIPTION: Record<KeyType, string> = {
  string: "String operators (StringEquals, StringLike, ...) or Null",
  ip: "IpAddress, NotIpAddress or Null",
  date: "Date operators (DateLessThan, ...) or Null",
  bool: "Bool or Null",
};

interface ParsedOperator {
  readonly spec: OperatorSpec;
  readonly set: SetQualifier;
  readonly ifExists: boolean;
}

function parseOperator(name: string, scope: StatementScope, field: string): ParsedOperator {
  let rest = name;
  let set: SetQualifier = "none";
  if (rest.startsWith("ForAllValues:")) {
    set = "forAllValues";
    rest = rest.slice("ForAllValues:".length);
  } else if (rest.startsWith("ForAnyValue:")) {
    set = "forAnyValue";
    rest = rest.slice("ForAnyValue:".length);
  }
  let ifExists = false;
  if (rest.endsWith("IfExists")) {
    ifExists = true;
    rest = rest.slice(0, -"IfExists".length);
  }
  const spec = OPERATORS.get(rest);
  if (spec === undefined) {
    fail(scope, field, `unknown condition operator ${show(name)} (operators are case-sensitive: ${[...OPERATORS.keys()].join(", ")}; optional suffix IfExists; prefix ForAllValues: or ForAnyValue: for multi-valued keys)`);
  }
  if (spec.family === "null" && (ifExists || set !== "none")) {
    fail(scope, field, "the Null operator takes neither IfExists nor a ForAllValues:/ForAnyValue: prefix");
  }
  return { spec, set, ifExists };
}

function parseConditionKey(name: string, scope: StatementScope, field: string): { spec: KeySpec; contextKey: string } {
  const lower = name.toLowerCase();
  if (lower.startsWith(ENCRYPTION_CONTEXT_PREFIX)) {
    const contextKey = name.slice(ENCRYPTION_CONTEXT_PREFIX.length);
    if (contextKey === "") fail(scope, field, "kms:EncryptionContext: needs an encryption context key after the colon");
    return { spec: ENCRYPTION_CONTEXT_KEY, contextKey };
  }
  const spec = CONDITION_KEYS.get(lower);
  if (spec === undefined) {
    const known = [ENCRYPTION_CONTEXT_KEY.canonical, ...[...CONDITION_KEYS.values()].map((k) => k.canonical)].join(", ");
    fail(scope, field, `unknown condition key ${show(name)} (known keys: ${known})`);
  }
  return { spec, contextKey: "" };
}

function parseBoolValue(value: unknown): boolean | undefined {
  if (value === true || value === "true") return true;
  if (value === false || value === "false") return false;
  return undefined;
}

function compileCondition(
  operatorName: string,
  operator: ParsedOperator,
  keyName: string,
  rawValue: unknown,
  scope: StatementScope,
  field: string,
): { condition: CompiledCondition; dependsOn: number } {
  const { spec: key, contextKey } = parseConditionKey(keyName, scope, field);
  const { spec, set, ifExists } = operator;
  if (spec.family !== "null") {
    if (key.multiValued && set === "none") {
      fail(scope, field, `${key.canonical} is multi-valued: write ForAllValues:${operatorName} or ForAnyValue:${operatorName}`);
    }
    if (!key.multiValued && set !== "none") {
      fail(scope, field, `${key.canonical} is single-valued: ForAllValues:/ForAnyValue: apply only to multi-valued keys`);
    }
    if (spec.family !== key.type) {
      fail(scope, field, `operator ${operatorName} does not apply to ${key.canonical}, which takes ${FAMILY_DESCRIPTION[key.type]}`);
    }
  }
  let values: readonly unknown[];
  let indexed: boolean;
  if (Array.isArray(rawValue)) {
    if (rawValue.length === 0) fail(scope, field, "must have at least one value");
    values = rawValue;
    indexed = true;
  } else {
    values = [rawValue];
    indexed = false;
  }
  const at = (i: number): string => (indexed ? `${field}[${i}]` : field);
  const base = { operator: operatorName, key: key.id, contextKey, set, ifExists };
  const dependsOn = key.dependsOn;
  switch (spec.family) {
    case "string": {
      const strings: string[] = [];
      values.forEach((v, i) => {
        if (typeof v !== "string") fail(scope, at(i), `${operatorName} takes strings, got ${show(v)}`);
        strings.push(spec.mode === "equalsIgnoreCase" ? v.toLowerCase() : v);
      });
      const condition: StringCondition = {
        ...base,
        kind: "string",
        mode: spec.mode,
        negated: spec.negated,
        exact: spec.mode === "like" ? new Set() : new Set(strings),
        like: spec.mode === "like" ? compilePatternSet(strings) : undefined,
      };
      return { condition, dependsOn };
    }
    case "ip": {
      const blocks = values.map((v, i) => {
        const cidr = typeof v === "string" ? parseCidr(v) : undefined;
        if (cidr === undefined) fail(scope, at(i), `${operatorName} takes IPv4 or IPv6 addresses or CIDR blocks (e.g. 203.0.113.0/24, 2001:db8::/32), got ${show(v)}`);
        return cidr;
      });
      return { condition: { ...base, kind: "ip", negated: spec.negated, blocks }, dependsOn };
    }
    case "date": {
      const times = values.map((v, i) => {
        const time = typeof v === "string" ? parseIsoDate(v) : undefined;
        if (time === undefined) fail(scope, at(i), `${operatorName} takes ISO 8601 dates (2025-01-31) or date-times with a zone (2025-01-31T12:00:00Z), got ${show(v)}`);
        return time;
      });
      return { condition: { ...base, kind: "date", comparison: spec.comparison, times }, dependsOn };
    }
    case "bool":
    case "null": {
      let matchTrue = false;
      let matchFalse = false;
      values.forEach((v, i) => {
        const b = parseBoolValue(v);
        if (b === undefined) fail(scope, at(i), `${operatorName} takes true or false (or "true" / "false"), got ${show(v)}`);
        if (b) matchTrue = true;
        else matchFalse = true;
      });
      const condition: CompiledCondition =
        spec.family === "bool"
          ? { ...base, kind: "bool", matchTrue, matchFalse }
          : { ...base, kind: "null", whenMissing: matchTrue, whenPresent: matchFalse };
      // Null reads only whether the key is present, which for these keys is still the attribute.
      return { condition, dependsOn };
    }
  }
}

function compileConditions(raw: unknown, scope: StatementScope, path: string): { conditions: CompiledCondition[]; dependsOn: number } {
  if (!isObject(raw)) fail(scope, path, `must be an object of {"<Operator>": {"<key>": value | [values]}}, got ${show(raw)}`);
  const conditions: CompiledCondition[] = [];
  let dependsOn = 0;
  for (const operatorName of Object.keys(raw)) {
    const operatorPath = `${path}.${operatorName}`;
    const operator = parseOperator(operatorName, scope, operatorPath);
    const body = raw[operatorName];
    if (!isObject(body)) fail(scope, operatorPath, `must be an object of {"<key>": value | [values]}, got ${show(body)}`);
    const keyNames = Object.keys(body);
    if (keyNames.length === 0) fail(scope, operatorPath, "must name at least one condition key");
    for (const keyName of keyNames) {
      const compiled = compileCondition(operatorName, operator, keyName, body[keyName], scope, `${operatorPath}.${keyName}`);
      conditions.push(compiled.condition);
      dependsOn |= compiled.dependsOn;
    }
  }
  return { conditions, dependsOn };
}

// ---------------------------------------------------------------------------------------------
// Statement fields

function stringList(raw: unknown, scope: StatementScope, field: string, what: string): { values: string[]; fieldOf: (i: number) => string } {
  if (typeof raw === "string") return { values: [raw], fieldOf: () => field };
  if (Array.isArray(raw)) {
    if (raw.length === 0) fail(scope, field, `must not be an empty list`);
    raw.forEach((v, i) => {
      if (typeof v !== "string") fail(scope, `${field}[${i}]`, `must be a string (${what}), got ${show(v)}`);
    });
    return { values: raw as string[], fieldOf: (i) => `${field}[${i}]` };
  }
  return fail(scope, field, `must be a string or a non-empty list of strings (${what}), got ${show(raw)}`);
}

function compileActions(raw: unknown, kind: PolicyKind, scope: StatementScope, field: string): PatternSet {
  const { values, fieldOf } = stringList(raw, scope, field, "actions");
  const actions = values.map((value, i) => {
    if (value === "*") {
      if (kind === "trust") fail(scope, fieldOf(i), `trust policies allow only sts: actions (e.g. "sts:AssumeRole"), got "*"`);
      return value;
    }
    const m = ACTION.exec(value);
    if (m === null) {
      fail(scope, fieldOf(i), `must be "*" or "<service>:<action>" (letters and digits, wildcards * and ?), got ${show(value)}`);
    }
    if (kind === "trust" && (m[1] as string).toLowerCase() !== "sts") {
      fail(scope, fieldOf(i), `trust policies allow only sts: actions (e.g. "sts:AssumeRole"), got ${show(value)}`);
    }
    return value.toLowerCase();
  });
  return compilePatternSet(actions);
}

function compileResources(raw: unknown, scope: StatementScope, field: string): PatternSet {
  const { values, fieldOf } = stringList(raw, scope, field, "resource krns");
  values.forEach((value, i) => {
    if (value === "*") return;
    if (value.length > MAX_PATTERN_LENGTH || !RESOURCE_HEAD.test(value)) {
      fail(scope, fieldOf(i), `must be "*" or a krn pattern krn:<partition>:<service>:<region>:<account>:<resource> (wildcards * and ?), got ${show(value)}`);
    }
  });
  return compilePatternSet(values);
}

function compilePrincipal(raw: unknown, scope: StatementScope, field: string): PrincipalSet {
  if (raw === "*") return { any: true, krns: new Set(), rootAccounts: new Set() };
  if (!isObject(raw)) fail(scope, field, `must be "*" or {"KRN": "<principal krn>" | ["<principal krn>", ...]}, got ${show(raw)}`);
  for (const key of Object.keys(raw)) {
    if (key !== "KRN") fail(scope, `${field}.${key}`, `unknown principal type ${show(key)}: only "KRN" is supported`);
  }
  if (!Object.hasOwn(raw, "KRN")) fail(scope, `${field}.KRN`, "is required");
  const { values, fieldOf } = stringList(raw.KRN, scope, `${field}.KRN`, "principal krns");
  let any = false;
  const krns = new Set<string>();
  const rootAccounts = new Set<string>();
  values.forEach((value, i) => {
    if (value === "*") {
      any = true;
      return;
    }
    if (ACCOUNT_ID.test(value)) {
      krns.add(rootKrn(value));
      rootAccounts.add(value);
      return;
    }
    const m = PRINCIPAL_KRN.exec(value);
    if (m === null || value.length > MAX_PATTERN_LENGTH) {
      fail(scope, fieldOf(i), `must be "*", a 12-digit account id or a principal krn krn:keyhold:iam::<account>:root | user/<name> | role/<name> (no wildcards), got ${show(value)}`);
    }
    krns.add(value);
    if (value.endsWith(":root")) rootAccounts.add(m[1] as string);
  });
  return { any, krns, rootAccounts };
}

const STATEMENT_FIELDS: ReadonlySet<string> = new Set(["Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Principal", "Condition"]);

function compileStatement(raw: unknown, index: number, path: string, kind: PolicyKind, sids: Map<string, number>): PolicyStatement {
  const scope: StatementScope = { index, sid: undefined };
  if (!isObject(raw)) fail(scope, path, `must be an object, got ${show(raw)}`);
  const field = (name: string): string => `${path}.${name}`;
  const has = (name: string): boolean => Object.hasOwn(raw, name);

  if (has("Sid")) {
    const sid = raw.Sid;
    if (typeof sid !== "string" || sid === "" || sid.length > MAX_SID_LENGTH) {
      fail(scope, field("Sid"), `must be a non-empty string of at most ${MAX_SID_LENGTH} characters, got ${show(sid)}`);
    }
    scope.sid = sid;
    const earlier = sids.get(sid);
    if (earlier !== undefined) fail(scope, field("Sid"), `duplicate Sid ${show(sid)}: Statement[${earlier}] already uses it`);
    sids.set(sid, index);
  }
  for (const name of Object.keys(raw)) {
    if (!STATEMENT_FIELDS.has(name)) {
      const hint = name === "NotPrincipal" ? "NotPrincipal is not supported" : `unknown statement field (allowed: ${[...STATEMENT_FIELDS].join(", ")}; names are case-sensitive)`;
      fail(scope, field(name), hint);
    }
  }

  if (!has("Effect")) fail(scope, field("Effect"), `is required ("Allow" or "Deny")`);
  const effect = raw.Effect;
  if (effect !== "Allow" && effect !== "Deny") fail(scope, field("Effect"), `must be exactly "Allow" or "Deny" (case-sensitive), got ${show(effect)}`);

  if (has("Action") && has("NotAction")) fail(scope, field("NotAction"), "a statement has Action or NotAction, not both");
  if (!has("Action") && !has("NotAction")) fail(scope, field("Action"), "is required (or NotAction)");
  const actionNegated = has("NotAction");
  if (actionNegated && kind === "trust") fail(scope, field("NotAction"), `trust policies name their actions with Action (e.g. "sts:AssumeRole")`);
  const action = compileActions(actionNegated ? raw.NotAction : raw.Action, kind, scope, field(actionNegated ? "NotAction" : "Action"));

  let resource: PatternSet | undefined;
  const resourceNegated = has("NotResource");
  if (kind === "trust") {
    if (has("Resource") || has("NotResource")) {
      fail(scope, field(has("Resource") ? "Resource" : "NotResource"), "trust policies must not name a Resource: the resource is the role they belong to");
    }
  } else {
    if (has("Resource") && resourceNegated) fail(scope, field("NotResource"), "a statement has Resource or NotResource, not both");
    if (!has("Resource") && !resourceNegated) fail(scope, field("Resource"), `is required (or NotResource); key policies usually say "*"`);
    resource = compileResources(resourceNegated ? raw.NotResource : raw.Resource, scope, field(resourceNegated ? "NotResource" : "Resource"));
  }

  let principal: PrincipalSet | undefined;
  if (kind === "identity") {
    if (has("Principal")) fail(scope, field("Principal"), "identity policies must not name a Principal: they apply to the principal they are attached to");
  } else {
    if (!has("Principal")) fail(scope, field("Principal"), `is required in ${kind === "trust" ? "trust" : "key (resource)"} policies`);
    principal = compilePrincipal(raw.Principal, scope, field("Principal"));
  }

  let conditions: CompiledCondition[] = [];
  let dependsOn = 0;
  if (has("Condition")) ({ conditions, dependsOn } = compileConditions(raw.Condition, scope, field("Condition")));

  return {
    index,
    sid: scope.sid,
    effect,
    action,
    actionNegated,
    resource,
    resourceNegated,
    principal,
    conditions,
    dependsOn,
  };
}

const DOCUMENT_FIELDS: ReadonlySet<string> = new Set(["Version", "Id", "Statement"]);
const POLICY_KINDS: ReadonlySet<string> = new Set(["identity", "resource", "trust"]);

/**
 * Parses, validates and compiles a policy document of the given kind. Throws
 * PolicyValidationError for anything malformed, unknown or out of place.
 */
export function parsePolicyDocument(json: string, kind: PolicyKind): PolicyDocument {
  if (!POLICY_KINDS.has(kind)) fail(DOCUMENT_SCOPE, "kind", `must be "identity", "resource" or "trust", got ${show(kind)}`);
  if (typeof json !== "string") fail(DOCUMENT_SCOPE, "document", "must be a JSON string");
  if (json.length > MAX_POLICY_DOCUMENT_BYTES || utf8Length(json) > MAX_POLICY_DOCUMENT_BYTES) {
    fail(DOCUMENT_SCOPE, "document", `is larger than ${MAX_POLICY_DOCUMENT_BYTES} bytes`);
  }
  let root: unknown;
  try {
    root = JSON.parse(json);
  } catch (error) {
    fail(DOCUMENT_SCOPE, "document", `is not valid JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  checkKeysAndDepth(json);
  if (!isObject(root)) fail(DOCUMENT_SCOPE, "document", `must be a JSON object, got ${show(root)}`);
  for (const name of Object.keys(root)) {
    if (!DOCUMENT_FIELDS.has(name)) fail(DOCUMENT_SCOPE, name, "unknown top-level field (allowed: Version, Id, Statement; names are case-sensitive)");
  }

  if (!Object.hasOwn(root, "Version")) fail(DOCUMENT_SCOPE, "Version", `is required ("2012-10-17")`);
  const version = root.Version;
  if (version !== "2012-10-17" && version !== "1") fail(DOCUMENT_SCOPE, "Version", `must be "2012-10-17" (or "1"), got ${show(version)}`);

  let id: string | undefined;
  if (Object.hasOwn(root, "Id")) {
    if (typeof root.Id !== "string") fail(DOCUMENT_SCOPE, "Id", `must be a string, got ${show(root.Id)}`);
    id = root.Id;
  }

  if (!Object.hasOwn(root, "Statement")) fail(DOCUMENT_SCOPE, "Statement", "is required");
  const rawStatements = root.Statement;
  const sids = new Map<string, number>();
  let statements: PolicyStatement[];
  if (Array.isArray(rawStatements)) {
    if (rawStatements.length === 0) fail(DOCUMENT_SCOPE, "Statement", "must have at least one statement");
    statements = rawStatements.map((raw: unknown, i) => compileStatement(raw, i, `Statement[${i}]`, kind, sids));
  } else if (isObject(rawStatements)) {
    statements = [compileStatement(rawStatements, 0, "Statement", kind, sids)];
  } else {
    fail(DOCUMENT_SCOPE, "Statement", `must be a statement object or a non-empty list of them, got ${show(rawStatements)}`);
  }
  return { kind, version, id, statements };
}


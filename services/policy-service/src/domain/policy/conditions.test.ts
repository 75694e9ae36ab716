// Condition operators through evaluate: one identity policy `Allow kms:Encrypt on *` with the
// condition under test, a same-account caller, and the request context varied per case.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { evaluate, type AuthorizationContext, type AuthorizationPrincipal } from "./evaluate.ts";
import { ALICE, BOB, OWNER, allow, identity, policies, request, roleOf } from "./test-support.ts";

interface Case {
  readonly name: string;
  readonly condition: Record<string, Record<string, unknown>>;
  readonly context?: Partial<AuthorizationContext>;
  readonly principal?: AuthorizationPrincipal;
  readonly allowed: boolean;
}

const EC = (pairs: Record<string, string>): Partial<AuthorizationContext> => ({ encryptionContext: pairs });
const IP = (sourceIp: string): Partial<AuthorizationContext> => ({ sourceIp });
const AT = (iso: string): Partial<AuthorizationContext> => ({ currentTime: new Date(iso) });

const CASES: readonly Case[] = [
  // StringEquals
  { name: "StringEquals: equal", condition: { StringEquals: { "kms:EncryptionContext:dept": "finance" } }, context: EC({ dept: "finance" }), allowed: true },
  { name: "StringEquals: different", condition: { StringEquals: { "kms:EncryptionContext:dept": "finance" } }, context: EC({ dept: "legal" }), allowed: false },
  { name: "StringEquals: values are case-sensitive", condition: { StringEquals: { "kms:EncryptionContext:dept": "finance" } }, context: EC({ dept: "Finance" }), allowed: false },
  { name: "StringEquals: context key is case-sensitive", condition: { StringEquals: { "kms:EncryptionContext:Dept": "finance" } }, context: EC({ dept: "finance" }), allowed: false },
  { name: "StringEquals: key prefix is case-insensitive", condition: { StringEquals: { "KMS:encryptioncontext:dept": "finance" } }, context: EC({ dept: "finance" }), allowed: true },
  { name: "StringEquals: missing context key", condition: { StringEquals: { "kms:EncryptionContext:dept": "finance" } }, context: EC({ other: "finance" }), allowed: false },
  { name: "StringEquals: no encryption context", condition: { StringEquals: { "kms:EncryptionContext:dept": "finance" } }, allowed: false },
  { name: "StringEquals: inherited property names are not context keys", condition: { StringEquals: { "kms:EncryptionContext:toString": "x" } }, context: EC({}), allowed: false },
  { name: "StringEquals: a context key named __proto__", condition: { StringEquals: { "kms:EncryptionContext:__proto__": "x" } }, context: EC(JSON.parse('{"__proto__":"x"}') as Record<string, string>), allowed: true },
  { name: "StringEquals: values are OR-ed", condition: { StringEquals: { "kms:EncryptionContext:dept": ["legal", "finance"] } }, context: EC({ dept: "finance" }), allowed: true },
  { name: "StringEquals: keys are AND-ed (both hold)", condition: { StringEquals: { "kms:EncryptionContext:a": "1", "kms:EncryptionContext:b": "2" } }, context: EC({ a: "1", b: "2" }), allowed: true },
  { name: "StringEquals: keys are AND-ed (one fails)", condition: { StringEquals: { "kms:EncryptionContext:a": "1", "kms:EncryptionContext:b": "2" } }, context: EC({ a: "1", b: "3" }), allowed: false },
  { name: "operators are AND-ed (both hold)", condition: { StringEquals: { "kms:EncryptionContext:a": "1" }, IpAddress: { "keyhold:SourceIp": "10.0.0.0/8" } }, context: { ...EC({ a: "1" }), ...IP("10.1.1.1") }, allowed: true },
  { name: "operators are AND-ed (one fails)", condition: { StringEquals: { "kms:EncryptionContext:a": "1" }, IpAddress: { "keyhold:SourceIp": "10.0.0.0/8" } }, context: { ...EC({ a: "1" }), ...IP("11.1.1.1") }, allowed: false },
  { name: "StringEquals: kms:CallerAccount", condition: { StringEquals: { "kms:CallerAccount": OWNER } }, allowed: true },
  { name: "StringEquals: kms:CallerAccount other", condition: { StringEquals: { "kms:CallerAccount": "999999999999" } }, allowed: false },
  { name: "StringEquals: kms:ViaService", condition: { StringEquals: { "kms:ViaService": "secrets-service" } }, context: { viaService: "secrets-service" }, allowed: true },
  { name: "StringEquals: kms:ViaService missing", condition: { StringEquals: { "kms:ViaService": "secrets-service" } }, allowed: false },
  { name: "StringEquals: keyhold:PrincipalType", condition: { StringEquals: { "keyhold:PrincipalType": "user" } }, allowed: true },
  { name: "StringEquals: keyhold:PrincipalType role", condition: { StringEquals: { "keyhold:PrincipalType": "role" } }, allowed: false },
  { name: "StringEquals: keyhold:PrincipalAccount", condition: { StringEquals: { "keyhold:PrincipalAccount": OWNER } }, allowed: true },
  { name: "StringEquals: an assumed role is its role krn", condition: { StringEquals: { "keyhold:PrincipalKrn": `krn:keyhold:iam::${OWNER}:role/deployer` } }, principal: roleOf(OWNER, "deployer", "ci-run-7"), allowed: true },
  // StringNotEquals
  { name: "StringNotEquals: different", condition: { StringNotEquals: { "kms:EncryptionContext:dept": "finance" } }, context: EC({ dept: "legal" }), allowed: true },
  { name: "StringNotEquals: equal", condition: { StringNotEquals: { "kms:EncryptionContext:dept": "finance" } }, context: EC({ dept: "finance" }), allowed: false },
  { name: "StringNotEquals: equal to one of several", condition: { StringNotEquals: { "kms:EncryptionContext:dept": ["legal", "finance"] } }, context: EC({ dept: "finance" }), allowed: false },
  { name: "StringNotEquals: missing key holds", condition: { StringNotEquals: { "kms:EncryptionContext:dept": "finance" } }, allowed: true },
  { name: "StringNotEquals: missing ViaService holds", condition: { StringNotEquals: { "kms:ViaService": "x" } }, allowed: true },
  // StringEqualsIgnoreCase
  { name: "StringEqualsIgnoreCase: other case", condition: { StringEqualsIgnoreCase: { "kms:EncryptionContext:dept": "FINANCE" } }, context: EC({ dept: "Finance" }), allowed: true },
  { name: "StringEqualsIgnoreCase: different", condition: { StringEqualsIgnoreCase: { "kms:EncryptionContext:dept": "finance" } }, context: EC({ dept: "legal" }), allowed: false },
  { name: "StringEqualsIgnoreCase: missing", condition: { StringEqualsIgnoreCase: { "kms:EncryptionContext:dept": "finance" } }, allowed: false },
  // StringLike / StringNotLike
  { name: "StringLike: *", condition: { StringLike: { "kms:EncryptionContext:path": "/backups/*" } }, context: EC({ path: "/backups/2025/06" }), allowed: true },
  { name: "StringLike: ?", condition: { StringLike: { "kms:EncryptionContext:code": "A?C" } }, context: EC({ code: "ABC" }), allowed: true },
  { name: "StringLike: ? is one character", condition: { StringLike: { "kms:EncryptionContext:code": "A?C" } }, context: EC({ code: "ABBC" }), allowed: false },
  { name: "StringLike: no match", condition: { StringLike: { "kms:EncryptionContext:path": "/backups/*" } }, context: EC({ path: "/tmp/x" }), allowed: false },
  { name: "StringLike: case-sensitive", condition: { StringLike: { "kms:EncryptionContext:path": "/Backups/*" } }, context: EC({ path: "/backups/x" }), allowed: false },
  { name: "StringLike: missing", condition: { StringLike: { "kms:EncryptionContext:path": "*" } }, allowed: false },
  { name: "StringLike: principal krn pattern", condition: { StringLike: { "keyhold:PrincipalKrn": `krn:keyhold:iam::${OWNER}:user/a*` } }, allowed: true },
  { name: "StringNotLike: no match holds", condition: { StringNotLike: { "kms:EncryptionContext:path": "/secret/*" } }, context: EC({ path: "/public/x" }), allowed: true },
  { name: "StringNotLike: match fails", condition: { StringNotLike: { "kms:EncryptionContext:path": ["/tmp/*", "/secret/*"] } }, context: EC({ path: "/secret/x" }), allowed: false },
  { name: "StringNotLike: missing holds", condition: { StringNotLike: { "kms:EncryptionContext:path": "/secret/*" } }, allowed: true },
  // IfExists
  { name: "StringEqualsIfExists: missing holds", condition: { StringEqualsIfExists: { "kms:EncryptionContext:dept": "finance" } }, allowed: true },
  { name: "StringEqualsIfExists: present and equal", condition: { StringEqualsIfExists: { "kms:EncryptionContext:dept": "finance" } }, context: EC({ dept: "finance" }), allowed: true },
  { name: "StringEqualsIfExists: present and different", condition: { StringEqualsIfExists: { "kms:EncryptionContext:dept": "finance" } }, context: EC({ dept: "legal" }), allowed: false },
  { name: "StringNotEqualsIfExists: present and equal", condition: { StringNotEqualsIfExists: { "kms:ViaService": "x" } }, context: { viaService: "x" }, allowed: false },
  { name: "StringLikeIfExists: missing holds", condition: { StringLikeIfExists: { "kms:ViaService": "a*" } }, allowed: true },
  // IpAddress / NotIpAddress
  { name: "IpAddress: inside an IPv4 block", condition: { IpAddress: { "keyhold:SourceIp": "10.0.0.0/8" } }, context: IP("10.20.30.40"), allowed: true },
  { name: "IpAddress: outside an IPv4 block", condition: { IpAddress: { "keyhold:SourceIp": "10.0.0.0/8" } }, context: IP("192.0.2.1"), allowed: false },
  { name: "IpAddress: blocks are OR-ed", condition: { IpAddress: { "keyhold:SourceIp": ["10.0.0.0/8", "192.0.2.0/24"] } }, context: IP("192.0.2.1"), allowed: true },
  { name: "IpAddress: single address", condition: { IpAddress: { "keyhold:SourceIp": "192.0.2.1" } }, context: IP("192.0.2.1"), allowed: true },
  { name: "IpAddress: single address, neighbour", condition: { IpAddress: { "keyhold:SourceIp": "192.0.2.1" } }, context: IP("192.0.2.2"), allowed: false },
  { name: "IpAddress: IPv6 inside", condition: { IpAddress: { "keyhold:SourceIp": "2001:db8::/32" } }, context: IP("2001:db8:1::5"), allowed: true },
  { name: "IpAddress: IPv6 outside", condition: { IpAddress: { "keyhold:SourceIp": "2001:db8::/32" } }, context: IP("2001:db9::5"), allowed: false },
  { name: "IpAddress: IPv4-mapped peer vs IPv4 block", condition: { IpAddress: { "keyhold:SourceIp": "10.0.0.0/8" } }, context: IP("::ffff:10.9.8.7"), allowed: true },
  { name: "IpAddress: IPv4 peer vs IPv6 block", condition: { IpAddress: { "keyhold:SourceIp": "::/0" } }, context: IP("10.9.8.7"), allowed: false },
  { name: "IpAddress: /0 is every IPv4 address", condition: { IpAddress: { "keyhold:SourceIp": "0.0.0.0/0" } }, context: IP("203.0.113.200"), allowed: true },
  { name: "IpAddress: missing", condition: { IpAddress: { "keyhold:SourceIp": "0.0.0.0/0" } }, allowed: false },
  { name: "IpAddress: unparsable address", condition: { IpAddress: { "keyhold:SourceIp": "0.0.0.0/0" } }, context: IP("not-an-ip"), allowed: false },
  { name: "IpAddress: empty address is missing", condition: { IpAddress: { "keyhold:SourceIp": "0.0.0.0/0" } }, context: IP(""), allowed: false },
  { name: "IpAddressIfExists: empty address is missing", condition: { IpAddressIfExists: { "keyhold:SourceIp": "10.0.0.0/8" } }, context: IP(""), allowed: true },
  { name: "IpAddressIfExists: unparsable address is present, in no block", condition: { IpAddressIfExists: { "keyhold:SourceIp": "0.0.0.0/0" } }, context: IP("garbage"), allowed: false },
  { name: "IpAddressIfExists: missing holds", condition: { IpAddressIfExists: { "keyhold:SourceIp": "10.0.0.0/8" } }, allowed: true },
  { name: "IpAddressIfExists: present outside", condition: { IpAddressIfExists: { "keyhold:SourceIp": "10.0.0.0/8" } }, context: IP("11.0.0.1"), allowed: false },
  { name: "NotIpAddress: outside holds", condition: { NotIpAddress: { "keyhold:SourceIp": "10.0.0.0/8" } }, context: IP("11.0.0.1"), allowed: true },
  { name: "NotIpAddress: inside fails", condition: { NotIpAddress: { "keyhold:SourceIp": ["192.0.2.0/24", "10.0.0.0/8"] } }, context: IP("10.0.0.1"), allowed: false },
  { name: "NotIpAddress: IPv6 inside fails", condition: { NotIpAddress: { "keyhold:SourceIp": "2001:db8::/32" } }, context: IP("2001:db8::1"), allowed: false },
  { name: "NotIpAddress: missing holds", condition: { NotIpAddress: { "keyhold:SourceIp": "10.0.0.0/8" } }, allowed: true },
  { name: "NotIpAddress: unparsable address holds", condition: { NotIpAddress: { "keyhold:SourceIp": "10.0.0.0/8" } }, context: IP("garbage"), allowed: true },
  // Bool
  { name: "Bool: true = true", condition: { Bool: { "keyhold:SecureTransport": true } }, context: { secureTransport: true }, allowed: true },
  { name: "Bool: \"true\" = true", condition: { Bool: { "keyhold:SecureTransport": "true" } }, context: { secureTransport: true }, allowed: true },
  { name: "Bool: true ≠ false", condition: { Bool: { "keyhold:SecureTransport": true } }, context: { secureTransport: false }, allowed: false },
  { name: "Bool: \"false\" = false", condition: { Bool: { "keyhold:SecureTransport": "false" } }, context: { secureTransport: false }, allowed: true },
  { name: "Bool: missing", condition: { Bool: { "keyhold:SecureTransport": false } }, allowed: false },
  { name: "BoolIfExists: missing holds", condition: { BoolIfExists: { "keyhold:SecureTransport": true } }, allowed: true },
  { name: "BoolIfExists: present false", condition: { BoolIfExists: { "keyhold:SecureTransport": true } }, context: { secureTransport: false }, allowed: false },
  // Dates (now is 2025-06-01T12:00:00Z unless AT(...))
  { name: "DateLessThan: before", condition: { DateLessThan: { "keyhold:CurrentTime": "2025-06-02" } }, allowed: true },
  { name: "DateLessThan: equal fails", condition: { DateLessThan: { "keyhold:CurrentTime": "2025-06-01T12:00:00Z" } }, allowed: false },
  { name: "DateLessThan: after", condition: { DateLessThan: { "keyhold:CurrentTime": "2025-06-01" } }, allowed: false },
  { name: "DateLessThan: values are OR-ed", condition: { DateLessThan: { "keyhold:CurrentTime": ["2020-01-01", "2030-01-01"] } }, allowed: true },
  { name: "DateLessThanEquals: equal holds", condition: { DateLessThanEquals: { "keyhold:CurrentTime": "2025-06-01T12:00:00Z" } }, allowed: true },
  { name: "DateLessThanEquals: same instant, other zone", condition: { DateLessThanEquals: { "keyhold:CurrentTime": "2025-06-01T14:00:00+02:00" } }, allowed: true },
  { name: "DateLessThanEquals: a millisecond late", condition: { DateLessThanEquals: { "keyhold:CurrentTime": "2025-06-01T12:00:00Z" } }, context: AT("2025-06-01T12:00:00.001Z"), allowed: false },
  { name: "DateGreaterThan: after", condition: { DateGreaterThan: { "keyhold:CurrentTime": "2025-05-31T23:59:59Z" } }, allowed: true },
  { name: "DateGreaterThan: equal fails", condition: { DateGreaterThan: { "keyhold:CurrentTime": "2025-06-01T12:00:00Z" } }, allowed: false },
  { name: "DateGreaterThanEquals: equal holds", condition: { DateGreaterThanEquals: { "keyhold:CurrentTime": "2025-06-01T12:00:00.000Z" } }, allowed: true },
  { name: "DateGreaterThanEquals: before fails", condition: { DateGreaterThanEquals: { "keyhold:CurrentTime": "2025-06-01T12:00:00Z" } }, context: AT("2025-06-01T11:59:59.999Z"), allowed: false },
  { name: "date window (both hold)", condition: { DateGreaterThan: { "keyhold:CurrentTime": "2025-01-01" }, DateLessThan: { "keyhold:CurrentTime": "2026-01-01" } }, allowed: true },
  { name: "date window (expired)", condition: { DateGreaterThan: { "keyhold:CurrentTime": "2025-01-01" }, DateLessThan: { "keyhold:CurrentTime": "2026-01-01" } }, context: AT("2026-01-01T00:00:01Z"), allowed: false },
  // Null
  { name: "Null true: key missing holds", condition: { Null: { "kms:EncryptionContext:dept": true } }, allowed: true },
  { name: "Null true: key present fails", condition: { Null: { "kms:EncryptionContext:dept": "true" } }, context: EC({ dept: "x" }), allowed: false },
  { name: "Null false: key present holds", condition: { Null: { "kms:EncryptionContext:dept": false } }, context: EC({ dept: "x" }), allowed: true },
  { name: "Null false: key missing fails", condition: { Null: { "kms:EncryptionContext:dept": "false" } }, allowed: false },
  { name: "Null true: empty ViaService is missing", condition: { Null: { "kms:ViaService": true } }, context: { viaService: "" }, allowed: true },
  { name: "Null true: empty SourceIp is missing", condition: { Null: { "keyhold:SourceIp": true } }, context: IP(""), allowed: true },
  { name: "StringNotEquals: empty ViaService is missing", condition: { StringNotEquals: { "kms:ViaService": "" } }, context: { viaService: "" }, allowed: true },
  { name: "Null true: ViaService missing", condition: { Null: { "kms:ViaService": true } }, allowed: true },
  { name: "Null false: SourceIp present", condition: { Null: { "keyhold:SourceIp": false } }, context: IP("10.0.0.1"), allowed: true },
  { name: "Null true: SourceIp present fails", condition: { Null: { "keyhold:SourceIp": true } }, context: IP("10.0.0.1"), allowed: false },
  { name: "Null true: SecureTransport missing", condition: { Null: { "keyhold:SecureTransport": true } }, allowed: true },
  { name: "Null true: empty context has no keys", condition: { Null: { "kms:EncryptionContextKeys": true } }, context: EC({}), allowed: true },
  { name: "Null false: context with keys", condition: { Null: { "kms:EncryptionContextKeys": false } }, context: EC({ a: "1" }), allowed: true },
  { name: "Null false: CallerAccount is always present", condition: { Null: { "kms:CallerAccount": false } }, allowed: true },
  { name: "Null true: CurrentTime is always present", condition: { Null: { "keyhold:CurrentTime": true } }, allowed: false },
  // Set operators on kms:EncryptionContextKeys
  { name: "ForAllValues: every key allowed", condition: { "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": ["tenant", "purpose"] } }, context: EC({ tenant: "a", purpose: "b" }), allowed: true },
  { name: "ForAllValues: a key not allowed", condition: { "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": ["tenant", "purpose"] } }, context: EC({ tenant: "a", extra: "b" }), allowed: false },
  { name: "ForAllValues: empty context holds", condition: { "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": "tenant" } }, context: EC({}), allowed: true },
  { name: "ForAllValues: missing context holds", condition: { "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": "tenant" } }, allowed: true },
  { name: "ForAllValues:StringLike", condition: { "ForAllValues:StringLike": { "kms:EncryptionContextKeys": "app:*" } }, context: EC({ "app:a": "1", "app:b": "2" }), allowed: true },
  { name: "ForAllValues:StringNotEquals: none forbidden", condition: { "ForAllValues:StringNotEquals": { "kms:EncryptionContextKeys": "secret" } }, context: EC({ a: "1" }), allowed: true },
  { name: "ForAllValues:StringNotEquals: one forbidden", condition: { "ForAllValues:StringNotEquals": { "kms:EncryptionContextKeys": "secret" } }, context: EC({ a: "1", secret: "2" }), allowed: false },
  { name: "ForAllValues:StringEqualsIgnoreCase", condition: { "ForAllValues:StringEqualsIgnoreCase": { "kms:EncryptionContextKeys": "TENANT" } }, context: EC({ Tenant: "1" }), allowed: true },
  { name: "ForAnyValue: one key matches", condition: { "ForAnyValue:StringEquals": { "kms:EncryptionContextKeys": "tenant" } }, context: EC({ other: "x", tenant: "a" }), allowed: true },
  { name: "ForAnyValue: no key matches", condition: { "ForAnyValue:StringEquals": { "kms:EncryptionContextKeys": "tenant" } }, context: EC({ other: "x" }), allowed: false },
  { name: "ForAnyValue: empty context fails", condition: { "ForAnyValue:StringEquals": { "kms:EncryptionContextKeys": "tenant" } }, context: EC({}), allowed: false },
  { name: "ForAnyValue: missing context fails", condition: { "ForAnyValue:StringEquals": { "kms:EncryptionContextKeys": "tenant" } }, allowed: false },
  { name: "ForAnyValue IfExists: missing context holds", condition: { "ForAnyValue:StringEqualsIfExists": { "kms:EncryptionContextKeys": "tenant" } }, allowed: true },
  { name: "ForAnyValue IfExists: present, no match", condition: { "ForAnyValue:StringEqualsIfExists": { "kms:EncryptionContextKeys": "tenant" } }, context: EC({ x: "1" }), allowed: false },
  { name: "ForAnyValue:StringNotLike: one key outside", condition: { "ForAnyValue:StringNotLike": { "kms:EncryptionContextKeys": "app:*" } }, context: EC({ "app:a": "1", other: "2" }), allowed: true },
  { name: "ForAnyValue:StringNotLike: all inside", condition: { "ForAnyValue:StringNotLike": { "kms:EncryptionContextKeys": "app:*" } }, context: EC({ "app:a": "1" }), allowed: false },
];

describe("condition operators", () => {
  for (const c of CASES) {
    test(`${c.name} → ${c.allowed ? "allowed" : "denied"}`, () => {
      const policy = identity(allow("kms:Encrypt", { Condition: c.condition }));
      const decision = evaluate(request({ principal: c.principal ?? ALICE, context: c.context ?? {} }), policies({ identity: [policy] }));
      assert.equal(decision.allowed, c.allowed);
      assert.equal(decision.reason, c.allowed ? "allowed" : "implicit-deny");
    });
  }

  test("kms:CallerAccount is the caller's account in cross-account calls", () => {
    const policy = identity(allow("kms:Encrypt", { Condition: { StringEquals: { "kms:CallerAccount": BOB.accountId } } }));
    const decision = evaluate(request({ principal: BOB }), policies({ identity: [policy] }));
    // The identity side holds; the resource side is missing.
    assert.equal(decision.reason, "cross-account-missing-resource-allow");
  });

  test("a condition in a Deny: NotIpAddress denies outside the office, not inside", () => {
    const p = identity([allow("kms:*"), { ...allow("kms:*"), Effect: "Deny", Condition: { NotIpAddress: { "keyhold:SourceIp": "10.0.0.0/8" } } }]);
    assert.equal(evaluate(request({ context: IP("10.1.2.3") }), policies({ identity: [p] })).allowed, true);
    assert.equal(evaluate(request({ context: IP("8.8.8.8") }), policies({ identity: [p] })).reason, "explicit-deny");
    // No address at all: NotIpAddress holds, so the deny applies (fail closed).
    assert.equal(evaluate(request(), policies({ identity: [p] })).reason, "explicit-deny");
  });

  test("a condition in a Deny: Bool SecureTransport false", () => {
    const p = identity([allow("kms:*"), { ...allow("kms:*"), Effect: "Deny", Condition: { Bool: { "keyhold:SecureTransport": false } } }]);
    assert.equal(evaluate(request({ context: { secureTransport: true } }), policies({ identity: [p] })).allowed, true);
    assert.equal(evaluate(request({ context: { secureTransport: false } }), policies({ identity: [p] })).reason, "explicit-deny");
  });
});

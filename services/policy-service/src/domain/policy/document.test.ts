import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { MAX_POLICY_DOCUMENT_BYTES, PolicyValidationError, parsePolicyDocument, parseIsoDate, type PolicyKind } from "./document.ts";

/** A document whose Statement is always a list (single-object documents are written out). */
function documentJson(statements: unknown): string {
  return JSON.stringify({ Version: "2012-10-17", Statement: Array.isArray(statements) ? statements : [statements] });
}

const ID_STATEMENT = { Effect: "Allow", Action: "kms:Encrypt", Resource: "*" };
const KEY_STATEMENT = { Effect: "Allow", Principal: { KRN: "krn:keyhold:iam::111122223333:root" }, Action: "kms:*", Resource: "*" };
const TRUST_STATEMENT = { Effect: "Allow", Principal: { KRN: "444455556666" }, Action: "sts:AssumeRole" };

function withCondition(condition: unknown): string {
  return documentJson({ ...ID_STATEMENT, Condition: condition });
}

interface InvalidCase {
  readonly name: string;
  readonly kind?: PolicyKind;
  readonly json: string;
  readonly field: string;
  readonly statementIndex: number | undefined;
  /** A fragment the message must contain. */
  readonly message?: string;
}

const INVALID: readonly InvalidCase[] = [
  // Document level
  { name: "not JSON", json: "{Version: 1}", field: "document", statementIndex: undefined, message: "not valid JSON" },
  { name: "empty string", json: "", field: "document", statementIndex: undefined },
  { name: "a list", json: "[]", field: "document", statementIndex: undefined, message: "JSON object" },
  { name: "null", json: "null", field: "document", statementIndex: undefined },
  {
    name: "larger than 32 KiB",
    json: documentJson({ ...ID_STATEMENT, Sid: "S", Action: Array.from({ length: 3000 }, (_, i) => `kms:Action${i}`) }),
    field: "document",
    statementIndex: undefined,
    message: `${MAX_POLICY_DOCUMENT_BYTES} bytes`,
  },
  {
    name: "larger than 32 KiB in UTF-8 though not in characters",
    json: JSON.stringify({ Version: "2012-10-17", Id: "é".repeat(16_400), Statement: ID_STATEMENT }),
    field: "document",
    statementIndex: undefined,
  },
  { name: "duplicate top-level key", json: '{"Version":"2012-10-17","Version":"1","Statement":[]}', field: "Version", statementIndex: undefined, message: "more than once" },
  {
    name: "duplicate key in a statement, even escaped",
    json: '{"Version":"2012-10-17","Statement":[{"Effect":"Deny","\\u0045ffect":"Allow","Action":"*","Resource":"*"}]}',
    field: "Statement[0].Effect",
    statementIndex: 0,
  },
  {
    name: "duplicate condition key",
    json: '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"},{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"StringEquals":{"kms:CallerAccount":"1","kms:CallerAccount":"2"}}}]}',
    field: "Statement[1].Condition.StringEquals.kms:CallerAccount",
    statementIndex: 1,
  },
  {
    name: "nesting deeper than any policy needs",
    json: `{"Version":"2012-10-17","Statement":${"[".repeat(40)}${"]".repeat(40)}}`,
    field: "Statement[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]",
    statementIndex: 0,
    message: "nests deeper",
  },
  { name: "unknown top-level field", json: JSON.stringify({ Version: "2012-10-17", Statment: [ID_STATEMENT] }), field: "Statment", statementIndex: undefined },
  { name: "lower-case version field", json: JSON.stringify({ version: "2012-10-17", Statement: [ID_STATEMENT] }), field: "version", statementIndex: undefined },
  { name: "missing Version", json: JSON.stringify({ Statement: [ID_STATEMENT] }), field: "Version", statementIndex: undefined },
  { name: "old Version", json: JSON.stringify({ Version: "2008-10-17", Statement: [ID_STATEMENT] }), field: "Version", statementIndex: undefined },
  { name: "numeric Version", json: JSON.stringify({ Version: 1, Statement: [ID_STATEMENT] }), field: "Version", statementIndex: undefined },
  { name: "Id not a string", json: JSON.stringify({ Version: "2012-10-17", Id: 7, Statement: [ID_STATEMENT] }), field: "Id", statementIndex: undefined },
  { name: "missing Statement", json: JSON.stringify({ Version: "2012-10-17" }), field: "Statement", statementIndex: undefined },
  { name: "empty Statement list", json: documentJson([]), field: "Statement", statementIndex: undefined },
  { name: "Statement a string", json: JSON.stringify({ Version: "2012-10-17", Statement: "Allow everything" }), field: "Statement", statementIndex: undefined },
  { name: "statement not an object", json: documentJson([ID_STATEMENT, "x"]), field: "Statement[1]", statementIndex: 1 },
  { name: "statement a list", json: documentJson([ID_STATEMENT, [ID_STATEMENT]]), field: "Statement[1]", statementIndex: 1 },
  // Effect
  { name: "Effect lower case", json: documentJson({ ...ID_STATEMENT, Effect: "allow" }), field: "Statement[0].Effect", statementIndex: 0, message: "case-sensitive" },
  { name: "Effect upper case", json: documentJson([ID_STATEMENT, { ...ID_STATEMENT, Effect: "DENY" }]), field: "Statement[1].Effect", statementIndex: 1 },
  { name: "Effect missing", json: documentJson({ Action: "*", Resource: "*" }), field: "Statement[0].Effect", statementIndex: 0 },
  { name: "Effect boolean", json: documentJson({ ...ID_STATEMENT, Effect: true }), field: "Statement[0].Effect", statementIndex: 0 },
  { name: "single statement object: path has no index", json: JSON.stringify({ Version: "2012-10-17", Statement: { ...ID_STATEMENT, Effect: "Permit" } }), field: "Statement.Effect", statementIndex: 0 },
  // Unknown statement fields
  { name: "unknown statement field", json: documentJson({ ...ID_STATEMENT, Actions: ["kms:Decrypt"] }), field: "Statement[0].Actions", statementIndex: 0 },
  { name: "field name case matters", json: documentJson({ Effect: "Allow", action: "kms:Encrypt", Resource: "*" }), field: "Statement[0].action", statementIndex: 0 },
  { name: "NotPrincipal", kind: "resource", json: documentJson({ ...KEY_STATEMENT, NotPrincipal: "*" }), field: "Statement[0].NotPrincipal", statementIndex: 0, message: "not supported" },
  // Sid
  { name: "Sid not a string", json: documentJson({ ...ID_STATEMENT, Sid: 1 }), field: "Statement[0].Sid", statementIndex: 0 },
  { name: "Sid empty", json: documentJson({ ...ID_STATEMENT, Sid: "" }), field: "Statement[0].Sid", statementIndex: 0 },
  {
    name: "duplicate Sid",
    json: documentJson([{ ...ID_STATEMENT, Sid: "Use" }, { ...ID_STATEMENT, Sid: "Other" }, { ...ID_STATEMENT, Sid: "Use" }]),
    field: "Statement[2].Sid",
    statementIndex: 2,
    message: 'duplicate Sid "Use": Statement[0] already uses it (statement 2, Sid "Use")',
  },
  // Action
  { name: "Action missing", json: documentJson({ Effect: "Allow", Resource: "*" }), field: "Statement[0].Action", statementIndex: 0 },
  { name: "Action and NotAction", json: documentJson({ ...ID_STATEMENT, NotAction: "kms:Decrypt" }), field: "Statement[0].NotAction", statementIndex: 0 },
  { name: "Action empty list", json: documentJson({ ...ID_STATEMENT, Action: [] }), field: "Statement[0].Action", statementIndex: 0 },
  { name: "Action element not a string", json: documentJson({ ...ID_STATEMENT, Action: ["kms:Encrypt", 5] }), field: "Statement[0].Action[1]", statementIndex: 0 },
  { name: "Action an object", json: documentJson({ ...ID_STATEMENT, Action: { kms: "Encrypt" } }), field: "Statement[0].Action", statementIndex: 0 },
  { name: "Action without service", json: documentJson({ ...ID_STATEMENT, Action: "Encrypt" }), field: "Statement[0].Action", statementIndex: 0 },
  { name: "Action with empty name", json: documentJson({ ...ID_STATEMENT, Action: "kms:" }), field: "Statement[0].Action", statementIndex: 0 },
  { name: "Action with punctuation", json: documentJson({ ...ID_STATEMENT, Action: ["kms:Encrypt", "kms:Decrypt!"] }), field: "Statement[0].Action[1]", statementIndex: 0 },
  { name: "Action with wildcard service", json: documentJson({ ...ID_STATEMENT, Action: "*:Encrypt" }), field: "Statement[0].Action", statementIndex: 0 },
  { name: "Action with two colons", json: documentJson({ ...ID_STATEMENT, Action: "kms:key:Encrypt" }), field: "Statement[0].Action", statementIndex: 0 },
  { name: "NotAction bad", json: documentJson({ Effect: "Deny", NotAction: "kms Encrypt", Resource: "*" }), field: "Statement[0].NotAction", statementIndex: 0 },
  // Resource
  { name: "identity Resource missing", json: documentJson({ Effect: "Allow", Action: "*" }), field: "Statement[0].Resource", statementIndex: 0 },
  { name: "key policy Resource missing", kind: "resource", json: documentJson({ Effect: "Allow", Principal: "*", Action: "*" }), field: "Statement[0].Resource", statementIndex: 0 },
  { name: "Resource and NotResource", json: documentJson({ ...ID_STATEMENT, NotResource: "*" }), field: "Statement[0].NotResource", statementIndex: 0 },
  { name: "Resource an AWS arn", json: documentJson({ ...ID_STATEMENT, Resource: "arn:aws:kms:us-east-1:111122223333:key/x" }), field: "Statement[0].Resource", statementIndex: 0 },
  { name: "Resource with too few parts", json: documentJson({ ...ID_STATEMENT, Resource: "krn:keyhold:kms:*" }), field: "Statement[0].Resource", statementIndex: 0 },
  { name: "Resource with letters in the account", json: documentJson({ ...ID_STATEMENT, Resource: "krn:keyhold:kms:eu-west-1:acct:key/*" }), field: "Statement[0].Resource", statementIndex: 0 },
  { name: "Resource with a space", json: documentJson({ ...ID_STATEMENT, Resource: "krn:keyhold:kms:eu-west-1:111122223333:key/a b" }), field: "Statement[0].Resource", statementIndex: 0 },
  { name: "Resource element bad", json: documentJson({ ...ID_STATEMENT, Resource: ["*", "key/x"] }), field: "Statement[0].Resource[1]", statementIndex: 0 },
  { name: "Resource empty list", json: documentJson({ ...ID_STATEMENT, Resource: [] }), field: "Statement[0].Resource", statementIndex: 0 },
  { name: "Resource a number", json: documentJson({ ...ID_STATEMENT, Resource: 1 }), field: "Statement[0].Resource", statementIndex: 0 },
  // Principal
  { name: "identity policy with Principal", json: documentJson({ ...ID_STATEMENT, Principal: "*" }), field: "Statement[0].Principal", statementIndex: 0 },
  { name: "key policy without Principal", kind: "resource", json: documentJson(ID_STATEMENT), field: "Statement[0].Principal", statementIndex: 0 },
  { name: "Principal a bare account id", kind: "resource", json: documentJson({ ...KEY_STATEMENT, Principal: "111122223333" }), field: "Statement[0].Principal", statementIndex: 0 },
  { name: "Principal AWS", kind: "resource", json: documentJson({ ...KEY_STATEMENT, Principal: { AWS: "*" } }), field: "Statement[0].Principal.AWS", statementIndex: 0 },
  { name: "Principal krn lower-case key", kind: "resource", json: documentJson({ ...KEY_STATEMENT, Principal: { krn: "*" } }), field: "Statement[0].Principal.krn", statementIndex: 0 },
  { name: "Principal empty object", kind: "resource", json: documentJson({ ...KEY_STATEMENT, Principal: {} }), field: "Statement[0].Principal.KRN", statementIndex: 0 },
  { name: "Principal short account", kind: "resource", json: documentJson({ ...KEY_STATEMENT, Principal: { KRN: "krn:keyhold:iam::1234:root" } }), field: "Statement[0].Principal.KRN", statementIndex: 0 },
  { name: "Principal wildcard user", kind: "resource", json: documentJson({ ...KEY_STATEMENT, Principal: { KRN: "krn:keyhold:iam::111122223333:user/*" } }), field: "Statement[0].Principal.KRN", statementIndex: 0 },
  { name: "Principal key krn", kind: "resource", json: documentJson({ ...KEY_STATEMENT, Principal: { KRN: "krn:keyhold:kms:eu-west-1:111122223333:key/x" } }), field: "Statement[0].Principal.KRN", statementIndex: 0 },
  { name: "Principal group krn", kind: "resource", json: documentJson({ ...KEY_STATEMENT, Principal: { KRN: "krn:keyhold:iam::111122223333:group/ops" } }), field: "Statement[0].Principal.KRN", statementIndex: 0 },
  {
    name: "Principal list element bad",
    kind: "resource",
    json: documentJson([KEY_STATEMENT, { ...KEY_STATEMENT, Sid: "Two", Principal: { KRN: ["444455556666", "krn:keyhold:iam::444455556666:bob"] } }]),
    field: "Statement[1].Principal.KRN[1]",
    statementIndex: 1,
    message: '(statement 1, Sid "Two")',
  },
  { name: "Principal KRN empty list", kind: "resource", json: documentJson({ ...KEY_STATEMENT, Principal: { KRN: [] } }), field: "Statement[0].Principal.KRN", statementIndex: 0 },
  // Trust policies
  { name: "trust with Resource", kind: "trust", json: documentJson({ ...TRUST_STATEMENT, Resource: "*" }), field: "Statement[0].Resource", statementIndex: 0 },
  { name: "trust with NotResource", kind: "trust", json: documentJson({ ...TRUST_STATEMENT, NotResource: "*" }), field: "Statement[0].NotResource", statementIndex: 0 },
  { name: "trust with a kms action", kind: "trust", json: documentJson({ ...TRUST_STATEMENT, Action: ["sts:AssumeRole", "kms:Encrypt"] }), field: "Statement[0].Action[1]", statementIndex: 0 },
  { name: "trust with action *", kind: "trust", json: documentJson({ ...TRUST_STATEMENT, Action: "*" }), field: "Statement[0].Action", statementIndex: 0 },
  { name: "trust with NotAction", kind: "trust", json: documentJson({ Effect: "Allow", Principal: "*", NotAction: "sts:AssumeRole" }), field: "Statement[0].NotAction", statementIndex: 0 },
  { name: "trust without Principal", kind: "trust", json: documentJson({ Effect: "Allow", Action: "sts:AssumeRole" }), field: "Statement[0].Principal", statementIndex: 0 },
  // Condition structure
  { name: "Condition a string", json: withCondition("StringEquals"), field: "Statement[0].Condition", statementIndex: 0 },
  { name: "Condition a list", json: withCondition([]), field: "Statement[0].Condition", statementIndex: 0 },
  { name: "unknown operator", json: withCondition({ StringEqual: { "kms:CallerAccount": "111122223333" } }), field: "Statement[0].Condition.StringEqual", statementIndex: 0, message: "unknown condition operator" },
  { name: "operator case matters", json: withCondition({ stringEquals: { "kms:CallerAccount": "1" } }), field: "Statement[0].Condition.stringEquals", statementIndex: 0 },
  { name: "AWS-only operator", json: withCondition({ NumericEquals: { "kms:CallerAccount": "1" } }), field: "Statement[0].Condition.NumericEquals", statementIndex: 0 },
  { name: "unknown set prefix", json: withCondition({ "ForEachValue:StringEquals": { "kms:EncryptionContextKeys": "a" } }), field: "Statement[0].Condition.ForEachValue:StringEquals", statementIndex: 0 },
  { name: "NullIfExists", json: withCondition({ NullIfExists: { "kms:ViaService": true } }), field: "Statement[0].Condition.NullIfExists", statementIndex: 0 },
  { name: "ForAllValues:Null", json: withCondition({ "ForAllValues:Null": { "kms:EncryptionContextKeys": true } }), field: "Statement[0].Condition.ForAllValues:Null", statementIndex: 0 },
  { name: "operator body a string", json: withCondition({ StringEquals: "kms:CallerAccount" }), field: "Statement[0].Condition.StringEquals", statementIndex: 0 },
  { name: "operator body empty", json: withCondition({ StringEquals: {} }), field: "Statement[0].Condition.StringEquals", statementIndex: 0 },
  { name: "unknown key", json: withCondition({ StringEquals: { "kms:Foo": "x" } }), field: "Statement[0].Condition.StringEquals.kms:Foo", statementIndex: 0, message: "unknown condition key" },
  { name: "AWS key", json: withCondition({ IpAddress: { "aws:SourceIp": "10.0.0.0/8" } }), field: "Statement[0].Condition.IpAddress.aws:SourceIp", statementIndex: 0 },
  { name: "skipped key kms:GrantOperations", json: withCondition({ "ForAllValues:StringEquals": { "kms:GrantOperations": "Encrypt" } }), field: "Statement[0].Condition.ForAllValues:StringEquals.kms:GrantOperations", statementIndex: 0 },
  { name: "encryption context key with empty name", json: withCondition({ StringEquals: { "kms:EncryptionContext:": "x" } }), field: "Statement[0].Condition.StringEquals.kms:EncryptionContext:", statementIndex: 0 },
  { name: "values empty list", json: withCondition({ StringEquals: { "kms:CallerAccount": [] } }), field: "Statement[0].Condition.StringEquals.kms:CallerAccount", statementIndex: 0 },
  // Set prefixes and key types
  { name: "multi-valued key without a set prefix", json: withCondition({ StringEquals: { "kms:EncryptionContextKeys": "tenant" } }), field: "Statement[0].Condition.StringEquals.kms:EncryptionContextKeys", statementIndex: 0, message: "multi-valued" },
  { name: "single-valued key with a set prefix", json: withCondition({ "ForAnyValue:StringEquals": { "kms:CallerAccount": "111122223333" } }), field: "Statement[0].Condition.ForAnyValue:StringEquals.kms:CallerAccount", statementIndex: 0, message: "single-valued" },
  { name: "IpAddress on a string key", json: withCondition({ IpAddress: { "kms:CallerAccount": "10.0.0.0/8" } }), field: "Statement[0].Condition.IpAddress.kms:CallerAccount", statementIndex: 0, message: "does not apply" },
  { name: "StringEquals on the source ip", json: withCondition({ StringEquals: { "keyhold:SourceIp": "10.0.0.1" } }), field: "Statement[0].Condition.StringEquals.keyhold:SourceIp", statementIndex: 0 },
  { name: "StringLike on the current time", json: withCondition({ StringLike: { "keyhold:CurrentTime": "2025-*" } }), field: "Statement[0].Condition.StringLike.keyhold:CurrentTime", statementIndex: 0 },
  { name: "Bool on an encryption context key", json: withCondition({ Bool: { "kms:EncryptionContext:x": "true" } }), field: "Statement[0].Condition.Bool.kms:EncryptionContext:x", statementIndex: 0 },
  { name: "Date operator on SecureTransport", json: withCondition({ DateLessThan: { "keyhold:SecureTransport": "2025-01-01" } }), field: "Statement[0].Condition.DateLessThan.keyhold:SecureTransport", statementIndex: 0 },
  // Condition values
  {
    name: "IpAddress out of range (statement named by index and Sid)",
    json: documentJson([ID_STATEMENT, ID_STATEMENT, { ...ID_STATEMENT, Sid: "OfficeOnly", Condition: { IpAddress: { "keyhold:SourceIp": "10.0.0.256" } } }]),
    field: "Statement[2].Condition.IpAddress.keyhold:SourceIp",
    statementIndex: 2,
    message: 'Statement[2].Condition.IpAddress.keyhold:SourceIp: IpAddress takes IPv4 or IPv6 addresses or CIDR blocks (e.g. 203.0.113.0/24, 2001:db8::/32), got "10.0.0.256" (statement 2, Sid "OfficeOnly")',
  },
  { name: "IpAddress prefix too long", json: withCondition({ IpAddress: { "keyhold:SourceIp": "10.0.0.0/33" } }), field: "Statement[0].Condition.IpAddress.keyhold:SourceIp", statementIndex: 0 },
  { name: "IpAddress IPv6 with two gaps", json: withCondition({ NotIpAddress: { "keyhold:SourceIp": "2001:db8::1::1" } }), field: "Statement[0].Condition.NotIpAddress.keyhold:SourceIp", statementIndex: 0 },
  { name: "IpAddress IPv6 prefix too long", json: withCondition({ IpAddress: { "keyhold:SourceIp": "2001:db8::/129" } }), field: "Statement[0].Condition.IpAddress.keyhold:SourceIp", statementIndex: 0 },
  { name: "IpAddress leading zeros", json: withCondition({ IpAddress: { "keyhold:SourceIp": "010.0.0.1" } }), field: "Statement[0].Condition.IpAddress.keyhold:SourceIp", statementIndex: 0 },
  { name: "IpAddress host name", json: withCondition({ IpAddress: { "keyhold:SourceIp": "localhost" } }), field: "Statement[0].Condition.IpAddress.keyhold:SourceIp", statementIndex: 0 },
  { name: "IpAddress list element bad", json: withCondition({ IpAddress: { "keyhold:SourceIp": ["10.0.0.0/8", "10.0.0.0/8/8"] } }), field: "Statement[0].Condition.IpAddress.keyhold:SourceIp[1]", statementIndex: 0 },
  { name: "IpAddress a number", json: withCondition({ IpAddress: { "keyhold:SourceIp": 167772160 } }), field: "Statement[0].Condition.IpAddress.keyhold:SourceIp", statementIndex: 0 },
  { name: "Date month 13", json: withCondition({ DateLessThan: { "keyhold:CurrentTime": "2025-13-01" } }), field: "Statement[0].Condition.DateLessThan.keyhold:CurrentTime", statementIndex: 0, message: "ISO 8601" },
  { name: "Date 30 February", json: withCondition({ DateGreaterThan: { "keyhold:CurrentTime": "2025-02-30" } }), field: "Statement[0].Condition.DateGreaterThan.keyhold:CurrentTime", statementIndex: 0 },
  { name: "Date-time without a zone", json: withCondition({ DateLessThanEquals: { "keyhold:CurrentTime": "2025-01-01T00:00:00" } }), field: "Statement[0].Condition.DateLessThanEquals.keyhold:CurrentTime", statementIndex: 0 },
  { name: "Date hour 24", json: withCondition({ DateGreaterThanEquals: { "keyhold:CurrentTime": "2025-01-01T24:00:00Z" } }), field: "Statement[0].Condition.DateGreaterThanEquals.keyhold:CurrentTime", statementIndex: 0 },
  { name: "Date epoch seconds", json: withCondition({ DateLessThan: { "keyhold:CurrentTime": 1735689600 } }), field: "Statement[0].Condition.DateLessThan.keyhold:CurrentTime", statementIndex: 0 },
  { name: "Date free text", json: withCondition({ DateLessThan: { "keyhold:CurrentTime": ["2025-01-01", "next week"] } }), field: "Statement[0].Condition.DateLessThan.keyhold:CurrentTime[1]", statementIndex: 0 },
  { name: "Bool yes", json: withCondition({ Bool: { "keyhold:SecureTransport": "yes" } }), field: "Statement[0].Condition.Bool.keyhold:SecureTransport", statementIndex: 0 },
  { name: "Bool True", json: withCondition({ Bool: { "keyhold:SecureTransport": "True" } }), field: "Statement[0].Condition.Bool.keyhold:SecureTransport", statementIndex: 0 },
  { name: "Bool 1", json: withCondition({ BoolIfExists: { "keyhold:SecureTransport": 1 } }), field: "Statement[0].Condition.BoolIfExists.keyhold:SecureTransport", statementIndex: 0 },
  { name: "Null maybe", json: withCondition({ Null: { "kms:ViaService": "maybe" } }), field: "Statement[0].Condition.Null.kms:ViaService", statementIndex: 0 },
  { name: "string operator with a number", json: withCondition({ StringEquals: { "kms:CallerAccount": 111122223333 } }), field: "Statement[0].Condition.StringEquals.kms:CallerAccount", statementIndex: 0, message: "takes strings" },
  { name: "string operator with null", json: withCondition({ StringLike: { "kms:ViaService": [null] } }), field: "Statement[0].Condition.StringLike.kms:ViaService[0]", statementIndex: 0 },
  { name: "string operator with an object", json: withCondition({ StringEquals: { "kms:EncryptionContext:tenant": { a: 1 } } }), field: "Statement[0].Condition.StringEquals.kms:EncryptionContext:tenant", statementIndex: 0 },
];

describe("parsePolicyDocument refuses", () => {
  for (const c of INVALID) {
    test(c.name, () => {
      assert.throws(
        () => parsePolicyDocument(c.json, c.kind ?? "identity"),
        (error: unknown) => {
          assert.ok(error instanceof PolicyValidationError, `not a PolicyValidationError: ${String(error)}`);
          assert.equal(error.name, "PolicyValidationError");
          assert.equal(error.field, c.field);
          assert.equal(error.statementIndex, c.statementIndex);
          assert.ok(error.message.startsWith(`${c.field}: `), error.message);
          if (c.message !== undefined) assert.ok(error.message.includes(c.message), error.message);
          if (c.statementIndex !== undefined) assert.ok(error.message.includes(`(statement ${c.statementIndex}`), error.message);
          return true;
        },
      );
    });
  }

  test("__proto__ as a field or operator name is just an unknown name", () => {
    assert.throws(() => parsePolicyDocument('{"Version":"2012-10-17","__proto__":{},"Statement":[]}', "identity"), { field: "__proto__" });
    assert.throws(
      () => parsePolicyDocument('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*","Condition":{"__proto__":{"kms:CallerAccount":"1"}}}]}', "identity"),
      { field: "Statement[0].Condition.__proto__", statementIndex: 0 },
    );
  });

  test("an unknown kind", () => {
    assert.throws(() => parsePolicyDocument(documentJson(ID_STATEMENT), "key" as PolicyKind), { name: "PolicyValidationError", field: "kind" });
  });

  test("a non-string document", () => {
    assert.throws(() => parsePolicyDocument({} as unknown as string, "identity"), { name: "PolicyValidationError", field: "document" });
  });
});

describe("parsePolicyDocument accepts and normalises", () => {
  test("a single statement object, Version 1 and an Id", () => {
    const doc = parsePolicyDocument(JSON.stringify({ Version: "1", Id: "doc-1", Statement: { Sid: "Only", ...ID_STATEMENT } }), "identity");
    assert.equal(doc.kind, "identity");
    assert.equal(doc.version, "1");
    assert.equal(doc.id, "doc-1");
    assert.equal(doc.statements.length, 1);
    assert.equal(doc.statements[0]!.sid, "Only");
    assert.equal(doc.statements[0]!.index, 0);
  });

  test("actions lower-cased, resources as written", () => {
    const doc = parsePolicyDocument(
      documentJson({ Effect: "Deny", NotAction: ["KMS:Encrypt", "kms:List*"], NotResource: ["krn:keyhold:kms:*:111122223333:key/ABC"] }),
      "identity",
    );
    const s = doc.statements[0]!;
    assert.equal(s.effect, "Deny");
    assert.equal(s.actionNegated, true);
    assert.deepEqual(s.action.patterns, ["kms:encrypt", "kms:list*"]);
    assert.equal(s.resourceNegated, true);
    assert.deepEqual(s.resource?.patterns, ["krn:keyhold:kms:*:111122223333:key/ABC"]);
    assert.equal(s.principal, undefined);
    assert.deepEqual(s.conditions, []);
    assert.equal(s.dependsOn, 0);
  });

  test("principals: *, KRN *, account ids as root krns, users and roles", () => {
    const doc = parsePolicyDocument(
      documentJson([
        { ...KEY_STATEMENT, Principal: "*" },
        { ...KEY_STATEMENT, Principal: { KRN: "*" } },
        {
          ...KEY_STATEMENT,
          Principal: {
            KRN: ["444455556666", "krn:keyhold:iam::777788889999:root", "krn:keyhold:iam::111122223333:user/alice", "krn:keyhold:iam::111122223333:role/ops/deploy"],
          },
        },
      ]),
      "resource",
    );
    assert.equal(doc.statements[0]!.principal?.any, true);
    assert.equal(doc.statements[1]!.principal?.any, true);
    const p = doc.statements[2]!.principal!;
    assert.equal(p.any, false);
    assert.deepEqual(
      [...p.krns],
      ["krn:keyhold:iam::444455556666:root", "krn:keyhold:iam::777788889999:root", "krn:keyhold:iam::111122223333:user/alice", "krn:keyhold:iam::111122223333:role/ops/deploy"],
    );
    assert.deepEqual([...p.rootAccounts], ["444455556666", "777788889999"]);
  });

  test("trust policies: sts actions, Principal, no Resource", () => {
    const doc = parsePolicyDocument(documentJson([TRUST_STATEMENT, { ...TRUST_STATEMENT, Action: ["STS:AssumeRole", "sts:TagSession", "sts:*"] }]), "trust");
    assert.equal(doc.kind, "trust");
    assert.equal(doc.statements[0]!.resource, undefined);
    assert.deepEqual(doc.statements[1]!.action.patterns, ["sts:assumerole", "sts:tagsession", "sts:*"]);
  });

  test("every operator, with IfExists, set prefixes, and case-insensitive key names", () => {
    const condition = {
      StringEquals: { "kms:EncryptionContext:tenant": "acme", "KMS:CALLERACCOUNT": ["111122223333"] },
      StringNotEquals: { "kms:ViaService": "secrets" },
      StringEqualsIgnoreCase: { "keyhold:PrincipalType": "USER" },
      StringLike: { "keyhold:PrincipalKrn": "krn:keyhold:iam::*:user/*" },
      StringNotLike: { "keyhold:PrincipalAccount": "9*" },
      StringEqualsIfExists: { "kms:EncryptionContext:Purpose": "backup" },
      "ForAllValues:StringEquals": { "kms:EncryptionContextKeys": ["tenant", "purpose"] },
      "ForAnyValue:StringLikeIfExists": { "kms:encryptioncontextkeys": "t*" },
      IpAddress: { "keyhold:SourceIp": ["10.0.0.0/8", "2001:db8::/32", "::1", "::ffff:192.0.2.0/120"] },
      NotIpAddressIfExists: { "KEYHOLD:SourceIP": "192.0.2.7" },
      Bool: { "keyhold:SecureTransport": ["true", false] },
      DateLessThan: { "keyhold:CurrentTime": "2030-01-01" },
      DateGreaterThan: { "keyhold:CurrentTime": "2020-01-01T00:00:00Z" },
      DateLessThanEquals: { "keyhold:CurrentTime": "2030-01-01T00:00:00.5+02:00" },
      DateGreaterThanEqualsIfExists: { "keyhold:CurrentTime": "2020-01-01T00:00Z" },
      Null: { "kms:ViaService": "false", "keyhold:SourceIp": true },
    };
    const doc = parsePolicyDocument(withCondition(condition), "identity");
    const s = doc.statements[0]!;
    assert.equal(s.conditions.length, 18);
    assert.equal(s.dependsOn, 7);
    const ctx = s.conditions.find((c) => c.key === "encryptionContext" && c.contextKey === "Purpose");
    assert.equal(ctx?.ifExists, true);
    const forAll = s.conditions.find((c) => c.operator === "ForAllValues:StringEquals");
    assert.equal(forAll?.set, "forAllValues");
    const ignoreCase = s.conditions.find((c) => c.operator === "StringEqualsIgnoreCase");
    assert.ok(ignoreCase?.kind === "string" && ignoreCase.exact.has("user"));
  });

  test("the encryption context key keeps its case", () => {
    const doc = parsePolicyDocument(withCondition({ StringEquals: { "KMS:ENCRYPTIONCONTEXT:TenantId": "x" } }), "identity");
    assert.equal(doc.statements[0]!.conditions[0]!.contextKey, "TenantId");
    assert.equal(doc.statements[0]!.dependsOn, 1);
  });

  test("a document exactly at the size limit", () => {
    const base = documentJson({ ...ID_STATEMENT, Sid: "S" });
    const padded = base.slice(0, -1) + " ".repeat(MAX_POLICY_DOCUMENT_BYTES - base.length) + "}";
    assert.equal(padded.length, MAX_POLICY_DOCUMENT_BYTES);
    assert.equal(parsePolicyDocument(padded, "identity").statements.length, 1);
  });
});

describe("parseIsoDate", () => {
  const cases: readonly (readonly [string, string | undefined])[] = [
    ["2025-06-01", "2025-06-01T00:00:00.000Z"],
    ["2025-06-01T12:30Z", "2025-06-01T12:30:00.000Z"],
    ["2025-06-01T12:30:15Z", "2025-06-01T12:30:15.000Z"],
    ["2025-06-01T12:30:15.123456Z", "2025-06-01T12:30:15.123Z"],
    ["2025-06-01T12:30:15.5Z", "2025-06-01T12:30:15.500Z"],
    ["2025-06-01T14:00:00+02:00", "2025-06-01T12:00:00.000Z"],
    ["2025-06-01T07:30:00-04:30", "2025-06-01T12:00:00.000Z"],
    ["2024-02-29", "2024-02-29T00:00:00.000Z"],
    ["2025-02-29", undefined],
    ["2025-04-31", undefined],
    ["2025-00-10", undefined],
    ["2025-06-00", undefined],
    ["2025-06-01T12:60:00Z", undefined],
    ["2025-06-01T12:00:60Z", undefined],
    ["2025-06-01T12:00:00+24:00", undefined],
    ["2025-06-01 12:00:00Z", undefined],
    ["2025-6-1", undefined],
    ["0999-01-01", undefined],
    ["20250601", undefined],
  ];
  for (const [text, iso] of cases) {
    test(`${text} → ${iso ?? "refused"}`, () => {
      const ms = parseIsoDate(text);
      assert.equal(ms === undefined ? undefined : new Date(ms).toISOString(), iso);
    });
  }
});

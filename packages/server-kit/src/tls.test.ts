import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { createAddressMatcher, validateAddressList } from "./address-list.ts";
import { readServerConfig, ServerConfigError } from "./server-config.ts";
import { parseSubjectAltName } from "./tls.ts";

describe("parseSubjectAltName (Node's subjectaltname)", () => {
  const cases: readonly [string, string, { uris: string[]; dnsNames: string[] }][] = [
    ["empty", "", { uris: [], dnsNames: [] }],
    ["one URI", "URI:spiffe://example.org/ns/prod/sa/billing", { uris: ["spiffe://example.org/ns/prod/sa/billing"], dnsNames: [] }],
    [
      "mixed, in order, other types skipped",
      "DNS:a.example, IP Address:10.0.0.1, URI:spiffe://x/y, email:ops@example.org, DNS:b.example, IP Address:0:0:0:0:0:0:0:1, URI:urn:uuid:1234",
      { uris: ["spiffe://x/y", "urn:uuid:1234"], dnsNames: ["a.example", "b.example"] },
    ],
    ["a quoted value (Node escapes special characters)", 'URI:"spiffe://x/a,b", DNS:c.example', { uris: ["spiffe://x/a,b"], dnsNames: ["c.example"] }],
    ["a quoted value with an escaped quote", 'DNS:"we\\"ird", URI:spiffe://x/z', { uris: ["spiffe://x/z"], dnsNames: ['we"ird'] }],
    ["othername", "othername:<unsupported>, DNS:d.example", { uris: [], dnsNames: ["d.example"] }],
    ["an unterminated quote stops parsing, keeping what came before", 'DNS:e.example, URI:"spiffe://x/oops', { uris: [], dnsNames: ["e.example"] }],
    ["no type", "garbage", { uris: [], dnsNames: [] }],
  ];
  for (const [name, text, expected] of cases) {
    test(name, () => assert.deepEqual(parseSubjectAltName(text), expected));
  }
});

describe("address lists (trusted proxies)", () => {
  test("addresses and CIDR ranges, IPv4 and IPv6, IPv4-mapped IPv6 too", () => {
    const trusted = createAddressMatcher(["127.0.0.1", "10.0.0.0/8", "fd00::/8", "::1"]);
    for (const yes of ["127.0.0.1", "10.1.2.3", "10.255.255.255", "fd12:3456::1", "::1", "::ffff:10.9.9.9"]) assert.equal(trusted(yes), true, yes);
    for (const no of ["127.0.0.2", "11.0.0.1", "fe80::1", "::2", "", "localhost", "10.0.0.1:5000"]) assert.equal(trusted(no), false, no);
  });

  test("an empty list matches nothing", () => {
    assert.equal(createAddressMatcher([])("127.0.0.1"), false);
  });

  test("malformed entries are refused, naming the entry", () => {
    for (const bad of ["localhost", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "1.2.3", "10.0.0.0/8/8"]) {
      assert.throws(() => validateAddressList([bad]), (error: Error) => error.message.includes(`"${bad}"`), bad);
    }
  });
});

describe("readServerConfig: TLS and trusted proxies", () => {
  const defaults = { grpc: "127.0.0.1:7700", http: "127.0.0.1:7701" };
  const read = (env: Record<string, string>) => readServerConfig(env, defaults);

  test("defaults: plaintext, no trusted proxies", () => {
    const config = read({});
    assert.equal(config.tls, undefined);
    assert.deepEqual(config.trustedProxies, []);
  });

  test("server TLS; client CA optional by default; required on request", () => {
    assert.deepEqual(read({ KEYHOLD_TLS_CERT_FILE: "/c.pem", KEYHOLD_TLS_KEY_FILE: "/k.pem" }).tls, { certFile: "/c.pem", keyFile: "/k.pem", requireClientCert: false });
    const mutual = { KEYHOLD_TLS_CERT_FILE: "/c.pem", KEYHOLD_TLS_KEY_FILE: "/k.pem", KEYHOLD_TLS_CLIENT_CA_FILE: "/ca.pem" };
    assert.deepEqual(read(mutual).tls, { certFile: "/c.pem", keyFile: "/k.pem", clientCaFile: "/ca.pem", requireClientCert: false });
    assert.equal(read({ ...mutual, KEYHOLD_TLS_REQUIRE_CLIENT_CERT: "true" }).tls?.requireClientCert, true);
    assert.equal(read({ ...mutual, KEYHOLD_TLS_REQUIRE_CLIENT_CERT: "false" }).tls?.requireClientCert, false);
  });

  test("inconsistent TLS settings are refused", () => {
    const bad: Record<string, string>[] = [
      { KEYHOLD_TLS_CERT_FILE: "/c.pem" },
      { KEYHOLD_TLS_KEY_FILE: "/k.pem" },
      { KEYHOLD_TLS_CLIENT_CA_FILE: "/ca.pem" },
      { KEYHOLD_TLS_REQUIRE_CLIENT_CERT: "true" },
      { KEYHOLD_TLS_CERT_FILE: "/c.pem", KEYHOLD_TLS_KEY_FILE: "/k.pem", KEYHOLD_TLS_REQUIRE_CLIENT_CERT: "true" },
      { KEYHOLD_TLS_CERT_FILE: "/c.pem", KEYHOLD_TLS_KEY_FILE: "/k.pem", KEYHOLD_TLS_REQUIRE_CLIENT_CERT: "yes" },
    ];
    for (const env of bad) assert.throws(() => read(env), ServerConfigError, JSON.stringify(env));
  });

  test("trusted proxies: comma-separated, trimmed, validated", () => {
    assert.deepEqual(read({ KEYHOLD_TRUSTED_PROXIES: " 127.0.0.1, 10.0.0.0/8 ,,::1" }).trustedProxies, ["127.0.0.1", "10.0.0.0/8", "::1"]);
    assert.throws(() => read({ KEYHOLD_TRUSTED_PROXIES: "127.0.0.1,sidecar" }), /KEYHOLD_TRUSTED_PROXIES: "sidecar"/);
  });
});

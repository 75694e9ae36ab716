import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cidrContains, parseCidr, parseIpAddress, parseRequestIp } from "./ip.ts";

describe("parseIpAddress", () => {
  const valid: readonly (readonly [string, 4 | 6, readonly number[]])[] = [
    ["0.0.0.0", 4, [0, 0, 0, 0]],
    ["10.1.2.3", 4, [0x0a010203, 0, 0, 0]],
    ["255.255.255.255", 4, [0xffffffff, 0, 0, 0]],
    ["::", 6, [0, 0, 0, 0]],
    ["::1", 6, [0, 0, 0, 1]],
    ["2001:db8::1", 6, [0x20010db8, 0, 0, 1]],
    ["2001:DB8:0:0:0:0:0:1", 6, [0x20010db8, 0, 0, 1]],
    ["fe80::1:2", 6, [0xfe800000, 0, 0, 0x00010002]],
    ["1:2:3:4:5:6:7::", 6, [0x00010002, 0x00030004, 0x00050006, 0x00070000]],
    ["64:ff9b::1.2.3.4", 6, [0x0064ff9b, 0, 0, 0x01020304]],
    ["::ffff:10.1.2.3", 4, [0x0a010203, 0, 0, 0]],
    ["::ffff:a01:203", 4, [0x0a010203, 0, 0, 0]],
  ];
  for (const [text, family, words] of valid) {
    test(`parses ${text}`, () => {
      const ip = parseIpAddress(text);
      assert.ok(ip !== undefined);
      assert.equal(ip.family, family);
      assert.deepEqual([...ip.words], words);
    });
  }

  const invalid = [
    "",
    "10.0.0",
    "10.0.0.0.0",
    "10.0.0.256",
    "010.0.0.1",
    "10.0.0.-1",
    " 10.0.0.1",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "2001:db8:::1",
    "2001::db8::1",
    "12345::1",
    "g::1",
    ":1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8::",
    "::1.2.3",
    "1.2.3.4::",
    "localhost",
  ];
  for (const text of invalid) {
    test(`refuses ${JSON.stringify(text)}`, () => assert.equal(parseIpAddress(text), undefined));
  }
});

describe("parseRequestIp", () => {
  test("tolerates brackets and an IPv6 zone", () => {
    assert.deepEqual(parseRequestIp("[2001:db8::1]")?.words, [0x20010db8, 0, 0, 1]);
    assert.deepEqual(parseRequestIp("fe80::1%eth0")?.words, [0xfe800000, 0, 0, 1]);
    assert.equal(parseRequestIp("10.0.0.1:443"), undefined);
  });
});

describe("parseCidr / cidrContains", () => {
  const cases: readonly (readonly [cidr: string, address: string, inside: boolean])[] = [
    ["10.0.0.0/8", "10.255.0.1", true],
    ["10.0.0.0/8", "11.0.0.1", false],
    ["10.1.2.3/8", "10.9.9.9", true], // host bits are cleared
    ["192.0.2.7", "192.0.2.7", true],
    ["192.0.2.7", "192.0.2.8", false],
    ["192.0.2.7/32", "192.0.2.7", true],
    ["0.0.0.0/0", "203.0.113.9", true],
    ["0.0.0.0/0", "::1", false],
    ["203.0.113.0/25", "203.0.113.127", true],
    ["203.0.113.0/25", "203.0.113.128", false],
    ["2001:db8::/32", "2001:db8:ffff::1", true],
    ["2001:db8::/32", "2001:db9::1", false],
    ["2001:db8::/33", "2001:db8:8000::1", false],
    ["2001:db8:0:0:8000::/65", "2001:db8::8000:0:0:1", true],
    ["2001:db8::/127", "2001:db8::1", true],
    ["2001:db8::/127", "2001:db8::2", false],
    ["::/0", "2001:db8::1", true],
    ["::/0", "10.0.0.1", false],
    ["::1", "::1", true],
    ["::ffff:10.0.0.0/104", "10.2.3.4", true], // IPv4-mapped blocks become IPv4
    ["::ffff:10.0.0.0/104", "11.2.3.4", false],
    ["10.0.0.0/8", "::ffff:10.2.3.4", true], // IPv4-mapped peers too
  ];
  for (const [cidr, address, inside] of cases) {
    test(`${cidr} ${inside ? "contains" : "does not contain"} ${address}`, () => {
      const block = parseCidr(cidr);
      const ip = parseRequestIp(address);
      assert.ok(block !== undefined && ip !== undefined);
      assert.equal(cidrContains(block, ip), inside);
    });
  }

  for (const text of ["10.0.0.0/33", "10.0.0.0/", "10.0.0.0/08", "10.0.0.0/-1", "2001:db8::/129", "2001:db8::/1/2", "/8", "10.0.0.0/8 "]) {
    test(`refuses ${JSON.stringify(text)}`, () => assert.equal(parseCidr(text), undefined));
  }
});

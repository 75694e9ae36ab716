import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { DUMMY_DIGEST, digestsEqual, formatToken, isWellFormedToken, newHexId, newSecret, parseToken, secretDigest } from "./credentials.ts";

const random = (size: number) => randomBytes(size);

describe("credential tokens", () => {
  test("generated API keys, session tokens and grant tokens parse back into kind, id and secret", () => {
    for (let i = 0; i < 200; i++) {
      const id = newHexId(random, 8);
      const secret = newSecret(random);
      assert.match(id, /^[0-9a-f]{16}$/);
      assert.match(secret, /^[A-Za-z0-9_-]{43}$/);
      const apiKey = formatToken("api-key", id, secret);
      assert.ok(apiKey.startsWith(`khk_${id}_`));
      assert.deepEqual(parseToken(apiKey), { kind: "api-key", id, secret });
      assert.ok(isWellFormedToken(apiKey, "api-key"));
      assert.ok(!isWellFormedToken(apiKey, "session"));
      assert.deepEqual(parseToken(formatToken("session", id, secret)), { kind: "session", id, secret });
      const grantId = newHexId(random, 16);
      assert.deepEqual(parseToken(formatToken("grant", grantId, secret)), { kind: "grant", id: grantId, secret });
    }
  });

  test("a secret may contain '_' and '-' (base64url): the id is split off by position", () => {
    const token = `khk_0123456789abcdef__-_${"a".repeat(40)}`;
    assert.deepEqual(parseToken(token), { kind: "api-key", id: "0123456789abcdef", secret: `_-_${"a".repeat(40)}` });
  });

  test("malformed tokens do not parse", () => {
    const good = formatToken("api-key", "0123456789abcdef", "A".repeat(43));
    for (const bad of [
      "",
      "khk_",
      "khk_0123456789abcdef",
      "khk_0123456789abcdef_",
      "khk_0123456789ABCDEF_" + "A".repeat(43),
      "khk_0123456789abcde_" + "A".repeat(43),
      "khk_0123456789abcdef0_" + "A".repeat(43),
      "khk-0123456789abcdef_" + "A".repeat(43),
      "KHK_0123456789abcdef_" + "A".repeat(43),
      "khx_0123456789abcdef_" + "A".repeat(43),
      "khg_0123456789abcdef_" + "A".repeat(43),
      `${good}=`,
      `${good} `,
      `${good}+`,
      good.replace("khk_", "khk_ "),
      "Bearer " + good,
      "khk_0123456789abcdef_" + "A".repeat(600),
    ]) {
      assert.equal(parseToken(bad), undefined, bad);
    }
  });

  test("a token with a secret of the wrong length parses (it fails the digest comparison instead) but is not well-formed", () => {
    const short = "khk_0123456789abcdef_" + "A".repeat(42);
    const long = "khk_0123456789abcdef_" + "A".repeat(44);
    assert.ok(parseToken(short) !== undefined);
    assert.ok(parseToken(long) !== undefined);
    assert.ok(!isWellFormedToken(short, "api-key"));
    assert.ok(!isWellFormedToken(long, "api-key"));
  });

  test("digests are 32 bytes; equality is on digests only", () => {
    const a = secretDigest("secret-a");
    assert.equal(a.length, 32);
    assert.ok(digestsEqual(a, secretDigest("secret-a")));
    assert.ok(!digestsEqual(a, secretDigest("secret-b")));
    assert.ok(!digestsEqual(a, DUMMY_DIGEST));
    assert.ok(!digestsEqual(a, a.subarray(0, 16)), "a short buffer is unequal, never a thrown RangeError");
    assert.ok(!digestsEqual(Buffer.alloc(0), Buffer.alloc(0)));
  });
});

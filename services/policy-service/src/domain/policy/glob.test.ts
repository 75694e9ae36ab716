import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { compilePatternSet, globMatch, matchesPatternSet } from "./glob.ts";

const CASES: readonly (readonly [pattern: string, value: string, expected: boolean])[] = [
  ["*", "", true],
  ["*", "anything:at/all", true],
  ["kms:Encrypt", "kms:Encrypt", true],
  ["kms:Encrypt", "kms:Encrypts", false],
  ["kms:Encrypt", "kms:encrypt", false],
  ["kms:List*", "kms:List", true],
  ["kms:List*", "kms:ListKeys", true],
  ["kms:List*", "kms:Lis", false],
  ["kms:*Key", "kms:CreateKey", true],
  ["kms:*Key", "kms:CreateKeys", false],
  ["kms:Gen*Key*", "kms:GenerateDataKeyWithoutPlaintext", true],
  ["kms:Gen*Key*", "kms:GenerateRandom", false],
  ["kms:Encryp?", "kms:Encrypt", true],
  ["kms:Encryp?", "kms:Encryp", false],
  ["kms:Encryp?", "kms:Encryptt", false],
  ["?", "", false],
  ["??", "ab", true],
  ["a*b*c", "abc", true],
  ["a*b*c", "aXbYc", true],
  ["a*b*c", "aXbY", false],
  ["a**b", "ab", true],
  ["*a", "bba", true],
  ["*a", "bab", false],
  ["a*", "", false],
  ["*?", "", false],
  ["*?", "x", true],
  ["krn:keyhold:kms:*:111122223333:key/*", "krn:keyhold:kms:eu-west-1:111122223333:key/abc", true],
  ["krn:keyhold:kms:*:111122223333:key/*", "krn:keyhold:kms:eu-west-1:111122223333:alias/abc", false],
  ["krn:keyhold:kms:*:111122223333:*", "krn:keyhold:kms:eu-west-1:444455556666:key/abc", false],
  ["krn:*:key/*", "krn:keyhold:kms:eu-west-1:111122223333:key/x", true],
];

describe("globMatch", () => {
  for (const [pattern, value, expected] of CASES) {
    test(`${JSON.stringify(pattern)} vs ${JSON.stringify(value)} → ${expected}`, () => {
      assert.equal(globMatch(pattern, value), expected);
      // The compiled set (exact / prefix / glob paths) agrees with the plain matcher.
      assert.equal(matchesPatternSet(compilePatternSet([pattern]), value), expected);
    });
  }

  test("a hostile pattern against a long value stays fast (no exponential backtracking)", () => {
    const pattern = "*a".repeat(40) + "b";
    const value = "krn:keyhold:kms:eu-west-1:111122223333:key/" + "a".repeat(2000);
    const start = performance.now();
    assert.equal(globMatch(pattern, value), false);
    assert.ok(performance.now() - start < 500, "took too long");
  });
});

describe("compilePatternSet", () => {
  test("sorts patterns into any / exact / prefixes / globs", () => {
    const set = compilePatternSet(["kms:encrypt", "kms:list*", "kms:gen*key", "kms:describe**"]);
    assert.equal(set.any, false);
    assert.deepEqual([...set.exact], ["kms:encrypt"]);
    assert.deepEqual(set.prefixes, ["kms:list", "kms:describe"]);
    assert.deepEqual(set.globs.map((g) => g.source), ["kms:gen*key"]);
    assert.deepEqual(set.patterns, ["kms:encrypt", "kms:list*", "kms:gen*key", "kms:describe**"]);
    assert.equal(compilePatternSet(["x", "*"]).any, true);
  });

  test("matches when any pattern matches", () => {
    const set = compilePatternSet(["a", "b*", "*c"]);
    assert.equal(matchesPatternSet(set, "a"), true);
    assert.equal(matchesPatternSet(set, "bzz"), true);
    assert.equal(matchesPatternSet(set, "zzc"), true);
    assert.equal(matchesPatternSet(set, "zz"), false);
  });
});

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, test } from "node:test";
import { combine, combineRaw, decodeShare, gfInv, gfMul, sameShare, SHARE_PREFIX, ShamirError, split, splitRaw, type RawShare } from "./shamir.ts";

/** A deterministic random source that hands out the given bytes in order. */
function scripted(bytes: number[]): (size: number) => Buffer {
  let at = 0;
  return (size) => {
    const out = Buffer.from(bytes.slice(at, at + size));
    at += size;
    assert.equal(out.length, size, "scripted randomness ran out");
    return out;
  };
}

function subsets<T>(items: readonly T[], size: number): T[][] {
  if (size === 0) return [[]];
  if (items.length < size) return [];
  const [head, ...rest] = items as [T, ...T[]];
  return [...subsets(rest, size - 1).map((s) => [head, ...s]), ...subsets(rest, size)];
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomBytes(1)[0]! % (i + 1);
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

const kind = (k: ShamirError["kind"]) => (error: unknown) => error instanceof ShamirError && error.kind === k;

describe("GF(2^8)", () => {
  test("known products (FIPS-197 4.2) and inverses", async () => {
    assert.equal(gfMul(0x57, 0x83), 0xc1);
    assert.equal(gfMul(0x57, 0x13), 0xfe);
    assert.equal(gfMul(0x53, 0xca), 0x01);
    assert.equal(gfInv(0x53), 0xca);
    assert.equal(gfInv(0x01), 0x01);
    assert.equal(gfInv(0x00), 0x00);
  });
  test("every non-zero element times its inverse is 1; multiplication commutes", async () => {
    for (let a = 1; a < 256; a++) {
      assert.equal(gfMul(a, gfInv(a)), 1, `a=${a}`);
      for (let b = 0; b < 256; b += 17) assert.equal(gfMul(a, b), gfMul(b, a));
    }
  });
});

describe("raw split and combine", () => {
  test("known answer: t=2, coefficient 0x05, secret 0x42", async () => {
    const shares = splitRaw(Buffer.of(0x42), 3, 2, scripted([0x05]));
    assert.deepEqual(shares.map((s) => [s.x, s.y[0]]), [[1, 0x47], [2, 0x48], [3, 0x4d]]);
    assert.deepEqual(combineRaw([shares[2]!, shares[0]!]), Buffer.of(0x42));
  });
  test("known answer: t=3, coefficients 1 (x) and 1 (x^2), secret 0 gives x^2 + x", async () => {
    const shares = splitRaw(Buffer.of(0x00), 4, 3, scripted([0x01, 0x01]));
    assert.deepEqual(shares.map((s) => s.y[0]), [1 ^ 1, 2 ^ 4, 3 ^ 5, 4 ^ 0x10]);
  });
  test("fresh randomness for every byte, zeroed after use", async () => {
    const handed: Buffer[] = [];
    splitRaw(randomBytes(32), 5, 3, (size) => {
      const b = randomBytes(size);
      handed.push(b);
      return b;
    });
    assert.equal(handed.length, 32);
    assert.ok(handed.every((b) => b.length === 2 && b.every((v) => v === 0)));
  });
  test("t-1 shares are consistent with every other secret: nothing testable", async () => {
    for (const t of [2, 3, 5]) {
      const secret = randomBytes(16);
      const shares = splitRaw(secret, t + 2, t);
      const known = shares.slice(0, t - 1);
      for (const other of [Buffer.alloc(16), randomBytes(16), Buffer.alloc(16, 0xff)]) {
        // The polynomial through (0, other) and the t-1 known points has degree ≤ t-1: a valid
        // split of `other`. Evaluate it at a further x and combine: it yields `other`.
        const points: RawShare[] = [{ x: 0, y: other }, ...known];
        const x = 200;
        const y = Buffer.alloc(16);
        for (let b = 0; b < 16; b++) {
          let value = 0;
          points.forEach((p, i) => {
            let weight = 1;
            points.forEach((q, j) => {
              if (j !== i) weight = gfMul(weight, gfMul(x ^ q.x, gfInv(p.x ^ q.x)));
            });
            value ^= gfMul(weight, p.y[b]!);
          });
          y[b] = value;
        }
        assert.deepEqual(combineRaw([...known, { x, y }]), other);
      }
    }
  });
  test("parameters are checked", async () => {
    assert.throws(() => splitRaw(Buffer.alloc(0), 3, 2), RangeError);
    assert.throws(() => splitRaw(Buffer.alloc(1), 1, 1), RangeError);
    assert.throws(() => splitRaw(Buffer.alloc(1), 3, 4), RangeError);
    assert.throws(() => splitRaw(Buffer.alloc(1), 256, 2), RangeError);
    assert.throws(() => splitRaw(Buffer.alloc(1), 3, 1), RangeError);
  });
});

describe("encoded shares", () => {
  test("every subset of size t recovers the secret, in any order; more than t too", async () => {
    for (const [n, t] of [[2, 2], [3, 2], [5, 3], [6, 6], [7, 4]] as const) {
      const secret = randomBytes(32);
      const shares = split(secret, n, t);
      assert.equal(shares.length, n);
      assert.ok(shares.every((s) => s.startsWith(SHARE_PREFIX)));
      for (const subset of subsets(shares, t)) {
        assert.deepEqual(combine(shuffled(subset).map(decodeShare)), secret);
      }
      assert.deepEqual(combine(shuffled(shares).map(decodeShare)), secret);
    }
  });
  test("t-1 shares are too few", async () => {
    const shares = split(randomBytes(32), 5, 3).map(decodeShare);
    assert.throws(() => combine(shares.slice(0, 2)), kind("too-few"));
    assert.throws(() => combine([]), kind("too-few"));
  });
  test("a repeated share is refused", async () => {
    const shares = split(randomBytes(32), 5, 3).map(decodeShare);
    assert.throws(() => combine([shares[0]!, shares[1]!, shares[0]!]), kind("duplicate"));
    assert.ok(sameShare(shares[0]!, decodeShare(split(Buffer.alloc(1), 2, 2)[0]!)) === false);
  });
  test("a corrupted share fails its checksum", async () => {
    const [share] = split(randomBytes(32), 3, 2);
    const bytes = Buffer.from(share!.slice(SHARE_PREFIX.length), "base64url");
    for (const at of [0, 5, 12, 30, bytes.length - 1]) {
      const bad = Buffer.from(bytes);
      bad[at]! ^= 0x01;
      assert.throws(() => decodeShare(SHARE_PREFIX + bad.toString("base64url")), kind("checksum"), `byte ${at}`);
    }
    assert.throws(() => decodeShare("hello"), kind("format"));
    assert.throws(() => decodeShare(SHARE_PREFIX + "!!"), kind("format"));
    assert.throws(() => decodeShare(SHARE_PREFIX + "AAAA"), kind("format"));
  });
  test("a share of another split is detected, not combined into a wrong secret", async () => {
    const a = split(randomBytes(32), 3, 2).map(decodeShare);
    const b = split(randomBytes(32), 3, 2).map(decodeShare);
    assert.throws(() => combine([a[0]!, b[1]!]), kind("mismatch"));
  });
  test("a well-formed share with a wrong y (same split) is detected by the tag", async () => {
    const secret = randomBytes(32);
    const shares = split(secret, 3, 2).map(decodeShare);
    const forged = { ...shares[1]!, y: Buffer.from(shares[1]!.y) };
    forged.y[3]! ^= 0x80;
    assert.throws(() => combine([shares[0]!, forged]), kind("mismatch"));
  });
  test("shares of the same secret differ between splits (fresh randomness)", async () => {
    const secret = randomBytes(32);
    assert.notDeepEqual(split(secret, 3, 2), split(secret, 3, 2));
  });
});

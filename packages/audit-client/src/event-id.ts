// Audit event ids: UUIDv7 (RFC 9562 §5.7): 48 bits of Unix time in milliseconds, then a 12-bit
// counter that keeps ids from one generator increasing within a millisecond, then 62 random
// bits. Time-ordered ids keep audit-service's event_id index append-mostly: random (v4) ids put
// every insert on a random index page, which costs far more write and fsync per event as the
// log grows.
import { randomFillSync } from "node:crypto";

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));
const POOL_BYTES = 4096;

/** A generator of increasing UUIDv7 strings (lower-case), with its own random pool. */
export function uuidV7Generator(now: () => number = Date.now): () => string {
  const pool = new Uint8Array(POOL_BYTES);
  let poolAt = POOL_BYTES;
  let lastMs = -1;
  let counter = 0;
  const bytes = new Uint8Array(16);
  return () => {
    if (poolAt + 10 > POOL_BYTES) {
      randomFillSync(pool);
      poolAt = 0;
    }
    let ms = Math.floor(now());
    if (ms <= lastMs) {
      // Same (or an earlier) millisecond: count up; past 4095, borrow the next millisecond.
      counter++;
      if (counter > 0xfff) {
        lastMs++;
        counter = 0;
      }
      ms = lastMs;
    } else {
      lastMs = ms;
      counter = 0;
    }
    let t = ms;
    for (let i = 5; i >= 0; i--) {
      bytes[i] = t % 256;
      t = Math.floor(t / 256);
    }
    bytes[6] = 0x70 | (counter >> 8);
    bytes[7] = counter & 0xff;
    bytes.set(pool.subarray(poolAt, poolAt + 8), 8);
    poolAt += 8;
    bytes[8] = (bytes[8]! & 0x3f) | 0x80;
    let out = "";
    for (let i = 0; i < 16; i++) {
      out += HEX[bytes[i]!]!;
      if (i === 3 || i === 5 || i === 7 || i === 9) out += "-";
    }
    pool.fill(0, poolAt - 8, poolAt);
    return out;
  };
}

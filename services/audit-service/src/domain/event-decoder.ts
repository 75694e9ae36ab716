// Decoding an encoded AuditEvent into plain fields, fast, for the log writer: events as the
// services' encoder writes them (every field at most once, ASCII text, no unknown fields) are
// read here in one pass without reflection; anything else (non-ASCII text, repeated or unknown
// fields, odd wire types, malformed bytes) is left to protobuf-es fromBinary, so the result is
// always what fromBinary would give. The tests check that over generated and mutated events.
import type { AuditEventFields } from "@keyhold/audit-client";
import { decodeEvent } from "./event.ts";

/** Not the common shape: decode with fromBinary instead (one instance, thrown as a signal). */
class UnusualShape extends Error {
  override readonly name = "UnusualShape";
}
const UNUSUAL = new UnusualShape("not the common AuditEvent shape");

class Reader {
  readonly bytes: Buffer;
  pos: number;
  readonly end: number;

  constructor(bytes: Buffer, pos: number, end: number) {
    this.bytes = bytes;
    this.pos = pos;
    this.end = end;
  }

  /** An unsigned varint of at most 7 bytes (anything larger is unusual here). */
  varint(): number {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw UNUSUAL;
      const byte = this.bytes[this.pos++]!;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
    throw UNUSUAL;
  }

  /** An int64 varint (up to 10 bytes; negative values are two's complement). */
  int64(): bigint {
    const start = this.pos;
    const small = this.tryVarint();
    if (small !== undefined) return BigInt(small);
    this.pos = start;
    let result = 0n;
    let shift = 0n;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw UNUSUAL;
      const byte = this.bytes[this.pos++]!;
      result |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asIntN(64, result);
      shift += 7n;
    }
    throw UNUSUAL;
  }

  private tryVarint(): number | undefined {
    let result = 0;
    let scale = 1;
    for (let i = 0; i < 7; i++) {
      if (this.pos >= this.end) throw UNUSUAL;
      const byte = this.bytes[this.pos++]!;
      result += (byte & 0x7f) * scale;
      if (byte < 0x80) return result;
      scale *= 128;
    }
    return undefined;
  }

  int32(): number {
    return Number(BigInt.asIntN(32, this.int64()));
  }

  /** A length-delimited ASCII string. */
  ascii(): string {
    const length = this.varint();
    const start = this.pos;
    const stop = start + length;
    if (stop > this.end) throw UNUSUAL;
    const bytes = this.bytes;
    for (let i = start; i < stop; i++) if (bytes[i]! > 0x7f) throw UNUSUAL;
    this.pos = stop;
    return bytes.toString("latin1", start, stop);
  }

  /** A nested message's reader (and moves past it). */
  nested(): Reader {
    const length = this.varint();
    const stop = this.pos + length;
    if (stop > this.end) throw UNUSUAL;
    const inner = new Reader(this.bytes, this.pos, stop);
    this.pos = stop;
    return inner;
  }
}

function fastDecode(input: Uint8Array): AuditEventFields {
  const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const r = new Reader(bytes, 0, bytes.length);
  const strings: string[] = ["", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", ""];
  let time: { seconds: bigint; nanos: number } | undefined;
  let outcome: { code: number; reason: string } | undefined;
  let latencyMicros = 0n;
  let sourceSequence = 0n;
  const encryptionContext: Record<string, string> = {};
  let seen = 0;
  while (r.pos < r.end) {
    const tag = r.varint();
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 13) {
      if (wireType !== 2) throw UNUSUAL;
      const entry = r.nested();
      let key = "";
      let value = "";
      let entrySeen = 0;
      while (entry.pos < entry.end) {
        const entryTag = entry.varint();
        if (entryTag === 0x0a && (entrySeen & 1) === 0) {
          key = entry.ascii();
          entrySeen |= 1;
        } else if (entryTag === 0x12 && (entrySeen & 2) === 0) {
          value = entry.ascii();
          entrySeen |= 2;
        } else throw UNUSUAL;
      }
      if (Object.hasOwn(encryptionContext, key)) throw UNUSUAL;
      encryptionContext[key] = value;
      continue;
    }
    if (field < 1 || field > 18) throw UNUSUAL;
    const bit = 1 << field;
    if ((seen & bit) !== 0) throw UNUSUAL;
    seen |= bit;
    if (field === 2 || field === 14) {
      if (wireType !== 2) throw UNUSUAL;
      const inner = r.nested();
      let a: bigint | number = field === 2 ? 0n : 0;
      let b = field === 2 ? 0 : "";
      let innerSeen = 0;
      while (inner.pos < inner.end) {
        const innerTag = inner.varint();
        if (innerTag === 0x08 && (innerSeen & 1) === 0) {
          a = field === 2 ? inner.int64() : inner.int32();
          innerSeen |= 1;
        } else if (field === 2 && innerTag === 0x10 && (innerSeen & 2) === 0) {
          b = inner.int32();
          innerSeen |= 2;
        } else if (field === 14 && innerTag === 0x12 && (innerSeen & 2) === 0) {
          b = inner.ascii();
          innerSeen |= 2;
        } else throw UNUSUAL;
      }
      if (field === 2) time = { seconds: a as bigint, nanos: b as number };
      else outcome = { code: a as number, reason: b as string };
    } else if (field === 15 || field === 18) {
      if (wireType !== 0) throw UNUSUAL;
      if (field === 15) latencyMicros = r.int64();
      else sourceSequence = r.int64();
    } else {
      if (wireType !== 2) throw UNUSUAL;
      strings[field - 1] = r.ascii();
    }
  }
  return {
    eventId: strings[0]!,
    time,
    service: strings[2]!,
    action: strings[3]!,
    principalKrn: strings[4]!,
    accountId: strings[5]!,
    sourceIp: strings[6]!,
    userAgent: strings[7]!,
    requestId: strings[8]!,
    traceId: strings[9]!,
    resource: strings[10]!,
    keyVersionId: strings[11]!,
    encryptionContext,
    outcome,
    latencyMicros,
    callingService: strings[15]!,
    source: strings[16]!,
    sourceSequence,
  };
}

/** The event's fields; throws (as fromBinary does) when the bytes are not an AuditEvent. */
export function decodeEventFields(bytes: Uint8Array): AuditEventFields {
  try {
    return fastDecode(bytes);
  } catch (error) {
    if (error !== UNUSUAL) throw error;
    return decodeEvent(bytes);
  }
}

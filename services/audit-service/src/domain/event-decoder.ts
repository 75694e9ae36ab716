// Decoding an encoded AuditEvent into plain fields, fast, for the log writer: events as the
// services' encoder writes them (every field at most once, ASCII text, no unknown fields) are
// read here in one pass without reflection; anything else (non-ASCII text, repeated or unknown
// fields, odd wire types, malformed bytes) is left to protobuf-es fromBinary, so the result is
// always what fromBinary would give. The tests check that over generated and mutated events.
//
// The same pass finds the event's canonical encoding (see @keyhold/audit-client
// canonical-event.ts: fields in number order with the encryption context entries last and
// sorted, no default values written, minimal varints) when the bytes are already that, or that
// with fields appended after the context entries (how a shipper adds source and source_sequence
// to an event the services' encoder wrote): the log then stores those bytes, moved into place,
// instead of encoding the event again.
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
  /** False once something was read that the canonical encoding writes otherwise (still valid protobuf). */
  canonical = true;

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
      if (byte < 0x80) {
        if (byte === 0 && i > 0) this.canonical = false;
        return result;
      }
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
      if (byte < 0x80) {
        const value = BigInt.asIntN(64, result);
        // (Canonical: minimal, no bits past the 64th; negative values are left to the encoder.)
        if ((byte === 0 && i > 0) || value < 0n || value !== result) this.canonical = false;
        return value;
      }
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
      if (byte < 0x80) {
        if (byte === 0 && i > 0) this.canonical = false;
        return result;
      }
      scale *= 128;
    }
    return undefined;
  }

  int32(): number {
    const start = this.pos;
    const small = this.tryVarint();
    if (small !== undefined && small <= 0x7fffffff) return small;
    // Negative, or wider than 32 bits (truncated as protobuf does): left to the encoder.
    this.pos = start;
    this.canonical = false;
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

/** An event's fields, and its canonical encoding when the bytes hold it (undefined: encode the fields). */
export interface DecodedEvent {
  readonly fields: AuditEventFields;
  readonly canonicalBytes: Uint8Array | undefined;
}

function fastDecode(input: Uint8Array): DecodedEvent {
  const bytes = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  const r = new Reader(bytes, 0, bytes.length);
  const strings: string[] = ["", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", "", ""];
  let time: { seconds: bigint; nanos: number } | undefined;
  let outcome: { code: number; reason: string } | undefined;
  let latencyMicros = 0n;
  let sourceSequence = 0n;
  const encryptionContext: Record<string, string> = {};
  let seen = 0;
  // Canonical order: fields ascending, the context entries last, their keys ascending. Fields
  // after one contiguous run of context entries are fine too: they are moved before it.
  let canonical = true;
  let lastField = 0;
  let lastKey: string | undefined;
  let contextStart = -1;
  let contextEnd = -1;
  while (r.pos < r.end) {
    const fieldStart = r.pos;
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
          // (Canonical: the key first.)
          if (entrySeen !== 0) canonical = false;
          key = entry.ascii();
          entrySeen |= 1;
        } else if (entryTag === 0x12 && (entrySeen & 2) === 0) {
          value = entry.ascii();
          entrySeen |= 2;
        } else throw UNUSUAL;
      }
      // (A key "__proto__" would not become an own property here: fromBinary decides.)
      if (Object.hasOwn(encryptionContext, key) || key === "__proto__") throw UNUSUAL;
      // (ASCII keys: string order is UTF-8 byte order.)
      if (entrySeen !== 3 || !entry.canonical || (lastKey !== undefined && key <= lastKey)) canonical = false;
      lastKey = key;
      if (contextStart === -1) contextStart = fieldStart;
      else if (contextEnd !== fieldStart) canonical = false; // (a second run of entries)
      contextEnd = r.pos;
      encryptionContext[key] = value;
      continue;
    }
    if (field < 1 || field > 18) throw UNUSUAL;
    const bit = 1 << field;
    if ((seen & bit) !== 0) throw UNUSUAL;
    seen |= bit;
    if (field <= lastField) canonical = false;
    lastField = field;
    if (field === 2 || field === 14) {
      if (wireType !== 2) throw UNUSUAL;
      const inner = r.nested();
      let a: bigint | number = field === 2 ? 0n : 0;
      let b = field === 2 ? 0 : "";
      let innerSeen = 0;
      while (inner.pos < inner.end) {
        const innerTag = inner.varint();
        if (innerTag === 0x08 && (innerSeen & 1) === 0) {
          if (innerSeen !== 0) canonical = false;
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
      // (Canonical: zero values and empty text are not written.)
      if (!inner.canonical || ((innerSeen & 1) !== 0 && (a === 0n || a === 0)) || ((innerSeen & 2) !== 0 && (b === 0 || b === ""))) canonical = false;
      if (field === 2) time = { seconds: a as bigint, nanos: b as number };
      else outcome = { code: a as number, reason: b as string };
    } else if (field === 15 || field === 18) {
      if (wireType !== 0) throw UNUSUAL;
      const value = r.int64();
      if (value === 0n) canonical = false;
      if (field === 15) latencyMicros = value;
      else sourceSequence = value;
    } else {
      if (wireType !== 2) throw UNUSUAL;
      const value = r.ascii();
      if (value === "") canonical = false;
      strings[field - 1] = value;
    }
  }
  const fields: AuditEventFields = {
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
  if (!canonical || !r.canonical) return { fields, canonicalBytes: undefined };
  if (contextStart === -1 || contextEnd === bytes.length) return { fields, canonicalBytes: input };
  // The fields after the context entries go before them.
  const moved = Buffer.allocUnsafe(bytes.length);
  bytes.copy(moved, 0, 0, contextStart);
  bytes.copy(moved, contextStart, contextEnd);
  bytes.copy(moved, contextStart + bytes.length - contextEnd, contextStart, contextEnd);
  return { fields, canonicalBytes: moved };
}

/**
 * The event's fields, and its canonical encoding when the bytes hold it (undefined whenever in
 * doubt); throws (as fromBinary does) when the bytes are not an AuditEvent.
 */
export function decodeEventWithShape(bytes: Uint8Array): DecodedEvent {
  try {
    return fastDecode(bytes);
  } catch (error) {
    if (error !== UNUSUAL) throw error;
    return { fields: decodeEvent(bytes), canonicalBytes: undefined };
  }
}

/** The event's fields; throws (as fromBinary does) when the bytes are not an AuditEvent. */
export function decodeEventFields(bytes: Uint8Array): AuditEventFields {
  return decodeEventWithShape(bytes).fields;
}

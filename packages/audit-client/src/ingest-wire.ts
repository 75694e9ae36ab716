// AppendEvents without decoding and re-encoding every event. On the wire a `repeated
// AuditEvent events = 2` and a `repeated bytes events = 2` are the same bytes, and appending
// fields to an encoded message is a valid encoding of the message with those fields set. So the
// shipper sends the outbox's stored bytes, each followed by its source (field 17) and
// source_sequence (field 18), through a client of the same RPC whose request declares the events
// as bytes: audit-service decodes exactly what it would from the generated client. This works
// over binary encodings only (gRPC, gRPC-Web, Connect with useBinaryFormat, the in-process
// router transport), not Connect JSON.
import { create, createFileRegistry, type Message } from "@bufbuild/protobuf";
import type { GenMessage, GenService } from "@bufbuild/protobuf/codegenv2";
import { FieldDescriptorProto_Label, FieldDescriptorProto_Type, FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { unpackEvents, type PackedEvents } from "./outbox-protocol.ts";
import { AuditEventSchema, AuditIngestService } from "@keyhold/proto";

export type RawAppendEventsRequest = Message<"keyhold.audit.v1.RawAppendEventsRequest"> & {
  source: string;
  /** Each an encoded keyhold.audit.v1.AuditEvent. */
  events: Uint8Array[];
};

export type RawAppendEventsResponse = Message<"keyhold.audit.v1.RawAppendEventsResponse"> & {
  acknowledgedThrough: bigint;
};

export type RawAuditIngestMethods = {
  appendEvents: {
    methodKind: "unary";
    input: GenMessage<RawAppendEventsRequest>;
    output: GenMessage<RawAppendEventsResponse>;
  };
};

export type RawAuditIngestService = GenService<RawAuditIngestMethods>;

const { OPTIONAL, REPEATED } = FieldDescriptorProto_Label;
const { STRING, BYTES, INT64 } = FieldDescriptorProto_Type;

function rawIngestService(): RawAuditIngestService {
  const real = AuditIngestService.method.appendEvents;
  const registry = createFileRegistry(
    create(FileDescriptorProtoSchema, {
      name: "keyhold/audit/v1/audit_ingest_raw.proto",
      package: "keyhold.audit.v1",
      syntax: "proto3",
      messageType: [
        {
          name: "RawAppendEventsRequest",
          field: [
            { name: "source", number: 1, label: OPTIONAL, type: STRING, jsonName: "source" },
            { name: "events", number: 2, label: REPEATED, type: BYTES, jsonName: "events" },
          ],
        },
        {
          name: "RawAppendEventsResponse",
          field: [{ name: "acknowledged_through", number: 1, label: OPTIONAL, type: INT64, jsonName: "acknowledgedThrough" }],
        },
      ],
      service: [
        {
          name: AuditIngestService.name,
          method: [
            { name: real.name, inputType: ".keyhold.audit.v1.RawAppendEventsRequest", outputType: ".keyhold.audit.v1.RawAppendEventsResponse" },
          ],
        },
      ],
    }),
    () => undefined,
  );
  const service = registry.getService(AuditIngestService.typeName);
  if (service === undefined) throw new Error("raw AuditIngestService descriptor missing");
  // Guard the wire compatibility this relies on: same service and method, same field numbers.
  const input = real.input;
  if (input.field.source.number !== 1 || input.field.events.number !== 2) throw new Error("AppendEventsRequest field numbers changed");
  if (real.output.field.acknowledgedThrough.number !== 1) throw new Error("AppendEventsResponse field numbers changed");
  if (AuditEventSchema.field.source.number !== 17 || AuditEventSchema.field.sourceSequence.number !== 18) {
    throw new Error("AuditEvent source field numbers changed");
  }
  return service as unknown as RawAuditIngestService;
}

export const RawAuditIngest: RawAuditIngestService = rawIngestService();

/** The encoded fields that follow each stored event: source (17) and source_sequence (18). */
export function withSourceFields(event: Uint8Array, sourceField: Uint8Array, sequence: number): Uint8Array {
  return unpackEvents(packWithSourceFields([event], [sequence], sourceField))[0]!;
}

/** Tag of field 18 (source_sequence, varint): 18 << 3 | 0 = 144, as a varint. */
const SEQUENCE_TAG = [0x90, 0x01] as const;

/**
 * Stored events, each followed by its source (the encoded field 17) and source_sequence (field
 * 18), packed back to back into one buffer: how the shipper sends them, built with one allocation.
 */
export function packWithSourceFields(events: readonly Uint8Array[], sequences: ArrayLike<number>, sourceField: Uint8Array): PackedEvents {
  let total = 0;
  for (const event of events) total += event.byteLength + sourceField.byteLength + 2 + 10;
  const bytes = new Uint8Array(total);
  const lengths = new Uint32Array(events.length);
  let offset = 0;
  events.forEach((event, i) => {
    const start = offset;
    bytes.set(event, offset);
    offset += event.byteLength;
    bytes.set(sourceField, offset);
    offset += sourceField.byteLength;
    bytes[offset++] = SEQUENCE_TAG[0];
    bytes[offset++] = SEQUENCE_TAG[1];
    let v = sequences[i]!;
    if (!Number.isSafeInteger(v) || v < 0) throw new Error(`bad outbox sequence ${v}`);
    while (v > 0x7f) {
      bytes[offset++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    bytes[offset++] = v;
    lengths[i] = offset - start;
  });
  return { bytes: bytes.subarray(0, offset), lengths };
}

/** Field 17 (source) of AuditEvent, encoded. */
export function sourceField(source: string): Uint8Array {
  return new BinaryWriter().tag(17, WireType.LengthDelimited).string(source).finish();
}

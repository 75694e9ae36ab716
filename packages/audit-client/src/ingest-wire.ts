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
  const sequenceField = new BinaryWriter().tag(18, WireType.Varint).int64(sequence).finish();
  const out = new Uint8Array(event.byteLength + sourceField.byteLength + sequenceField.byteLength);
  out.set(event, 0);
  out.set(sourceField, event.byteLength);
  out.set(sequenceField, event.byteLength + sourceField.byteLength);
  return out;
}

/** Field 17 (source) of AuditEvent, encoded. */
export function sourceField(source: string): Uint8Array {
  return new BinaryWriter().tag(17, WireType.LengthDelimited).string(source).finish();
}

// Request duration per method and status code: one OTel histogram (its _count is the request
// count), recorded with attribute sets made once per method and code and reused, so a call
// allocates nothing for its metrics.
import type { DescMethod } from "@bufbuild/protobuf";
import type { Attributes, Histogram, Meter } from "@opentelemetry/api";

/** OTel semantic conventions (RPC): server call duration in seconds. */
export const RPC_SERVER_DURATION = "rpc.server.call.duration";

/** Seconds: sub-millisecond hot paths up to slow HSM or network calls. */
export const DURATION_BUCKETS_SECONDS: readonly number[] = [
  0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];

/** The closed set of attributes a call's telemetry carries: never a key id, principal or payload. */
export function rpcAttributes(method: DescMethod): Attributes {
  return { "rpc.system": "grpc", "rpc.service": method.parent.typeName, "rpc.method": method.name };
}

/** One method's pre-built attribute sets, by gRPC status code (0-16). */
export class MethodMetrics {
  readonly #histogram: Histogram;
  readonly #base: Attributes;
  readonly #byCode: (Attributes | undefined)[] = [];

  constructor(histogram: Histogram, method: DescMethod) {
    this.#histogram = histogram;
    this.#base = rpcAttributes(method);
  }

  record(seconds: number, code: number): void {
    let attributes = this.#byCode[code];
    if (attributes === undefined) {
      attributes = Object.freeze({ ...this.#base, "rpc.grpc.status_code": code });
      this.#byCode[code] = attributes;
    }
    this.#histogram.record(seconds, attributes);
  }
}

export interface RpcMetrics {
  forMethod(method: DescMethod): MethodMetrics;
}

export function createRpcMetrics(meter: Meter): RpcMetrics {
  const histogram = meter.createHistogram(RPC_SERVER_DURATION, {
    description: "Duration of calls served, by service, method and gRPC status code (its count is the request count)",
    unit: "s",
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
  });
  const methods = new Map<DescMethod, MethodMetrics>();
  return {
    forMethod(method) {
      let found = methods.get(method);
      if (found === undefined) {
        found = new MethodMetrics(histogram, method);
        methods.set(method, found);
      }
      return found;
    },
  };
}

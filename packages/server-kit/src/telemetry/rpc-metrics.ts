// Request duration per method and status code, as the OTel histogram rpc.server.call.duration
// (seconds; its count is the request count). Recording is on the hot path of every call, so it
// does not go through the SDK's synchronous instrument (which hashes the attribute set on every
// record): each method and code has its own cell of plain numbers, found without any lookup, and
// the cells are handed to the metric reader as histogram data points when it collects (a scrape).
import type { DescMethod } from "@bufbuild/protobuf";
import { ValueType, type Attributes } from "@opentelemetry/api";
import { millisToHrTime } from "@opentelemetry/core";
import {
  AggregationTemporality, DataPointType,
  type CollectionResult, type DataPoint, type Histogram, type MetricProducer,
} from "@opentelemetry/sdk-metrics";
import { emptyResource } from "@opentelemetry/resources";

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

/** One method and status code: a histogram of plain numbers. */
class Cell {
  readonly attributes: Attributes;
  readonly counts: number[] = new Array<number>(DURATION_BUCKETS_SECONDS.length + 1).fill(0);
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;

  constructor(attributes: Attributes) {
    this.attributes = attributes;
  }

  record(seconds: number): void {
    let i = 0;
    while (i < DURATION_BUCKETS_SECONDS.length && seconds > DURATION_BUCKETS_SECONDS[i]!) i++;
    this.counts[i]!++;
    this.count++;
    this.sum += seconds;
    if (seconds < this.min) this.min = seconds;
    if (seconds > this.max) this.max = seconds;
  }
}

/** One method's cells, by gRPC status code (0-16), made on first use. */
export class MethodMetrics {
  readonly #base: Attributes;
  readonly cells: (Cell | undefined)[] = [];

  constructor(method: DescMethod) {
    this.#base = rpcAttributes(method);
  }

  record(seconds: number, code: number): void {
    let cell = this.cells[code];
    if (cell === undefined) {
      cell = new Cell(Object.freeze({ ...this.#base, "rpc.grpc.status_code": code }));
      this.cells[code] = cell;
    }
    cell.record(seconds);
  }
}

export interface RpcMetrics {
  forMethod(method: DescMethod): MethodMetrics;
  /** What the metric reader collects from besides the SDK's own instruments. */
  readonly producer: MetricProducer;
}

export function createRpcMetrics(scope: string, now: () => number = Date.now): RpcMetrics {
  const methods = new Map<DescMethod, MethodMetrics>();
  const startTime = millisToHrTime(now());
  const boundaries = [...DURATION_BUCKETS_SECONDS];
  return {
    forMethod(method) {
      let found = methods.get(method);
      if (found === undefined) {
        found = new MethodMetrics(method);
        methods.set(method, found);
      }
      return found;
    },
    producer: {
      collect(): Promise<CollectionResult> {
        const endTime = millisToHrTime(now());
        const dataPoints: DataPoint<Histogram>[] = [];
        for (const method of methods.values()) {
          for (const cell of method.cells) {
            if (cell === undefined) continue;
            dataPoints.push({
              attributes: cell.attributes,
              startTime,
              endTime,
              value: { buckets: { boundaries, counts: [...cell.counts] }, count: cell.count, sum: cell.sum, min: cell.min, max: cell.max },
            });
          }
        }
        return Promise.resolve({
          resourceMetrics: {
            resource: emptyResource(),
            scopeMetrics: [
              {
                scope: { name: scope },
                metrics: [
                  {
                    descriptor: {
                      name: RPC_SERVER_DURATION,
                      description: "Duration of calls served, by service, method and gRPC status code (its count is the request count)",
                      unit: "s",
                      valueType: ValueType.DOUBLE,
                    },
                    aggregationTemporality: AggregationTemporality.CUMULATIVE,
                    dataPointType: DataPointType.HISTOGRAM,
                    dataPoints,
                  },
                ],
              },
            ],
          },
          errors: [],
        });
      },
    },
  };
}

// The request duration histogram's own cells: upper-inclusive buckets as OTel's explicit-bucket
// histogram, count, sum, min and max per method and status code, collected as one cumulative
// histogram data point each, with only the rpc.* attributes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { EchoService } from "@keyhold/proto";
import { DataPointType, type HistogramMetricData } from "@opentelemetry/sdk-metrics";
import { createRpcMetrics, DURATION_BUCKETS_SECONDS, RPC_SERVER_DURATION } from "./rpc-metrics.ts";

test("durations land in upper-inclusive buckets per method and code", async () => {
  const rpc = createRpcMetrics("scope", () => 1_700_000_000_000);
  const echo = rpc.forMethod(EchoService.methods[0]!);
  assert.equal(rpc.forMethod(EchoService.methods[0]!), echo, "one cell set per method");
  echo.record(0.00025, 0); // on the first boundary: first bucket
  echo.record(0.0003, 0);
  echo.record(20, 0); // past the last boundary: the overflow bucket
  echo.record(0.004, 3);
  const { resourceMetrics, errors } = await rpc.producer.collect();
  assert.deepEqual(errors, []);
  const metric = resourceMetrics.scopeMetrics[0]!.metrics[0]! as HistogramMetricData;
  assert.equal(metric.descriptor.name, RPC_SERVER_DURATION);
  assert.equal(metric.descriptor.unit, "s");
  assert.equal(metric.dataPointType, DataPointType.HISTOGRAM);
  const [ok, invalid] = metric.dataPoints;
  assert.deepEqual(ok!.attributes, { "rpc.system": "grpc", "rpc.service": EchoService.typeName, "rpc.method": "Echo", "rpc.grpc.status_code": 0 });
  const expected = new Array<number>(DURATION_BUCKETS_SECONDS.length + 1).fill(0);
  expected[0] = 1;
  expected[1] = 1;
  expected[DURATION_BUCKETS_SECONDS.length] = 1;
  assert.deepEqual(ok!.value.buckets.counts, expected);
  assert.equal(ok!.value.count, 3);
  assert.ok(Math.abs(ok!.value.sum! - 20.00055) < 1e-9);
  assert.equal(ok!.value.min, 0.00025);
  assert.equal(ok!.value.max, 20);
  assert.equal(invalid!.attributes["rpc.grpc.status_code"], 3);
  assert.equal(invalid!.value.count, 1);
});

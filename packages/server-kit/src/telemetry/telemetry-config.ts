// Telemetry settings, read from an environment map handed in by a config.ts (the only place
// that touches process.env). Tracing is off unless asked for; metrics are on (GET /metrics on
// the HTTP port, answered only to the peers KEYHOLD_METRICS_ALLOWED_PEERS lists).
import { AddressListError, validateAddressList } from "../address-list.ts";
import { ServerConfigError } from "../server-config.ts";

export type TraceExport = "off" | "otlp";

export interface TelemetryConfig {
  /** service.name of the process's metrics (each service's spans carry its own name). */
  readonly serviceName: string;
  /** Where spans go: nowhere (no span is ever created) or OTLP over HTTP. */
  readonly traces: TraceExport;
  /** OTLP/HTTP traces URL (the endpoint with /v1/traces appended). */
  readonly otlpTracesUrl: string;
  /** Fraction of new traces sampled (parent-based: a sampled caller's trace is always followed). */
  readonly sampleRatio: number;
  /** Whether request metrics are recorded and GET /metrics is served. */
  readonly metrics: boolean;
  /** Peers (IPs / CIDR ranges) GET /metrics answers; others get 403. */
  readonly metricsAllowedPeers: readonly string[];
}

/** Loopback and private ranges: a scraper inside the network, never the public internet. */
export const DEFAULT_METRICS_ALLOWED_PEERS: readonly string[] = [
  "127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7",
];

type Env = Readonly<Record<string, string | undefined>>;

function onOff(env: Env, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (raw === "on" || raw === "true" || raw === "1") return true;
  if (raw === "off" || raw === "false" || raw === "0") return false;
  throw new ServerConfigError(`${name} must be on or off`);
}

export function readTelemetryConfig(env: Env, defaults: { readonly serviceName: string }): TelemetryConfig {
  const traces = env["KEYHOLD_OTEL_TRACES"] === undefined || env["KEYHOLD_OTEL_TRACES"] === "" ? "off" : env["KEYHOLD_OTEL_TRACES"];
  if (traces !== "off" && traces !== "otlp") throw new ServerConfigError("KEYHOLD_OTEL_TRACES must be off or otlp");
  const endpoint = env["OTEL_EXPORTER_OTLP_ENDPOINT"] || "http://localhost:4318";
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new ServerConfigError(`OTEL_EXPORTER_OTLP_ENDPOINT must be a URL, got "${endpoint}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new ServerConfigError("OTEL_EXPORTER_OTLP_ENDPOINT must be an http or https URL");
  const tracesUrl = env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] || `${endpoint.replace(/\/+$/, "")}/v1/traces`;
  const ratioRaw = env["KEYHOLD_OTEL_SAMPLE_RATIO"];
  const sampleRatio = ratioRaw === undefined || ratioRaw === "" ? 1 : Number(ratioRaw);
  if (!(sampleRatio >= 0 && sampleRatio <= 1)) throw new ServerConfigError("KEYHOLD_OTEL_SAMPLE_RATIO must be a number from 0 to 1");
  const peersRaw = env["KEYHOLD_METRICS_ALLOWED_PEERS"];
  const metricsAllowedPeers =
    peersRaw === undefined || peersRaw === "" ? DEFAULT_METRICS_ALLOWED_PEERS : peersRaw.split(",").map((s) => s.trim()).filter((s) => s !== "");
  try {
    validateAddressList(metricsAllowedPeers);
  } catch (error) {
    if (error instanceof AddressListError) throw new ServerConfigError(`KEYHOLD_METRICS_ALLOWED_PEERS: ${error.message}`);
    throw error;
  }
  return {
    serviceName: env["OTEL_SERVICE_NAME"] || defaults.serviceName,
    traces,
    otlpTracesUrl: tracesUrl,
    sampleRatio,
    metrics: onOff(env, "KEYHOLD_METRICS", true),
    metricsAllowedPeers,
  };
}

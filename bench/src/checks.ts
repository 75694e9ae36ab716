// The figures read off the measurements: ratios to the bare echo and the targets.
import type { AuditCost } from "./audit-cost.ts";
import type { HsmOverhead } from "./hsm-overhead.ts";
import type { Measurement } from "./measure.ts";
import type { OutboxCapacity } from "./outbox-capacity.ts";
import type { RawSignRate } from "./raw-crypto.ts";
import type { SignTargetId, TargetId } from "./targets.ts";

/** Encrypt's requests/s at the throughput concurrency, as a fraction of the bare echo's. */
export const ENCRYPT_TO_BARE_ECHO_MIN = 0.5;
/** GenerateDataKey's requests/s at the throughput concurrency, as a fraction of Encrypt's. */
export const DATA_KEY_TO_ENCRYPT_MIN = 0.9;
/**
 * key-service's Encrypt requests/s with auditing on, as a fraction of the same topology's with
 * KEYHOLD_AUDIT=off, key-service in its CPU budget and audit-service its own process (issue 4:
 * topologyAuditChecks, measured in topology-audit-cost.ts). The all-in-one process's ratio is reported, not checked:
 * there audit-service's log writes share the process and the machine's cores with key-service.
 */
export const ENCRYPT_AUDITED_TO_UNAUDITED_MIN = 0.85;
/** The audit outbox's events/s, as a multiple of Encrypt's req/s with auditing on (issue 4). */
export const OUTBOX_TO_ENCRYPT_MIN = 2;
/** GetSecretValue's requests/s at the throughput concurrency, as a fraction of Encrypt's (issue 7). */
export const SECRET_VALUE_TO_ENCRYPT_MIN = 1;
/**
 * "hsm-gateway adds at most 20%": AES-GCM encryptions through the gateway's API (as key-service
 * calls it in the all-in-one process) per second, as a fraction of raw pkcs11js encryptions per
 * second on the same token, payload, AAD and number in flight, measured in one process (issue 6).
 */
export const GATEWAY_TO_RAW_PKCS11_MIN = 0.8;
/** Encrypt with an HSM key's req/s, as a fraction of Encrypt with a software key's in the same process (issue 6). */
export const HSM_TO_SOFTWARE_ENCRYPT_MIN = 0.5;
/**
 * "k key-service processes behind one address give at least 0.7·k× the throughput of one": Encrypt
 * req/s through the topology with k replicas over the same with one, at least this times k.
 */
export const SCALING_PER_REPLICA_MIN = 0.7;
/** p99 latency with one call in flight. */
export const P99_AT_ONE_IN_FLIGHT_MAX_MS = 2;
/** Targets whose p99 at one call in flight is checked (everything but the reference). */
const LATENCY_CHECKED: readonly TargetId[] = ["kit-echo", "encrypt", "decrypt", "generate-data-key"];

export type CheckStatus = "PASS" | "MISS" | "SKIP";

export interface Check {
  readonly name: string;
  readonly status: CheckStatus;
  /** The measured figure, when there is one. */
  readonly value: number | undefined;
  readonly limit: number;
  readonly unit: "×" | "ms";
}

export interface Row extends Measurement {
  /** requests/s over the bare echo's at the same concurrency in this run. */
  readonly ratioToBareEcho: number | undefined;
}

export interface Summary {
  readonly rows: readonly Row[];
  /** GenerateDataKey requests/s over Encrypt's, per concurrency (when both ran). */
  readonly dataKeyToEncrypt: readonly { readonly concurrency: number; readonly ratio: number }[];
  /** Encrypt requests/s with audit over Encrypt's with KEYHOLD_AUDIT=off, per concurrency (when both ran). */
  readonly encryptAuditedToUnaudited: readonly { readonly concurrency: number; readonly ratio: number }[];
  /** Sign requests/s over one thread's node:crypto signatures/s, per target and concurrency. */
  readonly signToSingleCore: readonly {
    readonly target: SignTargetId;
    readonly label: string;
    readonly concurrency: number;
    readonly ratio: number;
    readonly singleCorePerSecond: number;
  }[];
  /** The outbox's measured capacity, when measured. */
  readonly outboxCapacity: OutboxCapacity | undefined;
  /** Encrypt audit on / off from interleaved runs (the audit target's figure), when measured. */
  readonly auditCost: AuditCost | undefined;
  /** hsm-gateway against raw pkcs11js in one process, when SoftHSMv2 was there. */
  readonly hsmOverhead: HsmOverhead | undefined;
  /** Encrypt with an HSM key over Encrypt with a software key, req/s, per concurrency (when both ran). */
  readonly hsmToSoftwareEncrypt: readonly { readonly concurrency: number; readonly ratio: number }[];
  /** Encrypt with an HSM key (whole RPC) over raw pkcs11js encryptions, per second: for reading only, no target. */
  readonly hsmEncryptToRawPkcs11: readonly { readonly concurrency: number; readonly ratio: number }[];
  readonly checks: readonly Check[];
}

export function summarize(
  measurements: readonly Measurement[],
  concurrencies: readonly [throughput: number, latency: number],
  rawSignRates: readonly RawSignRate[] = [],
  outboxCapacity?: OutboxCapacity,
  auditCost?: AuditCost,
  hsmOverhead?: HsmOverhead,
): Summary {
  const find = (target: TargetId, concurrency: number) => measurements.find((m) => m.target === target && m.concurrency === concurrency);
  const ratio = (a: Measurement | undefined, b: Measurement | undefined) => (a === undefined || b === undefined || b.ghz.rps === 0 ? undefined : a.ghz.rps / b.ghz.rps);

  const rows = measurements.map((m) => ({ ...m, ratioToBareEcho: ratio(m, find("bare-echo", m.concurrency)) }));
  const dataKeyToEncrypt = concurrencies.flatMap((concurrency) => {
    const value = ratio(find("generate-data-key", concurrency), find("encrypt", concurrency));
    return value === undefined ? [] : [{ concurrency, ratio: value }];
  });

  const encryptAuditedToUnaudited = concurrencies.flatMap((concurrency) => {
    const value = ratio(find("encrypt", concurrency), find("encrypt-audit-off", concurrency));
    return value === undefined ? [] : [{ concurrency, ratio: value }];
  });

  const signToSingleCore = rawSignRates.flatMap((raw) =>
    concurrencies.flatMap((concurrency) => {
      const m = find(raw.target, concurrency);
      if (m === undefined || raw.signaturesPerSecond === 0) return [];
      return [{ target: raw.target, label: m.label, concurrency, ratio: m.ghz.rps / raw.signaturesPerSecond, singleCorePerSecond: raw.signaturesPerSecond }];
    }),
  );

  const hsmToSoftwareEncrypt = concurrencies.flatMap((concurrency) => {
    const value = ratio(find("encrypt-hsm", concurrency), find("encrypt", concurrency));
    return value === undefined ? [] : [{ concurrency, ratio: value }];
  });
  const hsmEncryptToRawPkcs11 = concurrencies.flatMap((concurrency) => {
    const raw = hsmOverhead?.rows.find((row) => row.concurrency === concurrency)?.raw.perSecond;
    const m = find("encrypt-hsm", concurrency);
    return raw === undefined || raw === 0 || m === undefined ? [] : [{ concurrency, ratio: m.ghz.rps / raw }];
  });

  const [throughput, latency] = concurrencies;
  const checks: Check[] = [
    atLeast(`Encrypt ≥ ${ENCRYPT_TO_BARE_ECHO_MIN}× bare echo req/s at ${throughput} in flight`, ratio(find("encrypt", throughput), find("bare-echo", throughput)), ENCRYPT_TO_BARE_ECHO_MIN),
    atLeast(`GenerateDataKey ≥ ${DATA_KEY_TO_ENCRYPT_MIN}× Encrypt req/s at ${throughput} in flight`, ratio(find("generate-data-key", throughput), find("encrypt", throughput)), DATA_KEY_TO_ENCRYPT_MIN),
    atLeast(
      `audit outbox ≥ ${OUTBOX_TO_ENCRYPT_MIN}× Encrypt (audit on) req/s at ${throughput} in flight`,
      outboxToEncrypt(outboxCapacity, find("encrypt", throughput)),
      OUTBOX_TO_ENCRYPT_MIN,
    ),
    atLeast(
      `GetSecretValue ≥ ${SECRET_VALUE_TO_ENCRYPT_MIN}× Encrypt req/s at ${throughput} in flight`,
      ratio(find("get-secret-value", throughput), find("encrypt", throughput)),
      SECRET_VALUE_TO_ENCRYPT_MIN,
    ),
    atLeast(
      `hsm-gateway AES-GCM encrypt ≥ ${GATEWAY_TO_RAW_PKCS11_MIN}× raw pkcs11js calls/s at ${throughput} in flight (the gateway adds ≤ 20%)`,
      hsmOverhead?.rows.find((row) => row.concurrency === throughput)?.ratio,
      GATEWAY_TO_RAW_PKCS11_MIN,
    ),
    atLeast(
      `Encrypt with an HSM key ≥ ${HSM_TO_SOFTWARE_ENCRYPT_MIN}× Encrypt with a software key req/s at ${throughput} in flight`,
      ratio(find("encrypt-hsm", throughput), find("encrypt", throughput)),
      HSM_TO_SOFTWARE_ENCRYPT_MIN,
    ),
    ...LATENCY_CHECKED.map((target) => {
      const m = find(target, latency);
      return atMost(`${m?.label ?? target} p99 ≤ ${P99_AT_ONE_IN_FLIGHT_MAX_MS} ms at ${latency} in flight`, m?.ghz.p99Ms, P99_AT_ONE_IN_FLIGHT_MAX_MS);
    }),
  ];
  return { rows, dataKeyToEncrypt, encryptAuditedToUnaudited, signToSingleCore, outboxCapacity, auditCost, hsmOverhead, hsmToSoftwareEncrypt, hsmEncryptToRawPkcs11, checks };
}

/**
 * One check per k > 1: key-service ×k's Encrypt req/s over ×1's, at least SCALING_PER_REPLICA_MIN·k
 * (undefined ratio: SKIP). replicaCores: each replica's CPU budget, when the replicas had one.
 */
export function scalingChecks(
  ratios: readonly { readonly replicas: number; readonly ratio: number | undefined }[],
  concurrency: number,
  connections: number,
  replicaCores?: number,
): Check[] {
  const budget = replicaCores === undefined ? "uncapped" : `each replica ${replicaCores} cores`;
  return ratios.map(({ replicas, ratio }) => {
    const limit = SCALING_PER_REPLICA_MIN * replicas;
    return atLeast(
      `key-service ×${replicas} behind one address ≥ ${SCALING_PER_REPLICA_MIN}·${replicas} = ${limit.toFixed(2)}× one replica's Encrypt req/s (${budget}, ${connections} connections, ${concurrency} in flight, interleaved)`,
      ratio,
      limit,
    );
  });
}

/**
 * The issue-4 check: key-service's Encrypt req/s audited over unaudited in the topology, in its
 * CPU budget (keyServiceCores; undefined: uncapped) with audit-service its own process (undefined
 * ratio: SKIP).
 */
export function topologyAuditChecks(ratio: number | undefined, concurrency: number, keyServiceCores: number | undefined): Check[] {
  const budget = keyServiceCores === undefined ? "key-service uncapped" : `key-service capped at ${keyServiceCores} cores`;
  return [
    atLeast(
      `key-service Encrypt with audit ≥ ${ENCRYPT_AUDITED_TO_UNAUDITED_MIN}× without audit req/s, deployed as its own service (keyhold topology, ${budget}, audit-service its own process; ${concurrency} in flight, interleaved)`,
      ratio,
      ENCRYPT_AUDITED_TO_UNAUDITED_MIN,
    ),
  ];
}

/** A check as the report prints it: status, name and the measured figure. */
export function formatCheckLine(check: Check): string {
  return `  ${check.status.padEnd(4)}  ${check.name}${formatCheckValue(check)}`;
}

function formatCheckValue(check: Check): string {
  if (check.value === undefined) return " (not measured)";
  return check.unit === "×" ? `: ${check.value.toFixed(2)}×` : `: ${Number.isFinite(check.value) ? check.value.toFixed(2) : "—"} ms`;
}

function outboxToEncrypt(capacity: OutboxCapacity | undefined, encrypt: Measurement | undefined): number | undefined {
  if (capacity === undefined || encrypt === undefined || encrypt.ghz.rps === 0) return undefined;
  return capacity.eventsPerSecond / encrypt.ghz.rps;
}

function atLeast(name: string, value: number | undefined, limit: number): Check {
  return { name, value, limit, unit: "×", status: value === undefined ? "SKIP" : value >= limit ? "PASS" : "MISS" };
}

function atMost(name: string, value: number | undefined, limit: number): Check {
  // NaN (the target ran, but no call succeeded) is a miss.
  const status = value === undefined ? "SKIP" : value <= limit ? "PASS" : "MISS";
  return { name, value, limit, unit: "ms", status };
}

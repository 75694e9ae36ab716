// What the deploy/ tests share: the files under deploy/, parsed; the proto services and their
// visibility; the KEYHOLD_* settings the code reads; and the validators scripts/lib/toolchain.sh
// (ensure_deploy_tools) builds into .tools/bin (kustomize, compose-check, envoy-check).
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { parseAllDocuments, parseDocument } from "yaml";
import { REPO_ROOT } from "../support/tools.ts";

export const DEPLOY_DIR = join(REPO_ROOT, "deploy");
export const COMPOSE_FILE = join(DEPLOY_DIR, "compose", "compose.yaml");
export const ENVOY_FILE = join(DEPLOY_DIR, "envoy", "envoy.yaml");
export const K8S_DIR = join(DEPLOY_DIR, "k8s");
/** The base plus xki-proxy (components/xki-proxy), as compose's hyok profile. */
export const K8S_HYOK_DIR = join(K8S_DIR, "overlays", "hyok");
export const DOCKERFILE = join(DEPLOY_DIR, "docker", "Dockerfile");

/** The Keyhold services `keyhold serve <service>` runs (the brief's names). */
export const KEYHOLD_SERVICES = ["key-service", "secrets-service", "policy-service", "audit-service", "hsm-gateway", "xki-proxy"] as const;
export type KeyholdService = (typeof KEYHOLD_SERVICES)[number];

/** The services with a durable audit outbox in KEYHOLD_DATA_DIR (packages/cli/src/dev.ts AuditedService). */
export const AUDITED_SERVICES: readonly KeyholdService[] = ["key-service", "policy-service", "audit-service", "secrets-service"];

/** KEYHOLD_DATA_DIR in the image (deploy/docker/Dockerfile) and every volume mounted there. */
export const DATA_DIR = "/var/lib/keyhold";
export const GRPC_PORT = 7700;
export const HTTP_PORT = 7701;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** value[key] as an object (an assertion failure naming `what` when it is not one). */
export function obj(value: unknown, what: string): JsonObject {
  if (!isObject(value)) throw new Error(`${what} is not a mapping: ${JSON.stringify(value)?.slice(0, 200)}`);
  return value;
}

export function arr(value: unknown, what: string): Json[] {
  if (!Array.isArray(value)) throw new Error(`${what} is not a list: ${JSON.stringify(value)?.slice(0, 200)}`);
  return value as Json[];
}

export function str(value: unknown, what: string): string {
  if (typeof value !== "string") throw new Error(`${what} is not a string: ${JSON.stringify(value)?.slice(0, 200)}`);
  return value;
}

/** One YAML document, strictly (errors and warnings throw), with merge keys (`<<`) resolved. */
export function parseYaml(text: string, file: string): Json {
  const doc = parseDocument(text, { merge: true, prettyErrors: true, uniqueKeys: true });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) throw new Error(`${file}: ${problems.map((e) => e.message).join("\n")}`);
  return doc.toJS({ maxAliasCount: 1000 }) as Json;
}

/** Every document of a multi-document YAML file (empty documents dropped). */
export function parseYamlStream(text: string, file: string): Json[] {
  const docs = parseAllDocuments(text, { merge: true, prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(docs)) throw new Error(`${file}: not a YAML stream`);
  return docs.flatMap((doc) => {
    const problems = [...doc.errors, ...doc.warnings];
    if (problems.length > 0) throw new Error(`${file}: ${problems.map((e) => e.message).join("\n")}`);
    const value = doc.toJS({ maxAliasCount: 1000 }) as Json;
    return value === null ? [] : [value];
  });
}

export function readText(path: string): string {
  return readFileSync(path, "utf8");
}

/** Every file under `dir` (recursively), as absolute paths. */
export function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

export function repoPath(path: string): string {
  return relative(REPO_ROOT, path);
}

export function loadCompose(): JsonObject {
  return obj(parseYaml(readText(COMPOSE_FILE), repoPath(COMPOSE_FILE)), "compose.yaml");
}

export function loadEnvoy(): JsonObject {
  return obj(parseYaml(readText(ENVOY_FILE), repoPath(ENVOY_FILE)), "envoy.yaml");
}

// ---------------------------------------------------------------------------------------------
// The API: proto services, and which of them the public door may route.

export interface ProtoService {
  /** Fully qualified, e.g. keyhold.key.v1.KeyService. */
  readonly name: string;
  readonly file: string;
}

/** Every `service` declared under proto/keyhold (package + name). */
export function protoServices(): ProtoService[] {
  const root = join(REPO_ROOT, "proto", "keyhold");
  return filesUnder(root)
    .filter((file) => file.endsWith(".proto"))
    .flatMap((file) => {
      const text = readText(file).replace(/\/\/[^\n]*/g, "");
      const pkg = /^\s*package\s+([\w.]+)\s*;/m.exec(text)?.[1];
      if (pkg === undefined) throw new Error(`${repoPath(file)} declares no package`);
      return [...text.matchAll(/^\s*service\s+(\w+)\s*\{/gm)].map((m) => ({ name: `${pkg}.${m[1]!}`, file: repoPath(file) }));
    });
}

/**
 * Where each proto service is served. Public ones are routed by Envoy to the service that owns
 * them; internal ones must never be. A new service in proto/ fails the tests until it is listed
 * here: deciding whether it is public is a deliberate act.
 */
export const SERVICE_VISIBILITY: Readonly<Record<string, { readonly public: true; readonly owner: KeyholdService } | { readonly public: false; readonly why: string }>> = {
  "keyhold.key.v1.KeyService": { public: true, owner: "key-service" },
  "keyhold.key.v1.CryptoService": { public: true, owner: "key-service" },
  "keyhold.key.v1.SealService": { public: true, owner: "key-service" },
  "keyhold.secrets.v1.SecretsService": { public: true, owner: "secrets-service" },
  "keyhold.policy.v1.IamService": { public: true, owner: "policy-service" },
  "keyhold.policy.v1.StsService": { public: true, owner: "policy-service" },
  "keyhold.audit.v1.AuditService": { public: true, owner: "audit-service" },
  "keyhold.policy.v1.AuthorizationService": { public: false, why: "services ask policy-service through it (internal)" },
  "keyhold.audit.v1.AuditIngestService": { public: false, why: "outbox shippers deliver events through it (internal)" },
  "keyhold.hsm.v1.HsmService": { public: false, why: "hsm-gateway: only Keyhold services may call it" },
  "keyhold.secrets.v1.RotationHandler": { public: false, why: "implemented by the secret owner's handler, called by secrets-service" },
  "keyhold.xki.v1.XkiAdminService": { public: false, why: "xki-proxy's admin API, on its own admin address" },
  "keyhold.bench.v1.EchoService": { public: false, why: "the benchmark's echo server only" },
};

// ---------------------------------------------------------------------------------------------
// Settings: the KEYHOLD_* names the code reads.

/**
 * Names other helpers are adding now (the shared deployment brief): storage, coordination,
 * peers. They are accepted in deploy/ before the code that reads them lands; once it has, the
 * allow-list entry is redundant (the test says which).
 */
export const PENDING_SETTINGS: readonly string[] = [
  "KEYHOLD_DATABASE_URL",
  "KEYHOLD_REDIS_URL",
  "KEYHOLD_POLICY_SERVICE_ADDR",
  "KEYHOLD_AUDIT_SERVICE_ADDR",
  "KEYHOLD_KEY_SERVICE_ADDR",
  "KEYHOLD_HSM_GATEWAY_ADDR",
];

function sourceFiles(): string[] {
  return ["packages", "services"].flatMap((top) =>
    readdirSync(join(REPO_ROOT, top)).flatMap((pkg) => {
      const src = join(REPO_ROOT, top, pkg, "src");
      try {
        statSync(src);
      } catch {
        return [];
      }
      return filesUnder(src).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts") && !f.includes("/test-") && !f.includes("test-support"));
    }),
  );
}

/**
 * Every KEYHOLD_* setting the non-test code reads: quoted names ("KEYHOLD_X", `KEYHOLD_X`), and,
 * for settings read through a helper that also accepts NAME_FILE (xki-proxy's secret()), NAME_FILE.
 */
export function settingsReadByCode(): Set<string> {
  const names = new Set<string>();
  for (const file of sourceFiles()) {
    const text = readText(file);
    for (const m of text.matchAll(/["'`](KEYHOLD_[A-Z0-9_]*[A-Z0-9])["'`]/g)) names.add(m[1]!);
    // secret(env, "KEYHOLD_X") reads KEYHOLD_X_FILE too (the helper builds `${name}_FILE`).
    if (text.includes("`${name}_FILE`")) {
      for (const m of text.matchAll(/secret\(\s*env\s*,\s*"(KEYHOLD_[A-Z0-9_]+)"\s*\)/g)) names.add(`${m[1]!}_FILE`);
    }
  }
  return names;
}

/** Every KEYHOLD_* name written anywhere under deploy/ or in docs/deploy.md (with the file that names it). */
export function settingsNamedInDeploy(): Map<string, string[]> {
  const names = new Map<string, string[]>();
  for (const file of [...filesUnder(DEPLOY_DIR), join(REPO_ROOT, "docs", "deploy.md")]) {
    if (file.includes(`${join(DEPLOY_DIR, "tools")}/`)) continue;
    for (const m of readText(file).matchAll(/\bKEYHOLD_[A-Z0-9_]*[A-Z0-9]\b/g)) {
      const list = names.get(m[0]) ?? [];
      if (!list.includes(repoPath(file))) list.push(repoPath(file));
      names.set(m[0], list);
    }
  }
  return names;
}

/** A YAML value as text: strings as they are, anything else as JSON (for messages and comparisons). */
export function show(value: unknown): string {
  return typeof value === "string" ? value : (JSON.stringify(value) ?? "undefined");
}

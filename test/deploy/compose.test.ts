// deploy/compose/compose.yaml: valid by the Compose specification (compose-go, as `docker
// compose config` loads it, when .tools/bin/compose-check is built), and consistent with
// Keyhold: every service runs, is health-checked over mTLS on its real gRPC port, keeps its
// audit outbox on a volume of its own, reaches its peers where they listen.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { describeRun, runTool, toolPath } from "../support/tools.ts";
import {
  arr, AUDITED_SERVICES, COMPOSE_FILE, DATA_DIR, DEPLOY_DIR, GRPC_PORT, isObject, KEYHOLD_SERVICES, loadCompose, obj, readText, str,
  type KeyholdService, show,
} from "./support.ts";
import { join } from "node:path";

const compose = loadCompose();
const services = obj(compose["services"], "services");

/** The compose services that run `keyhold serve <service>`, by Keyhold service. */
function keyholdContainers(): Map<KeyholdService, string[]> {
  const byService = new Map<KeyholdService, string[]>();
  for (const [name, raw] of Object.entries(services)) {
    const command = obj(raw, name)["command"];
    if (!Array.isArray(command) || command[0] !== "serve") continue;
    const service = str(command[1], `${name}.command[1]`) as KeyholdService;
    assert.ok(KEYHOLD_SERVICES.includes(service), `${name} serves a known service, not ${service}`);
    byService.set(service, [...(byService.get(service) ?? []), name]);
  }
  return byService;
}

function env(name: string): Record<string, string> {
  const raw = obj(services[name], name)["environment"];
  if (raw === undefined) return {};
  const map = obj(raw, `${name}.environment`);
  return Object.fromEntries(Object.entries(map).map(([k, v]) => [k, show(v)]));
}

function volumeMounts(name: string): { source: string; target: string; readOnly: boolean }[] {
  const raw = obj(services[name], name)["volumes"];
  if (raw === undefined) return [];
  return arr(raw, `${name}.volumes`).map((v) => {
    const [source, target, mode] = str(v, `${name}.volumes[]`).split(":");
    return { source: source!, target: target!, readOnly: mode === "ro" };
  });
}

/** Names (service names and network aliases) under which each compose service is reachable. */
function dnsNames(): Map<string, string[]> {
  const names = new Map<string, string[]>();
  const add = (dns: string, service: string) => names.set(dns, [...(names.get(dns) ?? []), service]);
  for (const [name, raw] of Object.entries(services)) {
    add(name, name);
    const networks = obj(raw, name)["networks"];
    if (isObject(networks)) {
      for (const network of Object.values(networks)) {
        if (isObject(network) && Array.isArray(network["aliases"])) for (const alias of network["aliases"]) add(str(alias, "alias"), name);
      }
    }
  }
  return names;
}

const containers = keyholdContainers();
const allContainers = [...containers.values()].flat();

describe("compose.yaml", () => {
  test("is valid by the Compose specification (compose-go loads it, with and without the hyok profile)", async (t) => {
    const check = toolPath("compose-check");
    if (check === undefined) {
      t.skip("compose-check is not built (source scripts/lib/toolchain.sh && ensure_deploy_tools)");
      return;
    }
    for (const profiles of [[], ["--profile", "hyok"]]) {
      const result = await runTool(check, [...profiles, COMPOSE_FILE], { env: { PATH: process.env["PATH"] ?? "" } });
      assert.equal(result.code, 0, describeRun(`compose-check ${profiles.join(" ")}`, result));
      const model = obj(JSON.parse(result.stdout), "resolved project");
      const resolved = Object.keys(obj(model["services"], "services"));
      if (profiles.length === 0) assert.ok(!resolved.includes("xki-proxy"), "xki-proxy only runs with --profile hyok");
      else assert.ok(resolved.includes("xki-proxy"), "--profile hyok adds xki-proxy");
    }
  });

  test("runs every Keyhold service, key-service twice, xki-proxy only in the hyok profile", () => {
    assert.deepEqual([...containers.keys()].sort(), [...KEYHOLD_SERVICES].sort());
    assert.ok((containers.get("key-service") ?? []).length >= 2, "two key-service replicas");
    assert.deepEqual(obj(services["xki-proxy"], "xki-proxy")["profiles"], ["hyok"]);
    for (const name of ["postgres", "redis", "init", "hsm-init", "envoy"]) assert.ok(name in services, `${name} is part of the stack`);
  });

  test("key-service replicas answer to one name and each keeps its own outbox volume", () => {
    const replicas = containers.get("key-service")!;
    const names = dnsNames();
    assert.deepEqual((names.get("key-service") ?? []).sort(), [...replicas].sort(), "the alias key-service reaches every replica");
    const volumes = replicas.map((r) => volumeMounts(r).find((m) => m.target === DATA_DIR)?.source);
    assert.equal(new Set(volumes).size, replicas.length, `distinct data volumes: ${volumes.join(", ")}`);
  });

  test("every audited service keeps KEYHOLD_DATA_DIR (its audit outbox) on a named volume of its own", () => {
    const declared = Object.keys(obj(compose["volumes"], "volumes"));
    const used = new Map<string, string>();
    for (const service of AUDITED_SERVICES) {
      for (const container of containers.get(service) ?? []) {
        const dataDir = env(container)["KEYHOLD_DATA_DIR"] ?? DATA_DIR;
        const mount = volumeMounts(container).find((m) => m.target === dataDir);
        assert.ok(mount !== undefined, `${container} mounts a volume at ${dataDir}`);
        assert.ok(declared.includes(mount.source), `${container}'s ${mount.source} is a named volume (survives docker compose down/up)`);
        assert.ok(!mount.readOnly, `${container}'s data volume is writable`);
        assert.equal(used.get(mount.source), undefined, `${mount.source} is not shared with ${used.get(mount.source)}`);
        used.set(mount.source, container);
      }
    }
  });

  test("Keyhold containers are hardened: read-only root, no capabilities, restarted, same image", () => {
    const image = obj(services[allContainers[0]!], "first")["image"];
    for (const name of allContainers) {
      const service = obj(services[name], name);
      assert.equal(service["read_only"], true, `${name} read_only`);
      assert.deepEqual(service["cap_drop"], ["ALL"], `${name} cap_drop`);
      assert.equal(service["restart"], "unless-stopped", `${name} restart`);
      assert.equal(service["image"], image, `${name} runs the one Keyhold image`);
    }
  });

  test("each Keyhold container's healthcheck asks grpc.health.v1 on its gRPC port over mTLS with its own certificate", () => {
    for (const [service, names] of containers) {
      for (const name of names) {
        const check = arr(obj(obj(services[name], name)["healthcheck"], `${name}.healthcheck`)["test"], `${name}.healthcheck.test`).map(String);
        if (service === "xki-proxy") {
          // The XKS API is HTTPS/1.1: its ping path, on its listen port.
          const port = env(name)["KEYHOLD_XKI_ADDR"]!.split(":")[1];
          assert.match(check.join(" "), new RegExp(`port:${port},path:'/ping'`));
          continue;
        }
        assert.deepEqual(check.slice(0, 2), ["CMD", "grpc-health-probe"], name);
        const e = env(name);
        const grpcPort = (e["KEYHOLD_GRPC_ADDR"] ?? `0.0.0.0:${GRPC_PORT}`).split(":")[1];
        assert.ok(check.includes(`-addr=127.0.0.1:${grpcPort}`), `${name} probes its gRPC port ${grpcPort}: ${check.join(" ")}`);
        assert.ok(check.includes("-tls"), `${name}: TLS`);
        assert.ok(check.includes(`-tls-client-cert=${e["KEYHOLD_TLS_CERT_FILE"]}`), `${name} presents its own certificate`);
        assert.ok(check.includes(`-tls-client-key=${e["KEYHOLD_TLS_KEY_FILE"]}`), `${name} with its own key`);
        assert.equal(e["KEYHOLD_TLS_REQUIRE_CLIENT_CERT"], "true", `${name} requires client certificates`);
      }
    }
  });

  test("certificate, key and secret files come from volumes mounted in that container", () => {
    for (const name of allContainers) {
      const mounts = volumeMounts(name);
      for (const [key, value] of Object.entries(env(name))) {
        if (!/_FILE$/.test(key)) continue;
        assert.ok(mounts.some((m) => value.startsWith(`${m.target}/`)), `${name}: ${key}=${value} lies in a mounted volume`);
      }
    }
  });

  test("depends_on names existing services with conditions they can meet", () => {
    for (const [name, raw] of Object.entries(services)) {
      const dependsOn = obj(raw, name)["depends_on"];
      if (dependsOn === undefined) continue;
      for (const [target, spec] of Object.entries(obj(dependsOn, `${name}.depends_on`))) {
        assert.ok(target in services, `${name} depends on ${target}, which exists`);
        const condition = obj(spec, `${name}.depends_on.${target}`)["condition"];
        const targetService = obj(services[target], target);
        if (condition === "service_healthy") assert.ok(isObject(targetService["healthcheck"]), `${target} has a healthcheck (${name} waits for it)`);
        else if (condition === "service_completed_successfully") assert.equal(targetService["restart"], "no", `${target} is a one-shot job`);
        else assert.equal(condition, "service_started", `${name} -> ${target}`);
        const targetProfiles = targetService["profiles"];
        if (targetProfiles !== undefined) assert.deepEqual(obj(raw, name)["profiles"], targetProfiles, `${name} is in ${target}'s profile`);
      }
    }
  });

  test("peer addresses reach a container running that peer, on its gRPC port", () => {
    const names = dnsNames();
    const peerOf: Record<string, KeyholdService> = {
      KEYHOLD_POLICY_SERVICE_ADDR: "policy-service",
      KEYHOLD_AUDIT_SERVICE_ADDR: "audit-service",
      KEYHOLD_KEY_SERVICE_ADDR: "key-service",
      KEYHOLD_HSM_GATEWAY_ADDR: "hsm-gateway",
    };
    let checked = 0;
    for (const name of allContainers) {
      for (const [key, value] of Object.entries(env(name))) {
        const peer = peerOf[key];
        if (peer === undefined) continue;
        const [host, port] = value.split(":");
        const targets = names.get(host!) ?? [];
        assert.ok(targets.length > 0, `${name}: ${key}=${value} resolves`);
        for (const target of targets) {
          assert.deepEqual(obj(services[target], target)["command"], ["serve", peer], `${name}: ${key} reaches ${peer}, ${target} runs it`);
          assert.equal(port, (env(target)["KEYHOLD_GRPC_ADDR"] ?? `0.0.0.0:${GRPC_PORT}`).split(":")[1], `${key} port is ${target}'s gRPC port`);
        }
        checked++;
      }
    }
    assert.ok(checked >= 8, `${checked} peer addresses checked`);
  });

  test("each service uses its own PostgreSQL role and schema (named after it), which init-roles.sh creates", () => {
    const script = readText(join(DEPLOY_DIR, "compose", "postgres", "init-roles.sh"));
    const roles = /for service in ([\w ]+); do/.exec(script)?.[1]?.split(" ") ?? [];
    const seen: string[] = [];
    for (const [service, names] of containers) {
      for (const name of names) {
        const url = env(name)["KEYHOLD_DATABASE_URL"];
        if (url === undefined) continue;
        const parsed = new URL(url);
        assert.equal(parsed.protocol, "postgres:");
        assert.equal(parsed.username, service.replaceAll("-", "_"), `${name} logs in as its own role`);
        seen.push(parsed.username);
      }
    }
    assert.deepEqual([...new Set(seen)].sort(), [...AUDITED_SERVICES].map((s) => s.replaceAll("-", "_")).sort());
    assert.deepEqual([...roles].sort(), [...new Set(seen)].sort(), "init-roles.sh creates exactly those roles");
  });

  test("x-forwarded-client-cert is honoured from Envoy's address only", () => {
    const envoy = obj(services["envoy"], "envoy");
    const address = str(obj(obj(envoy["networks"], "envoy.networks")["keyhold"], "envoy.networks.keyhold")["ipv4_address"], "envoy address");
    const subnet = str(obj(arr(obj(obj(obj(compose["networks"], "networks")["keyhold"], "keyhold")["ipam"], "ipam")["config"], "ipam.config")[0], "config")["subnet"], "subnet");
    assert.equal(subnet.split(".").slice(0, 3).join("."), address.split(".").slice(0, 3).join("."), `${address} in ${subnet}`);
    for (const name of allContainers) {
      if (name === "xki-proxy") continue;
      assert.equal(env(name)["KEYHOLD_TRUSTED_PROXIES"], `${address}/32`, `${name} trusts only Envoy`);
    }
    const published = arr(envoy["ports"], "envoy.ports").map(String);
    assert.deepEqual(published, ["8443:8443"], "Envoy is the public door");
    for (const name of allContainers) {
      const ports = obj(services[name], name)["ports"];
      if (ports === undefined) continue;
      for (const port of arr(ports, `${name}.ports`)) assert.match(show(port), /^127\.0\.0\.1:/, `${name} publishes on loopback only`);
    }
  });

  test("Envoy mounts the configuration file compose points at", () => {
    const mounts = arr(obj(services["envoy"], "envoy")["volumes"], "envoy.volumes").map(String);
    assert.ok(mounts.includes("../envoy/envoy.yaml:/etc/envoy/envoy.yaml:ro"), mounts.join(", "));
  });
});

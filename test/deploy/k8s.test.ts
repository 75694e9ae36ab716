// deploy/k8s: renders (kustomize build, or the TypeScript fallback), every object is valid by
// the Kubernetes API schemas (kubernetes-models; and strict decoding into the API types by
// k8s-check when built), and the workloads are what Keyhold needs: one per service, key-service
// twice behind a PodDisruptionBudget, probes on the real gRPC port over mTLS, hardened pods,
// each audited replica with a durable volume of its own for its audit outbox, and every Secret,
// ConfigMap and volume they use defined.
import assert from "node:assert/strict";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { describeRun, runTool, toolPath, type ToolResult } from "../support/tools.ts";
import { find, generatedName, nameOf, podContainers, podSpec, renderK8s, renderK8sInTypeScript, type Rendered } from "./k8s-render.ts";
import {
  arr, AUDITED_SERVICES, DATA_DIR, GRPC_PORT, HTTP_PORT, isObject, K8S_DIR, K8S_HYOK_DIR, KEYHOLD_SERVICES, loadCompose, obj, parseYamlStream, readText, str,
  type JsonObject, show,
} from "./support.ts";

/** The Keyhold services the base runs (xki-proxy, the customer-side HYOK proxy, is optional: compose profile hyok). */
const BASE_SERVICES = KEYHOLD_SERVICES.filter((s) => s !== "xki-proxy");

let rendered: Rendered;
let objects: JsonObject[];
let hyok: Rendered;
const secretsTemplate = parseYamlStream(readText(join(K8S_DIR, "secrets.template.yaml")), "secrets.template.yaml").map((o) => obj(o, "secret"));

function workloads(from: readonly JsonObject[] = objects): JsonObject[] {
  return from.filter((o) => o["kind"] === "Deployment" || o["kind"] === "StatefulSet");
}

function workloadOf(service: string, from: readonly JsonObject[] = objects): JsonObject {
  const found = workloads(from).filter((w) => podContainers(w).some((c) => JSON.stringify(c["args"]) === JSON.stringify(["serve", service])));
  assert.equal(found.length, 1, `one workload runs keyhold serve ${service}`);
  return found[0]!;
}

function mainContainer(workload: JsonObject): JsonObject {
  return obj(arr(podSpec(workload)!["containers"], "containers")[0], "container");
}

/** The container's environment: the ConfigMaps it imports, then its own env (literal values; references as "<secret:name/key>"). */
function environment(container: JsonObject, from: readonly JsonObject[] = objects): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of arr(container["envFrom"] ?? [], "envFrom")) {
    const ref = obj(obj(source, "envFrom[]")["configMapRef"], "configMapRef");
    const configMap = find(from, "ConfigMap", str(ref["name"], "name"));
    assert.ok(configMap !== undefined, `ConfigMap ${show(ref["name"])}`);
    Object.assign(env, obj(configMap["data"], "data"));
  }
  for (const e of arr(container["env"] ?? [], "env")) {
    const entry = obj(e, "env[]");
    const name = str(entry["name"], "env.name");
    if (typeof entry["value"] === "string") env[name] = entry["value"];
    else {
      const ref = obj(obj(entry["valueFrom"], `${name}.valueFrom`)["secretKeyRef"], `${name}.secretKeyRef`);
      env[name] = `<secret:${str(ref["name"], "name")}/${str(ref["key"], "key")}>`;
    }
  }
  return env;
}

function port(address: string): number {
  return Number(address.split(":").at(-1));
}

describe("deploy/k8s", () => {
  before(async () => {
    rendered = await renderK8s();
    objects = rendered.objects;
    hyok = await renderK8s(K8S_HYOK_DIR);
  });

  test("renders (the base, and with xki-proxy), and the TypeScript fallback renders the same objects as kustomize", (t) => {
    for (const [dir, render] of [[K8S_DIR, rendered], [K8S_HYOK_DIR, hyok]] as const) {
      t.diagnostic(`${dir}: rendered by ${render.renderer}: ${render.objects.length} objects`);
      assert.ok(render.objects.length >= 15);
      if (render.renderer === "kustomize") {
        const key = (o: JsonObject) => `${show(o["kind"])}/${generatedName(nameOf(o))}/${show(obj(o["metadata"], "metadata")["namespace"])}`;
        assert.deepEqual(renderK8sInTypeScript(dir).map(key).sort(), render.objects.map(key).sort(), "the fallback renders what kustomize does");
      }
      for (const o of render.objects) {
        if (o["kind"] === "Namespace") continue;
        assert.equal(obj(o["metadata"], "metadata")["namespace"], "keyhold", `${show(o["kind"])} ${nameOf(o)} is in namespace keyhold`);
      }
    }
    const added = hyok.objects.filter((o) => !objects.some((b) => b["kind"] === o["kind"] && nameOf(b) === nameOf(o)));
    assert.deepEqual(added.map((o) => `${show(o["kind"])}/${nameOf(o)}`).sort(), ["NetworkPolicy/xki-proxy", "Service/xki-proxy", "StatefulSet/xki-proxy"]);
  });

  test("every object, and every Secret template, is valid by the Kubernetes API schema (kubernetes-models)", async () => {
    for (const o of [...hyok.objects, ...secretsTemplate]) {
      const apiVersion = str(o["apiVersion"], "apiVersion");
      const kind = str(o["kind"], "kind");
      const module = (await import(`kubernetes-models/${apiVersion}`)) as Record<string, new (data: unknown) => { validate(): void }>;
      const Model = module[kind];
      assert.ok(Model !== undefined, `kubernetes-models knows ${apiVersion} ${kind}`);
      assert.doesNotThrow(() => new Model(o).validate(), `${kind} ${nameOf(o)}`);
    }
  });

  test("every object decodes strictly into its API type: no unknown, misspelt or duplicated field (k8s-check)", async (t) => {
    const check = toolPath("k8s-check");
    const kustomize = toolPath("kustomize");
    if (check === undefined || kustomize === undefined) {
      t.skip("k8s-check or kustomize is not built (source scripts/lib/toolchain.sh && ensure_deploy_tools)");
      return;
    }
    for (const dir of [K8S_DIR, K8S_HYOK_DIR]) {
      const render = await runTool(kustomize, ["build", dir]);
      assert.equal(render.code, 0, describeRun(`kustomize build ${dir}`, render));
      const result: ToolResult = await runShell(`"${kustomize}" build "${dir}" | "${check}" -`);
      assert.equal(result.code, 0, describeRun(`kustomize build ${dir} | k8s-check -`, result));
    }
    const templates = await runTool(check, [join(K8S_DIR, "secrets.template.yaml")]);
    assert.equal(templates.code, 0, describeRun("k8s-check secrets.template.yaml", templates));
  });

  test("one workload per Keyhold service, running the one image; key-service with two replicas", () => {
    const images = new Set<string>();
    for (const service of BASE_SERVICES) {
      const workload = workloadOf(service);
      for (const c of podContainers(workload)) images.add(str(c["image"], "image"));
      const replicas = Number(obj(workload["spec"], "spec")["replicas"]);
      if (service === "key-service") assert.equal(replicas, 2, "key-service replicas");
      else assert.ok(replicas >= 1, `${service} replicas`);
    }
    assert.equal(images.size, 1, `one Keyhold image: ${[...images].join(", ")}`);
  });

  test("every Keyhold service compose runs has a Kubernetes workload (its hyok profile: in overlays/hyok)", () => {
    const services = obj(loadCompose()["services"], "services");
    for (const [name, s] of Object.entries(services)) {
      const service = obj(s, name);
      const command = service["command"];
      if (!Array.isArray(command) || command[0] !== "serve") continue;
      const from = service["profiles"] === undefined ? objects : hyok.objects;
      assert.doesNotThrow(() => workloadOf(show(command[1]), from), `${name}: keyhold serve ${show(command[1])}`);
    }
  });

  test("xki-proxy (overlays/hyok): its data directory on a retained volume of its own, readiness on the XKS ping path", () => {
    const workload = workloadOf("xki-proxy", hyok.objects);
    const container = mainContainer(workload);
    const env = environment(container, hyok.objects);
    const mount = arr(container["volumeMounts"], "volumeMounts").map((m) => obj(m, "mount")).find((m) => m["mountPath"] === env["KEYHOLD_XKI_DATA_DIR"]);
    assert.ok(mount !== undefined, "KEYHOLD_XKI_DATA_DIR is a mount");
    const templates = arr(obj(workload["spec"], "spec")["volumeClaimTemplates"], "vct").map((t) => nameOf(obj(t, "t")));
    assert.ok(templates.includes(str(mount["name"], "name")));
    const port = Number(str(env["KEYHOLD_XKI_ADDR"], "KEYHOLD_XKI_ADDR").split(":")[1]);
    const xks = arr(container["ports"], "ports").map((p) => obj(p, "port")).find((p) => p["name"] === "xks");
    assert.equal(xks?.["containerPort"], port, "the xks port is KEYHOLD_XKI_ADDR's");
    assert.deepEqual(obj(container["readinessProbe"], "readinessProbe")["httpGet"], { path: "/ping", port: "xks", scheme: "HTTPS" });
  });

  test("a PodDisruptionBudget keeps a key-service replica up during voluntary disruptions", () => {
    const pdb = find(objects, "PodDisruptionBudget", "key-service");
    assert.ok(pdb !== undefined);
    const spec = obj(pdb["spec"], "spec");
    const workload = workloadOf("key-service");
    const podLabels = obj(obj(obj(obj(workload["spec"], "spec")["template"], "template")["metadata"], "metadata")["labels"], "labels");
    for (const [k, v] of Object.entries(obj(obj(spec["selector"], "selector")["matchLabels"], "matchLabels"))) assert.equal(podLabels[k], v, `selects key-service pods (${k})`);
    assert.ok(Number(spec["minAvailable"]) >= 1 && Number(spec["minAvailable"]) < Number(obj(workload["spec"], "spec")["replicas"]), "allows one replica to be drained at a time");
  });

  test("probes: readiness asks grpc.health.v1 on the gRPC port over mTLS with the pod's certificate; liveness and startup on that port", () => {
    for (const service of BASE_SERVICES) {
      const container = mainContainer(workloadOf(service));
      const env = environment(container);
      const grpcPort = port(env["KEYHOLD_GRPC_ADDR"] ?? `0.0.0.0:${GRPC_PORT}`);
      const httpPort = port(env["KEYHOLD_HTTP_ADDR"] ?? `0.0.0.0:${HTTP_PORT}`);
      const ports = arr(container["ports"], "ports").map((p) => obj(p, "port"));
      assert.deepEqual(ports.map((p) => [p["name"], p["containerPort"]]), [["grpc", grpcPort], ["http", httpPort]], `${service} ports match KEYHOLD_GRPC_ADDR / KEYHOLD_HTTP_ADDR`);
      const readiness = arr(obj(obj(container["readinessProbe"], "readinessProbe")["exec"], "exec")["command"], "command").map(String);
      assert.equal(readiness[0], "grpc-health-probe", service);
      assert.ok(readiness.includes(`-addr=127.0.0.1:${grpcPort}`), `${service} readiness on ${grpcPort}`);
      assert.ok(readiness.includes("-tls"));
      assert.ok(readiness.includes(`-tls-client-cert=${env["KEYHOLD_TLS_CERT_FILE"]}`), `${service} presents its certificate`);
      assert.ok(readiness.includes(`-tls-client-key=${env["KEYHOLD_TLS_KEY_FILE"]}`));
      for (const probe of ["livenessProbe", "startupProbe"]) {
        assert.deepEqual(obj(obj(container[probe], probe)["tcpSocket"], "tcpSocket"), { port: "grpc" }, `${service} ${probe}`);
      }
      assert.equal(env["KEYHOLD_TLS_REQUIRE_CLIENT_CERT"], "true", `${service} requires client certificates`);
    }
  });

  test("pods are hardened: non-root, read-only root filesystem, no privilege escalation, all capabilities dropped, resources set", () => {
    for (const workload of workloads(hyok.objects)) {
      const pod = podSpec(workload)!;
      const podSecurity = obj(pod["securityContext"], `${nameOf(workload)} securityContext`);
      assert.equal(podSecurity["runAsNonRoot"], true, nameOf(workload));
      assert.deepEqual(podSecurity["seccompProfile"], { type: "RuntimeDefault" });
      assert.equal(pod["automountServiceAccountToken"], false, `${nameOf(workload)} needs no API token`);
      for (const c of podContainers(workload)) {
        const what = `${nameOf(workload)}/${show(c["name"])}`;
        const security = obj(c["securityContext"], `${what} securityContext`);
        assert.equal(security["readOnlyRootFilesystem"], true, what);
        assert.equal(security["allowPrivilegeEscalation"], false, what);
        assert.deepEqual(obj(security["capabilities"], "capabilities")["drop"], ["ALL"], what);
        const resources = obj(c["resources"], `${what} resources`);
        assert.ok(isObject(resources["requests"]) && "memory" in resources["requests"] && "cpu" in resources["requests"], `${what} requests`);
        assert.ok(isObject(resources["limits"]) && "memory" in resources["limits"], `${what} memory limit`);
      }
    }
  });

  test("each audited service is a StatefulSet whose replicas each keep KEYHOLD_DATA_DIR (the audit outbox) on a retained volume of their own", () => {
    for (const service of AUDITED_SERVICES) {
      const workload = workloadOf(service);
      assert.equal(workload["kind"], "StatefulSet", `${service}: per-replica volumes need a StatefulSet`);
      const spec = obj(workload["spec"], "spec");
      const container = mainContainer(workload);
      const dataDir = environment(container)["KEYHOLD_DATA_DIR"] ?? DATA_DIR;
      const mount = arr(container["volumeMounts"], "volumeMounts").map((m) => obj(m, "mount")).find((m) => m["mountPath"] === dataDir);
      assert.ok(mount !== undefined, `${service} mounts a volume at ${dataDir}`);
      const templates = arr(spec["volumeClaimTemplates"], "volumeClaimTemplates").map((t) => nameOf(obj(t, "template")));
      assert.ok(templates.includes(str(mount["name"], "mount.name")), `${service}'s ${show(mount["name"])} is a volumeClaimTemplate (one PVC per replica)`);
      assert.deepEqual(spec["persistentVolumeClaimRetentionPolicy"], { whenDeleted: "Retain", whenScaled: "Retain" }, `${service}: unshipped events survive scale-down`);
      assert.equal(environment(container)["KEYHOLD_AUDIT_HMAC_KEY_FILE"]?.startsWith("/run/keyhold/secrets/"), true, `${service} reads the audit HMAC key copied with mode 0600`);
    }
  });

  test("each Keyhold workload has a headless Service with its gRPC and HTTP ports (StatefulSets govern through it)", () => {
    for (const service of BASE_SERVICES) {
      const workload = workloadOf(service);
      const svc = find(objects, "Service", service);
      assert.ok(svc !== undefined, `Service ${service}`);
      const spec = obj(svc["spec"], "spec");
      assert.equal(spec["clusterIP"], "None", `${service}: headless, clients see every pod`);
      const podLabels = obj(obj(obj(obj(workload["spec"], "spec")["template"], "template")["metadata"], "metadata")["labels"], "labels");
      for (const [k, v] of Object.entries(obj(spec["selector"], "selector"))) assert.equal(podLabels[k], v, `${service} Service selects its pods`);
      const containerPorts = arr(mainContainer(workload)["ports"], "ports").map((p) => obj(p, "p"));
      for (const p of arr(spec["ports"], "ports").map((x) => obj(x, "port"))) {
        const target = containerPorts.find((c) => c["name"] === p["targetPort"]);
        assert.ok(target !== undefined && target["containerPort"] === p["port"], `${service} port ${show(p["name"])} → ${show(p["targetPort"])}`);
      }
      if (workload["kind"] === "StatefulSet") assert.equal(obj(workload["spec"], "spec")["serviceName"], service);
    }
  });

  test("peer addresses name the peer's Service and gRPC port", () => {
    const config = obj(find(objects, "ConfigMap", "keyhold-config")?.["data"], "keyhold-config");
    const peers: Record<string, string> = {
      KEYHOLD_POLICY_SERVICE_ADDR: "policy-service", KEYHOLD_AUDIT_SERVICE_ADDR: "audit-service",
      KEYHOLD_KEY_SERVICE_ADDR: "key-service", KEYHOLD_HSM_GATEWAY_ADDR: "hsm-gateway",
    };
    for (const [key, peer] of Object.entries(peers)) {
      const [host, p] = str(config[key], key).split(":");
      assert.equal(host, peer, key);
      const svc = find(objects, "Service", host);
      assert.ok(svc !== undefined && arr(obj(svc["spec"], "spec")["ports"], "ports").some((x) => obj(x, "port")["name"] === "grpc" && obj(x, "port")["port"] === Number(p)), `${key} → ${peer}'s gRPC port`);
    }
  });

  test("every Secret, key, ConfigMap and volume a workload uses is defined, and files read from env lie in mounted volumes", () => {
    const secretKeys = new Map(secretsTemplate.map((s) => [nameOf(s), Object.keys({ ...obj(s["stringData"] ?? {}, "stringData"), ...obj(s["data"] ?? {}, "data") })]));
    for (const workload of workloads(hyok.objects)) {
      const pod = podSpec(workload)!;
      const claimNames = arr(obj(workload["spec"], "spec")["volumeClaimTemplates"] ?? [], "vct").map((t) => nameOf(obj(t, "t")));
      const volumes = arr(pod["volumes"] ?? [], "volumes").map((v) => obj(v, "volume"));
      const volumeNames = [...volumes.map((v) => str(v["name"], "volume.name")), ...claimNames];
      for (const v of volumes) {
        if (isObject(v["secret"])) {
          const name = str(v["secret"]["secretName"], "secretName");
          assert.ok(secretKeys.has(name), `${nameOf(workload)}: Secret ${name} is in secrets.template.yaml`);
          for (const item of arr(v["secret"]["items"] ?? [], "items")) assert.ok(secretKeys.get(name)!.includes(str(obj(item, "item")["key"], "key")), `${name} has ${show(obj(item, "item")["key"])}`);
        }
        if (isObject(v["configMap"])) {
          const name = str(v["configMap"]["name"], "configMap.name");
          assert.ok(hyok.objects.some((o) => o["kind"] === "ConfigMap" && (nameOf(o) === name || generatedName(nameOf(o)) === generatedName(name))), `ConfigMap ${name}`);
        }
      }
      for (const c of podContainers(workload)) {
        const mounts = arr(c["volumeMounts"] ?? [], "volumeMounts").map((m) => obj(m, "mount"));
        for (const m of mounts) assert.ok(volumeNames.includes(str(m["name"], "mount.name")), `${nameOf(workload)}/${show(c["name"])} mounts ${show(m["name"])}, which exists`);
        for (const e of arr(c["env"] ?? [], "env").map((x) => obj(x, "env"))) {
          const ref = isObject(e["valueFrom"]) && isObject(e["valueFrom"]["secretKeyRef"]) ? e["valueFrom"]["secretKeyRef"] : undefined;
          if (ref !== undefined) {
            const name = str(ref["name"], "secretKeyRef.name");
            assert.ok(secretKeys.get(name)?.includes(str(ref["key"], "key")), `${nameOf(workload)}: ${show(e["name"])} from ${name}/${show(ref["key"])}, in secrets.template.yaml`);
          }
        }
        if (c === podContainers(workload).at(-1) || arr(pod["containers"], "containers").includes(c)) {
          for (const [key, value] of Object.entries(environment(c, hyok.objects))) {
            if (!key.endsWith("_FILE")) continue;
            assert.ok(mounts.some((m) => value.startsWith(`${str(m["mountPath"], "mountPath")}/`)), `${nameOf(workload)}: ${key}=${value} lies in a mounted volume`);
          }
        }
      }
      const labels = obj(obj(obj(obj(workload["spec"], "spec")["template"], "template")["metadata"], "metadata")["labels"], "labels");
      assert.equal(labels["app.kubernetes.io/part-of"], "keyhold", `${nameOf(workload)} pods carry the label the NetworkPolicies admit`);
    }
  });

  test("no Secret template holds a value", () => {
    for (const s of secretsTemplate) {
      for (const field of ["stringData", "data"]) {
        for (const [key, value] of Object.entries(obj(s[field] ?? {}, field))) assert.equal(value, "", `${nameOf(s)}.${field}.${key} is empty in the template`);
      }
    }
  });
});

function runShell(command: string): Promise<ToolResult> {
  return runTool("/bin/sh", ["-c", `set -e; ${command}`]);
}

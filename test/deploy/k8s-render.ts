// The objects deploy/k8s renders to: `kustomize build` when .tools/bin/kustomize is built
// (scripts/lib/toolchain.sh, ensure_deploy_tools), else a small TypeScript rendering of the
// features deploy/k8s uses (resources, nested kustomizations, configMapGenerator, namespace,
// labels, images), so the checks still run without it.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { toolPath } from "../support/tools.ts";
import { arr, isObject, K8S_DIR, obj, parseYaml, parseYamlStream, readText, repoPath, str, type JsonObject, show } from "./support.ts";
import { statSync } from "node:fs";

const run = promisify(execFile);

export interface Rendered {
  readonly objects: JsonObject[];
  /** "kustomize" or "typescript": who rendered. */
  readonly renderer: "kustomize" | "typescript";
}

export async function renderK8s(dir = K8S_DIR): Promise<Rendered> {
  const kustomize = toolPath("kustomize");
  if (kustomize !== undefined) {
    const { stdout } = await run(kustomize, ["build", dir], { maxBuffer: 64 * 1024 * 1024 });
    return { objects: parseYamlStream(stdout, "kustomize build").map((o) => obj(o, "rendered object")), renderer: "kustomize" };
  }
  return { objects: renderInTypeScript(dir), renderer: "typescript" };
}

/** The TypeScript rendering alone (the fallback), to compare with kustomize's. */
export function renderK8sInTypeScript(dir = K8S_DIR): JsonObject[] {
  return renderInTypeScript(dir);
}

const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume", "StorageClass"]);

function renderInTypeScript(dir: string): JsonObject[] {
  const file = join(dir, "kustomization.yaml");
  const k = obj(parseYaml(readText(file), repoPath(file)), repoPath(file));
  const objects: JsonObject[] = [];
  // Components (kind: Component) add their resources to the kustomization that lists them.
  for (const resource of [...arr(k["resources"] ?? [], "resources"), ...arr(k["components"] ?? [], "components")]) {
    const path = join(dir, str(resource, "resource"));
    if (statSync(path).isDirectory()) objects.push(...renderInTypeScript(path));
    else objects.push(...parseYamlStream(readText(path), repoPath(path)).map((o) => obj(o, repoPath(path))));
  }
  for (const generator of arr(k["configMapGenerator"] ?? [], "configMapGenerator")) {
    const g = obj(generator, "configMapGenerator[]");
    const data: JsonObject = {};
    for (const f of arr(g["files"] ?? [], "files")) {
      const name = str(f, "file");
      data[name] = readText(join(dir, name));
    }
    objects.push({ apiVersion: "v1", kind: "ConfigMap", metadata: { name: str(g["name"], "name") }, data });
  }
  const namespace = k["namespace"];
  const labels = arr(k["labels"] ?? [], "labels").map((l) => obj(l, "labels[]"));
  const images = arr(k["images"] ?? [], "images").map((i) => obj(i, "images[]"));
  for (const o of objects) {
    const metadata = obj(o["metadata"], "metadata");
    if (typeof namespace === "string" && !CLUSTER_SCOPED.has(show(o["kind"]))) metadata["namespace"] = namespace;
    if (typeof namespace === "string" && o["kind"] === "Namespace") metadata["name"] = namespace;
    for (const l of labels) {
      const pairs = obj(l["pairs"], "pairs");
      metadata["labels"] = { ...(isObject(metadata["labels"]) ? metadata["labels"] : {}), ...pairs };
      const template = isObject(o["spec"]) && isObject(o["spec"]["template"]) ? o["spec"]["template"] : undefined;
      if (l["includeTemplates"] === true && template !== undefined) {
        const tm = obj(template["metadata"] ?? {}, "template.metadata");
        tm["labels"] = { ...(isObject(tm["labels"]) ? tm["labels"] : {}), ...pairs };
        template["metadata"] = tm;
      }
    }
    for (const container of podContainers(o)) {
      const image = images.find((i) => i["name"] === container["image"] || `${show(i["newName"])}:${show(i["newTag"])}` === container["image"]);
      if (image !== undefined) container["image"] = `${str(image["newName"] ?? image["name"], "newName")}:${str(image["newTag"], "newTag")}`;
    }
  }
  return objects;
}

/** The pod template of a workload (Deployment, StatefulSet), or undefined. */
export function podSpec(o: JsonObject): JsonObject | undefined {
  const spec = o["spec"];
  if (!isObject(spec) || !isObject(spec["template"])) return undefined;
  const template = spec["template"];
  return isObject(template["spec"]) ? template["spec"] : undefined;
}

/** Containers and init containers of a workload's pod template. */
export function podContainers(o: JsonObject): JsonObject[] {
  const pod = podSpec(o);
  if (pod === undefined) return [];
  return [...arr(pod["initContainers"] ?? [], "initContainers"), ...arr(pod["containers"] ?? [], "containers")].map((c) => obj(c, "container"));
}

export function nameOf(o: JsonObject): string {
  return str(obj(o["metadata"], "metadata")["name"], "metadata.name");
}

export function find(objects: readonly JsonObject[], kind: string, name: string): JsonObject | undefined {
  return objects.find((o) => o["kind"] === kind && nameOf(o) === name);
}

/** kustomize appends a content hash to generated ConfigMap names: envoy-config-abc123 → envoy-config. */
export function generatedName(name: string): string {
  return name.replace(/-[a-z0-9]{10}$/, "");
}

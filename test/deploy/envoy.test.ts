// deploy/envoy/envoy.yaml: valid by Envoy's own API (envoy-check, when built), routing every
// public gRPC service of proto/ to the service that owns it (gRPC and gRPC-Web to the gRPC port,
// Connect to the HTTP port) and no internal one, over mTLS to the right identity, with health
// checks and the x-forwarded-client-cert handling the services' KEYHOLD_TRUSTED_PROXIES expects.
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { join } from "node:path";
import { describeRun, REPO_ROOT, runTool, toolPath } from "../support/tools.ts";
import { find, generatedName, nameOf, podSpec, renderK8s } from "./k8s-render.ts";
import {
  arr, ENVOY_FILE, GRPC_PORT, HTTP_PORT, isObject, loadCompose, loadEnvoy, obj, protoServices, readText, SERVICE_VISIBILITY, str,
  type JsonObject, show,
} from "./support.ts";

const envoy = loadEnvoy();
const staticResources = obj(envoy["static_resources"], "static_resources");
const listeners = arr(staticResources["listeners"], "listeners").map((l) => obj(l, "listener"));
const clusters = arr(staticResources["clusters"], "clusters").map((c) => obj(c, "cluster"));

function typed(value: unknown, what: string): JsonObject {
  return obj(obj(value, what)["typed_config"], `${what}.typed_config`);
}

const listener = listeners[0]!;
const chain = obj(arr(listener["filter_chains"], "filter_chains")[0], "filter_chain");
const hcm = typed(arr(chain["filters"], "filters")[0], "http_connection_manager");
const virtualHost = obj(arr(obj(hcm["route_config"], "route_config")["virtual_hosts"], "virtual_hosts")[0], "virtual_host");
const routes = arr(virtualHost["routes"], "routes").map((r) => obj(r, "route"));

/** Which route Envoy picks for a request (prefix and header matches as used here), in order. */
function routeFor(path: string, contentType: string): JsonObject | undefined {
  return routes.find((route) => {
    const match = obj(route["match"], "match");
    const prefix = str(match["prefix"], "match.prefix");
    if (!path.startsWith(prefix)) return false;
    for (const header of arr(match["headers"] ?? [], "headers")) {
      const h = obj(header, "header");
      assert.equal(h["name"], "content-type", "routes match on content-type only");
      const wanted = str(obj(h["string_match"], "string_match")["prefix"], "string_match.prefix");
      if (!contentType.startsWith(wanted)) return false;
    }
    return true;
  });
}

function clusterOf(route: JsonObject | undefined): string | undefined {
  return route !== undefined && isObject(route["route"]) ? str(route["route"]["cluster"], "route.cluster") : undefined;
}

function endpointOf(cluster: JsonObject): { address: string; port: number } {
  const endpoints = arr(obj(cluster["load_assignment"], "load_assignment")["endpoints"], "endpoints");
  const lb = arr(obj(endpoints[0], "endpoints[0]")["lb_endpoints"], "lb_endpoints");
  const socket = obj(obj(obj(obj(lb[0], "lb_endpoint")["endpoint"], "endpoint")["address"], "address")["socket_address"], "socket_address");
  return { address: str(socket["address"], "address"), port: Number(socket["port_value"]) };
}

const PUBLIC = Object.entries(SERVICE_VISIBILITY).flatMap(([name, v]) => (v.public ? [{ name, owner: v.owner }] : []));
const INTERNAL = [...Object.entries(SERVICE_VISIBILITY).flatMap(([name, v]) => (v.public ? [] : [name])), "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"];
const CONTENT_TYPES = {
  grpc: ["application/grpc", "application/grpc+proto", "application/grpc-web", "application/grpc-web+proto", "application/grpc-web-text"],
  connect: ["application/json", "application/proto", "application/connect+proto", "application/connect+json"],
};

describe("envoy.yaml", () => {
  test("is a valid Envoy bootstrap (decoded strictly into Envoy's API, its validation rules hold)", async (t) => {
    const check = toolPath("envoy-check");
    if (check === undefined) {
      t.skip("envoy-check is not built (source scripts/lib/toolchain.sh && ensure_deploy_tools)");
      return;
    }
    const result = await runTool(check, [ENVOY_FILE]);
    assert.equal(result.code, 0, describeRun("envoy-check", result));
  });

  test("every service in proto/ is classified as public or internal", () => {
    const declared = protoServices().map((s) => s.name).sort();
    assert.deepEqual(declared, Object.keys(SERVICE_VISIBILITY).sort(), "a new proto service needs a decision in test/deploy/support.ts SERVICE_VISIBILITY");
  });

  test("every public service is routed to its owner: gRPC and gRPC-Web to the gRPC port, Connect to the HTTP port", () => {
    for (const { name, owner } of PUBLIC) {
      const path = `/${name}/AnyMethod`;
      for (const contentType of CONTENT_TYPES.grpc) assert.equal(clusterOf(routeFor(path, contentType)), `${owner}-grpc`, `${path} ${contentType}`);
      for (const contentType of CONTENT_TYPES.connect) assert.equal(clusterOf(routeFor(path, contentType)), `${owner}-http`, `${path} ${contentType}`);
    }
  });

  test("no internal service (nor health or reflection) is routed; anything unknown is a 404", () => {
    for (const name of [...INTERNAL, "keyhold.key.v1.KeyServiceX", "keyhold.key.v1"]) {
      for (const contentType of [...CONTENT_TYPES.grpc, ...CONTENT_TYPES.connect]) {
        const route = routeFor(`/${name}/Check`, contentType);
        assert.equal(clusterOf(route), undefined, `/${name}/ must not reach a cluster (${contentType})`);
        assert.deepEqual(route?.["direct_response"], { status: 404 });
      }
    }
  });

  test("routes name defined clusters, and every cluster is used", () => {
    const defined = clusters.map((c) => str(c["name"], "cluster.name"));
    const used = new Set(routes.flatMap((r) => (isObject(r["route"]) ? [str(r["route"]["cluster"], "cluster")] : [])));
    assert.deepEqual([...used].sort(), [...defined].sort());
  });

  test("clusters: HTTP/2 with grpc.health.v1 checks to the gRPC port, HTTP/1.1 with /healthz to the HTTP port, every replica", () => {
    for (const cluster of clusters) {
      const name = str(cluster["name"], "name");
      const [, owner, kind] = /^(.+)-(grpc|http)$/.exec(name) ?? [];
      assert.ok(owner !== undefined && kind !== undefined, `${name} is <service>-grpc or <service>-http`);
      const { address, port } = endpointOf(cluster);
      assert.equal(address, owner, `${name} resolves the service name (compose alias, headless Service)`);
      assert.equal(cluster["type"], "STRICT_DNS", `${name}: every address DNS answers, not one`);
      const http = obj(obj(obj(cluster["typed_extension_protocol_options"], "protocol options")["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"], "HttpProtocolOptions")["explicit_http_config"], "explicit_http_config");
      const check = obj(arr(cluster["health_checks"], "health_checks")[0], "health_check");
      if (kind === "grpc") {
        assert.equal(port, GRPC_PORT);
        assert.ok("http2_protocol_options" in http, `${name} speaks HTTP/2`);
        assert.equal(obj(check["grpc_health_check"], "grpc_health_check")["service_name"], "", `${name}: grpc.health.v1, overall status`);
      } else {
        assert.equal(port, HTTP_PORT);
        assert.ok("http_protocol_options" in http, `${name} speaks HTTP/1.1 (the connect-node front door)`);
        assert.equal(obj(check["http_health_check"], "http_health_check")["path"], "/healthz");
      }
    }
  });

  test("upstream mTLS: Envoy's client certificate, the Keyhold CA, and only the owner's SPIFFE id", () => {
    for (const cluster of clusters) {
      const owner = str(cluster["name"], "name").replace(/-(grpc|http)$/, "");
      const tls = typed(cluster["transport_socket"], "transport_socket");
      assert.equal(tls["@type"], "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext");
      const common = obj(tls["common_tls_context"], "common_tls_context");
      const certificate = obj(arr(common["tls_certificates"], "tls_certificates")[0], "tls_certificate");
      assert.deepEqual(certificate["certificate_chain"], { filename: "/etc/keyhold/tls/envoy.crt" });
      assert.deepEqual(certificate["private_key"], { filename: "/etc/keyhold/tls/envoy.key" });
      const validation = obj(common["validation_context"], "validation_context");
      assert.deepEqual(validation["trusted_ca"], { filename: "/etc/keyhold/tls/ca.crt" });
      assert.deepEqual(validation["match_typed_subject_alt_names"], [{ san_type: "URI", matcher: { exact: `spiffe://keyhold.internal/service/${owner}` } }]);
    }
  });

  test("gRPC-Web and CORS filters run before the router; browsers may send and read what gRPC-Web and Connect need", () => {
    const filters = arr(hcm["http_filters"], "http_filters").map((f) => str(obj(f, "filter")["name"], "filter.name"));
    assert.deepEqual(filters, ["envoy.filters.http.grpc_web", "envoy.filters.http.cors", "envoy.filters.http.router"]);
    const cors = obj(obj(virtualHost["typed_per_filter_config"], "typed_per_filter_config")["envoy.filters.http.cors"], "cors");
    const list = (key: string) => str(cors[key], key).split(",").map((s) => s.trim());
    for (const header of ["authorization", "content-type", "x-grpc-web", "x-user-agent", "grpc-timeout", "connect-protocol-version", "connect-timeout-ms"]) {
      assert.ok(list("allow_headers").includes(header), `allow_headers has ${header}`);
    }
    for (const header of ["grpc-status", "grpc-message", "grpc-status-details-bin"]) assert.ok(list("expose_headers").includes(header), `expose_headers has ${header}`);
  });

  test("client certificates: verified if presented, forwarded as x-forwarded-client-cert after dropping any the client sent", () => {
    const tls = typed(chain["transport_socket"], "downstream transport_socket");
    assert.equal(tls["require_client_certificate"], false, "public callers may use API keys instead");
    assert.deepEqual(obj(obj(tls["common_tls_context"], "common")["validation_context"], "validation_context")["trusted_ca"], { filename: "/etc/keyhold/tls/ca.crt" });
    assert.equal(hcm["forward_client_cert_details"], "SANITIZE_SET");
    const details = obj(hcm["set_current_client_cert_details"], "set_current_client_cert_details");
    assert.equal(details["uri"], true, "the SPIFFE id / URI SAN is forwarded");
    assert.equal(details["dns"], true, "DNS SANs are forwarded");
  });

  test("the header peer services use to forward the end caller is dropped from every outside request", () => {
    const removed = arr(obj(hcm["route_config"], "route_config")["request_headers_to_remove"], "request_headers_to_remove");
    assert.ok(removed.includes("x-keyhold-caller"), "x-keyhold-caller (packages/authz FORWARDED_CALLER_HEADER)");
    assert.match(readText(join(REPO_ROOT, "packages", "authz", "src", "forwarded-caller.ts")), /FORWARDED_CALLER_HEADER = "x-keyhold-caller"/, "the header's name in the code");
  });

  test("the admin interface listens on loopback only", () => {
    const admin = obj(obj(obj(envoy["admin"], "admin")["address"], "admin.address")["socket_address"], "socket_address");
    assert.equal(admin["address"], "127.0.0.1");
  });

  describe("matches compose and Kubernetes", () => {
    let k8s: JsonObject[];
    before(async () => {
      k8s = (await renderK8s()).objects;
    });

    test("compose: each cluster's address is a name that reaches its owner, and Envoy has the files envoy.yaml reads", () => {
      const compose = loadCompose();
      const services = obj(compose["services"], "services");
      for (const cluster of clusters) {
        const owner = str(cluster["name"], "name").replace(/-(grpc|http)$/, "");
        const { address } = endpointOf(cluster);
        const reaching = Object.entries(services).filter(([name, s]) => {
          const networks = obj(s, name)["networks"];
          const aliases = isObject(networks) && isObject(networks["keyhold"]) && Array.isArray(networks["keyhold"]["aliases"]) ? networks["keyhold"]["aliases"] : [];
          return name === address || aliases.includes(address);
        });
        assert.ok(reaching.length > 0, `${address} resolves in compose`);
        for (const [name, s] of reaching) assert.deepEqual(obj(s, name)["command"], ["serve", owner], `${address} reaches ${owner}`);
      }
      const mounts = arr(obj(services["envoy"], "envoy")["volumes"], "envoy.volumes").map(String);
      assert.ok(mounts.includes("tls:/etc/keyhold/tls:ro"), "the tls volume at /etc/keyhold/tls");
      const port = Number(obj(obj(listener["address"], "address")["socket_address"], "socket_address")["port_value"]);
      assert.ok(arr(obj(services["envoy"], "envoy")["ports"], "ports").map(String).includes(`${port}:${port}`), `compose publishes ${port}`);
    });

    test("Kubernetes: each cluster's address is a headless Service of its owner with that port; Envoy gets envoy.yaml and its files", () => {
      for (const cluster of clusters) {
        const owner = str(cluster["name"], "name").replace(/-(grpc|http)$/, "");
        const { address, port } = endpointOf(cluster);
        const service = find(k8s, "Service", address);
        assert.ok(service !== undefined, `Service ${address}`);
        const spec = obj(service["spec"], "spec");
        assert.equal(spec["clusterIP"], "None", `${address} is headless: Envoy balances over every pod`);
        assert.deepEqual(obj(spec["selector"], "selector"), { "app.kubernetes.io/name": owner });
        assert.ok(arr(spec["ports"], "ports").some((p) => obj(p, "port")["port"] === port), `${address} has port ${port}`);
      }
      const deployment = find(k8s, "Deployment", "envoy");
      assert.ok(deployment !== undefined);
      const pod = podSpec(deployment)!;
      const volumes = arr(pod["volumes"], "volumes").map((v) => obj(v, "volume"));
      const config = obj(volumes.find((v) => v["name"] === "config")?.["configMap"], "config volume");
      const configMap = k8s.find((o) => o["kind"] === "ConfigMap" && nameOf(o) === str(config["name"], "name"));
      assert.ok(configMap !== undefined, `ConfigMap ${show(config["name"])}`);
      assert.equal(generatedName(nameOf(configMap)), "envoy-config");
      assert.equal(obj(configMap["data"], "data")["envoy.yaml"], readText(ENVOY_FILE), "the ConfigMap holds deploy/envoy/envoy.yaml");
      const tls = obj(volumes.find((v) => v["name"] === "tls")?.["secret"], "tls volume");
      const paths = arr(tls["items"], "items").map((i) => `/etc/keyhold/tls/${str(obj(i, "item")["path"], "path")}`).sort();
      assert.deepEqual(paths, ["/etc/keyhold/tls/ca.crt", "/etc/keyhold/tls/envoy.crt", "/etc/keyhold/tls/envoy.key"]);
      const container = obj(arr(pod["containers"], "containers")[0], "container");
      const port = Number(obj(obj(listener["address"], "address")["socket_address"], "socket_address")["port_value"]);
      assert.ok(arr(container["ports"], "ports").some((p) => obj(p, "port")["containerPort"] === port), `container port ${port}`);
    });
  });
});

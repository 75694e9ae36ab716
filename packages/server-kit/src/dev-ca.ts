// A development CA for service-to-service mTLS (`keyhold dev-ca <dir>`), made with the openssl CLI
// (Node can verify certificates but not issue them): ca.crt / ca.key, and for every Keyhold
// service <service>.crt / <service>.key, a certificate for both ends of a link (serverAuth and
// clientAuth) with the service's identity: URI SAN spiffe://keyhold.internal/service/<service>,
// DNS SANs localhost and <service>, IP SAN 127.0.0.1. Also envoy.crt / envoy.key for the edge
// proxy in deploy/ (URI SAN spiffe://keyhold.internal/edge/envoy: NOT a service identity, so a
// service never takes Envoy's calls for another service's). Private keys are mode 0600, the
// directory 0700. PEM files; the names are the ones deploy/ mounts.
//
// Idempotent: an existing CA is kept (and so is each existing service certificate) unless `force`,
// which makes everything anew. For development and tests only: the CA key sits next to the
// certificates, unencrypted.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KEYHOLD_SERVICES, serviceSpiffeId, type KeyholdServiceName } from "./service-identity.ts";

export interface DevCaFiles {
  readonly dir: string;
  readonly caFile: string;
  /** Each service's certificate and key files. */
  readonly services: Readonly<Record<KeyholdServiceName, { readonly certFile: string; readonly keyFile: string }>>;
  /** The edge proxy's (Envoy in deploy/) certificate and key files: no service identity. */
  readonly edge: { readonly certFile: string; readonly keyFile: string };
}

/** The URI SAN of the edge proxy's development certificate (outside the service namespace). */
export const EDGE_PROXY_SPIFFE_ID = "spiffe://keyhold.internal/edge/envoy";

export interface DevCaResult extends DevCaFiles {
  /** What this run made: "ca" and/or service names (empty: everything was there already). */
  readonly created: readonly string[];
}

export const DEV_CA_DAYS = 3650;
export const DEV_SERVICE_CERT_DAYS = 825;

/** The file names of a dev CA directory (whether or not they exist yet). */
export function devCaFiles(dir: string): DevCaFiles {
  const services = {} as Record<KeyholdServiceName, { certFile: string; keyFile: string }>;
  for (const service of KEYHOLD_SERVICES) services[service] = { certFile: join(dir, `${service}.crt`), keyFile: join(dir, `${service}.key`) };
  return { dir, caFile: join(dir, "ca.crt"), services, edge: { certFile: join(dir, "envoy.crt"), keyFile: join(dir, "envoy.key") } };
}

function openssl(cwd: string, args: readonly string[]): void {
  try {
    execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString("utf8").trim() ?? "";
    throw new Error(`openssl ${args[0] ?? ""} failed${stderr === "" ? "" : `: ${stderr.split("\n")[0] ?? ""}`}`, { cause: error });
  }
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"] as const;

/** Creates (or completes) a development CA in `dir`; see the file comment. */
export function createDevCa(dir: string, options: { readonly force?: boolean } = {}): DevCaResult {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const files = devCaFiles(dir);
  const caKey = join(dir, "ca.key");
  const created: string[] = [];
  // Everything is made in a scratch directory inside `dir` and renamed into place, so a failed
  // run leaves no half-written file behind.
  const work = mkdtempSync(join(dir, ".work-"));
  try {
    const force = options.force === true;
    if (force || !existsSync(files.caFile) || !existsSync(caKey)) {
      openssl(work, [
        "req", "-x509", ...EC_KEY, "-keyout", "ca.key", "-out", "ca.crt", "-days", String(DEV_CA_DAYS),
        "-subj", "/O=Keyhold development/CN=Keyhold development CA",
        "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
      ]);
      chmodSync(join(work, "ca.key"), 0o600);
      renameSync(join(work, "ca.key"), caKey);
      renameSync(join(work, "ca.crt"), files.caFile);
      created.push("ca");
    }
    const newCa = created.includes("ca");
    const leaves: { readonly name: string; readonly uri: string; readonly files: { readonly certFile: string; readonly keyFile: string } }[] = [
      ...KEYHOLD_SERVICES.map((service) => ({ name: service, uri: serviceSpiffeId(service), files: files.services[service] })),
      { name: "envoy", uri: EDGE_PROXY_SPIFFE_ID, files: files.edge },
    ];
    for (const { name, uri, files: { certFile, keyFile } } of leaves) {
      if (!newCa && existsSync(certFile) && existsSync(keyFile)) continue;
      writeFileSync(
        join(work, `${name}.ext`),
        [
          "basicConstraints=critical,CA:FALSE",
          "keyUsage=critical,digitalSignature",
          "extendedKeyUsage=serverAuth,clientAuth",
          `subjectAltName=URI:${uri},DNS:localhost,DNS:${name},IP:127.0.0.1`,
        ].join("\n") + "\n",
      );
      openssl(work, ["req", ...EC_KEY, "-keyout", `${name}.key`, "-out", `${name}.csr`, "-subj", `/O=Keyhold development/CN=${name}`]);
      openssl(work, [
        "x509", "-req", "-in", `${name}.csr`, "-CA", files.caFile, "-CAkey", caKey,
        "-set_serial", `0x${randomBytes(16).toString("hex").replace(/^[89a-f]/, "7")}`,
        "-days", String(DEV_SERVICE_CERT_DAYS), "-extfile", `${name}.ext`, "-out", `${name}.crt`,
      ]);
      chmodSync(join(work, `${name}.key`), 0o600);
      renameSync(join(work, `${name}.key`), keyFile);
      renameSync(join(work, `${name}.crt`), certFile);
      created.push(name);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { ...files, created };
}

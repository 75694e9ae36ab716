// TLS on both front doors: the server's certificate, and optionally client certificates
// verified against a client CA (mTLS). A handler sees a client certificate only through
// CallContext.peerIdentity, and only once it verified: its SAN URIs (e.g. SPIFFE ids) and DNS
// names.
import { readFile } from "node:fs/promises";
import type { ServerOptions as HttpsServerOptions } from "node:https";
import type { PeerCertificate, TLSSocket } from "node:tls";
import * as grpc from "@grpc/grpc-js";

/** TLS settings of a Keyhold server (both front doors). */
export interface ServerTlsOptions {
  /** PEM: the server certificate, then any intermediates. */
  readonly certFile: string;
  /** PEM: the server certificate's private key. */
  readonly keyFile: string;
  /**
   * PEM: the CA(s) client certificates must chain to. Set: clients are asked for a certificate
   * (the SANs of one that verifies identify the caller). Unset: no client certificates.
   */
  readonly clientCaFile?: string;
  /** Refuse, at the handshake, a client without a certificate that verifies (needs clientCaFile). */
  readonly requireClientCert: boolean;
}

/** The identity of a verified client certificate: its subject alternative names. */
export interface PeerIdentity {
  /** URI SANs, e.g. spiffe://example.org/ns/prod/sa/billing, in certificate order. */
  readonly uris: readonly string[];
  /** DNS SANs, in certificate order. */
  readonly dnsNames: readonly string[];
}

export interface TlsMaterial {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly clientCa: Buffer | undefined;
  readonly requireClientCert: boolean;
}

async function readPem(what: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new Error(`cannot read the TLS ${what} file ${path}: ${error instanceof Error && "code" in error ? String(error.code) : "unreadable"}`, { cause: error });
  }
}

export async function loadTlsMaterial(options: ServerTlsOptions): Promise<TlsMaterial> {
  if (options.requireClientCert && options.clientCaFile === undefined) {
    throw new Error("TLS: requiring client certificates needs a client CA file");
  }
  const [cert, key, clientCa] = await Promise.all([
    readPem("certificate", options.certFile),
    readPem("private key", options.keyFile),
    options.clientCaFile === undefined ? Promise.resolve(undefined) : readPem("client CA", options.clientCaFile),
  ]);
  return { cert, key, clientCa, requireClientCert: options.requireClientCert };
}

/** Options for node:https (HTTP/1.1: Connect and gRPC-Web). */
export function httpsServerOptions(material: TlsMaterial): HttpsServerOptions {
  return {
    cert: material.cert,
    key: material.key,
    minVersion: "TLSv1.2",
    ALPNProtocols: ["http/1.1"],
    requestCert: material.clientCa !== undefined,
    rejectUnauthorized: material.requireClientCert,
    ...(material.clientCa === undefined ? {} : { ca: material.clientCa }),
  };
}

/**
 * A certificate provider serving fixed material. It answers a listener on the next tick: grpc-js
 * subscribes to its providers just before it registers the server's context watcher (so a
 * synchronous answer would be lost), and drops connections until the material arrived (so it must
 * arrive before the event loop can accept one: process.nextTick, not setImmediate).
 */
class StaticCertificateProvider implements grpc.experimental.CertificateProvider {
  private readonly ca: grpc.experimental.CaCertificateUpdate | undefined;
  private readonly identity: grpc.experimental.IdentityCertificateUpdate | undefined;

  constructor(ca: Buffer | undefined, identity: { cert: Buffer; key: Buffer } | undefined) {
    this.ca = ca === undefined ? undefined : { caCertificate: ca };
    this.identity = identity === undefined ? undefined : { certificate: identity.cert, privateKey: identity.key };
  }

  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    const update = this.ca;
    if (update !== undefined) process.nextTick(() => listener(update));
  }
  removeCaCertificateListener(): void {}
  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    const update = this.identity;
    if (update !== undefined) process.nextTick(() => listener(update));
  }
  removeIdentityCertificateListener(): void {}
}

/**
 * Credentials for the gRPC port. TLS 1.2 or later (HTTP/2 requires it; Node's minimum).
 * grpc-js's createSsl either requires a client certificate or never asks for one; optional client
 * certificates (a client CA, not required) use its certificate-provider credentials, which ask
 * and let the handshake through when none verifies, as the HTTPS port does.
 */
export function grpcServerCredentials(material: TlsMaterial): grpc.ServerCredentials {
  const pair = { private_key: material.key, cert_chain: material.cert };
  if (material.clientCa === undefined) return grpc.ServerCredentials.createSsl(null, [pair], false);
  if (material.requireClientCert) return grpc.ServerCredentials.createSsl(material.clientCa, [pair], true);
  // The exported function names its parameters (ca, identity) but passes them on as (identity, ca).
  return grpc.experimental.createCertificateProviderServerCredentials(
    new StaticCertificateProvider(undefined, { cert: material.cert, key: material.key }),
    new StaticCertificateProvider(material.clientCa, undefined),
    false,
  );
}

/**
 * Parses Node's `subjectaltname` ("DNS:a.example, URI:spiffe://x/y, IP Address:10.0.0.1"; a
 * value with special characters is a JSON string: URI:"spiffe://x/a,b"). Unknown types are
 * skipped; parsing stops at anything malformed (what was read before stands).
 */
export function parseSubjectAltName(text: string): PeerIdentity {
  const uris: string[] = [];
  const dnsNames: string[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(":", i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      let j = colon + 2;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      if (j >= text.length) break;
      try {
        value = JSON.parse(text.slice(colon + 1, j + 1)) as string;
      } catch {
        break;
      }
      end = j + 1;
    } else {
      const comma = text.indexOf(", ", colon + 1);
      end = comma < 0 ? text.length : comma;
      value = text.slice(colon + 1, end);
    }
    if (type === "URI") uris.push(value);
    else if (type === "DNS") dnsNames.push(value);
    if (end === text.length) break;
    if (!text.startsWith(", ", end)) break;
    i = end + 2;
  }
  return { uris, dnsNames };
}

/** The identity of a peer certificate (undefined when there is none). */
export function peerIdentityOf(certificate: PeerCertificate | undefined): PeerIdentity | undefined {
  if (certificate === undefined || certificate.raw === undefined) return undefined;
  return parseSubjectAltName(certificate.subjectaltname ?? "");
}

/** A TLS socket's client certificate identity, when the certificate verified against the client CA. */
export function verifiedPeerIdentity(socket: TLSSocket): PeerIdentity | undefined {
  if (!socket.authorized) return undefined;
  return peerIdentityOf(socket.getPeerCertificate());
}

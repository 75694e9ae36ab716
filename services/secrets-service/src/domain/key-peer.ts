// secrets-service's view of key-service: data keys for envelope encryption, and the account's
// default secrets key. Every call goes through key-service's generated clients, forwarding the
// principal it acts for (the end caller, or for service work the secret's account root), so
// key-service authorizes kms:GenerateDataKey / kms:Decrypt for that principal with
// kms:ViaService = secrets-service. secrets-service never sees a root key or key material.
import type { Client } from "@connectrpc/connect";
import { forwardedCallerHeaders } from "@keyhold/authz";
import { DataKeySpec, type CryptoService, type KeyService } from "@keyhold/proto";
import { fromPeerError, KeyholdError, type Principal } from "@keyhold/server-kit";

export const SECRETS_SERVICE_NAME = "secrets-service";

/** The account root, for work secrets-service does on an account's behalf (rotation, default key). */
export function accountRoot(accountId: string): Principal {
  return { accountId, krn: `krn:keyhold:iam::${accountId}:root`, kind: "root", name: "root" };
}

/** key-service's errors about the key, named as this API's field. */
function keyError(error: unknown, field: string): KeyholdError {
  const peer = fromPeerError(error, "key-service");
  if (peer.field === "key_id" || peer.field === "ciphertext_blob") return new KeyholdError(peer.reason, peer.message.replace(/^[a-z_]+:/, `${field}:`), { field });
  return peer;
}

export interface DataKey {
  /** Zero it when done. */
  readonly plaintext: Buffer;
  readonly ciphertextBlob: Buffer;
  /** The krn of the key it is under. */
  readonly keyKrn: string;
}

export class KeyPeer {
  private readonly crypto: Client<typeof CryptoService>;
  private readonly keys: Client<typeof KeyService>;
  private readonly timeoutMs: number;

  constructor(crypto: Client<typeof CryptoService>, keys: Client<typeof KeyService>, timeoutMs = 30_000) {
    this.crypto = crypto;
    this.keys = keys;
    this.timeoutMs = timeoutMs;
  }

  async generateDataKey(actor: Principal, keyRef: string, context: Readonly<Record<string, string>>, field: string): Promise<DataKey> {
    try {
      const response = await this.crypto.generateDataKey(
        { keyId: keyRef, keySpec: DataKeySpec.AES_256, encryptionContext: context },
        { headers: forwardedCallerHeaders(actor), timeoutMs: this.timeoutMs },
      );
      return { plaintext: Buffer.from(response.plaintext), ciphertextBlob: Buffer.from(response.ciphertextBlob), keyKrn: response.keyId };
    } catch (error) {
      throw keyError(error, field);
    }
  }

  async decrypt(actor: Principal, keyKrn: string, ciphertextBlob: Buffer, context: Readonly<Record<string, string>>, field: string): Promise<Buffer> {
    try {
      const response = await this.crypto.decrypt(
        { ciphertextBlob, keyId: keyKrn, encryptionContext: context },
        { headers: forwardedCallerHeaders(actor), timeoutMs: this.timeoutMs },
      );
      return Buffer.from(response.plaintext);
    } catch (error) {
      throw keyError(error, field);
    }
  }

  /** The krn of the key `keyRef` names, checked usable by `actor` (kms:DescribeKey via GetKey). */
  async describeKey(actor: Principal, keyRef: string, field: string): Promise<string> {
    try {
      const response = await this.keys.getKey({ keyId: keyRef }, { headers: forwardedCallerHeaders(actor), timeoutMs: this.timeoutMs });
      const krn = response.keyMetadata?.krn;
      if (krn === undefined || krn === "") throw new KeyholdError("INTERNAL", "GetKey answered no krn");
      return krn;
    } catch (error) {
      throw keyError(error, field);
    }
  }

  /**
   * Creates an account's default secrets key as that account's root, with a key policy that
   * lets any principal of the account use it through secrets-service only (AWS's
   * aws/secretsmanager key). Returns its krn.
   */
  async createDefaultKey(accountId: string): Promise<string> {
    const root = accountRoot(accountId);
    try {
      const created = await this.keys.createKey(
        { description: "Default key of secrets-service: encrypts the secrets of this account that name no key (service-managed)" },
        { headers: forwardedCallerHeaders(root), timeoutMs: this.timeoutMs },
      );
      const metadata = created.keyMetadata;
      if (metadata === undefined) throw new KeyholdError("INTERNAL", "CreateKey answered no key");
      await this.keys.putKeyPolicy(
        { keyId: metadata.keyId, policy: defaultSecretsKeyPolicy(accountId) },
        { headers: forwardedCallerHeaders(root), timeoutMs: this.timeoutMs },
      );
      return metadata.krn;
    } catch (error) {
      throw fromPeerError(error, "key-service");
    }
  }
}

export function defaultSecretsKeyPolicy(accountId: string): string {
  return JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      { Sid: "EnableOwnerRoot", Effect: "Allow", Principal: { KRN: `krn:keyhold:iam::${accountId}:root` }, Action: "kms:*", Resource: "*" },
      {
        Sid: "AllowAccountThroughSecretsService",
        Effect: "Allow",
        Principal: "*",
        Action: ["kms:GenerateDataKey", "kms:Decrypt", "kms:GetKey", "kms:DescribeKey"],
        Resource: "*",
        Condition: { StringEquals: { "kms:CallerAccount": accountId, "kms:ViaService": SECRETS_SERVICE_NAME } },
      },
    ],
  });
}

// Which quota a public call counts against. Cryptographic calls are the hot, expensive ones and
// are counted per kind of key (as AWS KMS does); secret reads and writes have their own class;
// every other call of a rate-limited service (create, describe, list, tag, seal...) is "control".
export const OPERATION_CLASSES = ["symmetric", "asymmetric", "secrets", "control"] as const;

export type OperationClass = (typeof OPERATION_CLASSES)[number];

const BY_METHOD: Readonly<Record<string, OperationClass>> = {
  // keyhold.key.v1.CryptoService: symmetric keys, HMAC keys and randomness.
  Encrypt: "symmetric",
  Decrypt: "symmetric",
  ReEncrypt: "symmetric",
  GenerateDataKey: "symmetric",
  GenerateDataKeyWithoutPlaintext: "symmetric",
  GenerateAndExportDataKey: "symmetric",
  GenerateMac: "symmetric",
  VerifyMac: "symmetric",
  GenerateRandom: "symmetric",
  // keyhold.key.v1.CryptoService / KeyService: asymmetric keys.
  Sign: "asymmetric",
  Verify: "asymmetric",
  AsymmetricEncrypt: "asymmetric",
  AsymmetricDecrypt: "asymmetric",
  GenerateDataKeyPair: "asymmetric",
  GenerateDataKeyPairWithoutPlaintext: "asymmetric",
  GetPublicKey: "asymmetric",
  // keyhold.secrets.v1.SecretsService: values.
  GetSecretValue: "secrets",
  BatchGetSecretValue: "secrets",
  PutSecretValue: "secrets",
  GetRandomPassword: "secrets",
};

/** The class of an RPC by its method name (e.g. "Encrypt"); anything not listed is "control". */
export function operationClassOf(methodName: string): OperationClass {
  return BY_METHOD[methodName] ?? "control";
}

export function isOperationClass(value: string): value is OperationClass {
  return (OPERATION_CLASSES as readonly string[]).includes(value);
}

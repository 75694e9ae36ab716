// Shared pieces of the conformance suite: request metadata and bodies as KMS sends them.
export const META = {
  awsPrincipalArn: "arn:aws:iam::111122223333:user/Alice",
  kmsKeyArn: "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
  kmsOperation: "Encrypt",
  kmsRequestId: "4112f4d6-db54-4af4-ae30-c55a22a8dfae",
};

export function encryptBody(plaintext: Buffer, aad?: Buffer, cdiv = false): Record<string, unknown> {
  return {
    requestMetadata: META,
    plaintext: plaintext.toString("base64"),
    encryptionAlgorithm: "AES_GCM",
    ...(aad === undefined ? {} : { additionalAuthenticatedData: aad.toString("base64") }),
    ...(cdiv ? { ciphertextDataIntegrityValueAlgorithm: "SHA_256" } : {}),
  };
}

export function decryptBody(sealed: Record<string, unknown>, aad?: Buffer): Record<string, unknown> {
  return {
    requestMetadata: { ...META, kmsOperation: "Decrypt" },
    ciphertext: sealed["ciphertext"],
    ...(sealed["ciphertextMetadata"] === undefined ? {} : { ciphertextMetadata: sealed["ciphertextMetadata"] }),
    initializationVector: sealed["initializationVector"],
    authenticationTag: sealed["authenticationTag"],
    encryptionAlgorithm: "AES_GCM",
    ...(aad === undefined ? {} : { additionalAuthenticatedData: aad.toString("base64") }),
  };
}

export const metadataBody = { requestMetadata: { ...META, kmsOperation: "DescribeKey" } };
export const healthBody = { requestMetadata: { kmsRequestId: "h-1", kmsOperation: "KmsHealthCheck" } };

export {
  ALGORITHM, amzDateOf, canonicalPath, canonicalQuery, canonicalRequest, credentialScope, parseAuthorization, signature, signingKey, signRequest,
  stringToSign, uriEncode, verifyRequest,
} from "./sigv4.ts";
export type { Credentials, ParsedAuthorization, Scope, SignableRequest, SignOptions, VerifyFailure, VerifyOptions, VerifyOutcome } from "./sigv4.ts";

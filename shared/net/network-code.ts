/**
 * The network failure (DNS, refused, unreachable, TLS...) behind an SDK error,
 * found through its code, message and causes, so a store can say "could not
 * reach" instead of the SDK's wording.
 */
const NETWORK_CODES = [
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'ECONNRESET',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_TLS_CERT_ALTNAME_INVALID',
];

/** The network failure code (DNS, refused, TLS...) of an SDK error, looking through messages and causes; undefined for other errors. */
export function networkCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; depth++) {
    const obj = e as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof obj.code === 'string' && NETWORK_CODES.includes(obj.code)) return obj.code;
    if (typeof obj.message === 'string') {
      const hit = NETWORK_CODES.find((c) => obj.message && (obj.message as string).includes(c));
      if (hit) return hit;
    }
    e = obj.cause;
  }
  return undefined;
}

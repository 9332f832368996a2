/**
 * A signature-verifying front for s3rver, which accepts any signature (and
 * so could not catch a wrong or unused S3 secret). An HTTP proxy on 127.0.0.1
 * that verifies each request's AWS Signature Version 4 (the Authorization
 * header form: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
 * Signature=...) with the one known access key and secret, and forwards it
 * to the server behind only when it matches. Refused requests get S3's own
 * answers: 403 InvalidAccessKeyId for another key id, 403
 * SignatureDoesNotMatch for a wrong signature, 400 XAmzContentSHA256Mismatch
 * for a body whose sha256 is not the signed x-amz-content-sha256, 403
 * AccessDenied for an unsigned request.
 * x-amz-content-sha256 may be UNSIGNED-PAYLOAD (or the streaming forms, whose
 * literal is what is signed); a hex digest is checked against the body.
 * Presigned URLs (query-string signatures) are refused: nothing here uses them.
 * With `checkSessionToken` (temporary credentials, e.g. from a fake STS) the
 * request's x-amz-security-token must be one that is known and not expired:
 * else 400 InvalidToken or 400 ExpiredToken, as S3 answers.
 *
 * Canonical request as in the SigV4 documentation for S3: the path as sent
 * (S3 does not normalise or re-encode it), the query parameters decoded,
 * re-encoded (RFC 3986) and sorted, the signed headers lower-cased with their
 * values trimmed and inner spaces collapsed.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SigV4Front {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  port: number;
  /** Requests refused so far, with S3's error code. */
  refused: Array<{ method: string; url: string; code: string }>;
  /** Requests verified and forwarded so far. */
  verified: number;
  /** The x-amz-security-token of each verified request, in order (undefined when it had none). */
  sessionTokens: Array<string | undefined>;
  stop(): Promise<void>;
}

export interface SigV4FrontOptions {
  /** Port of the S3 server behind (on 127.0.0.1). */
  targetPort: number;
  accessKeyId: string;
  secretAccessKey: string;
  /** Temporary credentials: whether a session token is known and current (requests must carry a valid one). */
  checkSessionToken?: (token: string | undefined) => 'valid' | 'expired' | 'unknown';
}

const sha256Hex = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');
const hmac = (key: Buffer | string, data: string) => createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding, as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
function rfc3986(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function canonicalQuery(raw: string): string {
  if (!raw) return '';
  const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, '%20'));
  return raw
    .split('&')
    .filter(Boolean)
    .map((p) => {
      const i = p.indexOf('=');
      const k = i < 0 ? p : p.slice(0, i);
      const v = i < 0 ? '' : p.slice(i + 1);
      return [rfc3986(decode(k)), rfc3986(decode(v))] as [string, string];
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** The SigV4 signature of a request (exported for the front's own unit test). */
export function sigV4Signature(input: {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  signedHeaders: string[];
  payloadHash: string;
  amzDate: string;
  scope: string;
  secretAccessKey: string;
}): string {
  const q = input.url.indexOf('?');
  const path = q < 0 ? input.url : input.url.slice(0, q);
  const query = q < 0 ? '' : input.url.slice(q + 1);
  const headerLines = input.signedHeaders.map((h) => {
    const v = input.headers[h];
    const value = (Array.isArray(v) ? v.join(',') : (v ?? '')).trim().replace(/\s+/g, ' ');
    return `${h}:${value}\n`;
  });
  const canonical = [input.method, path || '/', canonicalQuery(query), headerLines.join(''), input.signedHeaders.join(';'), input.payloadHash].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', input.amzDate, input.scope, sha256Hex(canonical)].join('\n');
  const [date, region, service, terminator] = input.scope.split('/') as [string, string, string, string];
  const key = hmac(hmac(hmac(hmac(`AWS4${input.secretAccessKey}`, date), region), service), terminator);
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

function errorXml(code: string, message: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>sigv4-front</RequestId></Error>`;
}

export async function startSigV4Front(options: SigV4FrontOptions): Promise<SigV4Front> {
  const refused: SigV4Front['refused'] = [];
  const sessionTokens: SigV4Front['sessionTokens'] = [];
  let verified = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => res.destroy());
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = req.url ?? '/';
      const method = req.method ?? 'GET';
      const refuse = (code: string, message: string, status = 403) => {
        refused.push({ method, url, code });
        const xml = errorXml(code, message);
        res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
        res.end(method === 'HEAD' ? undefined : xml);
      };
      const auth = req.headers.authorization ?? '';
      const m = /^AWS4-HMAC-SHA256 Credential=([^/,\s]+)\/([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$/.exec(auth);
      if (!m) return refuse('AccessDenied', 'The request is not signed with AWS Signature Version 4 (Authorization header).');
      const [, keyId, scope, signedHeadersRaw, signature] = m as unknown as [string, string, string, string, string];
      if (keyId !== options.accessKeyId) return refuse('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.');
      const signedHeaders = signedHeadersRaw.split(';');
      const amzDate = req.headers['x-amz-date'];
      const payloadHash = req.headers['x-amz-content-sha256'];
      if (
        typeof amzDate !== 'string' ||
        typeof payloadHash !== 'string' ||
        !signedHeaders.includes('host') ||
        !signedHeaders.includes('x-amz-date') ||
        !signedHeaders.includes('x-amz-content-sha256')
      ) {
        return refuse('SignatureDoesNotMatch', 'host, x-amz-date and x-amz-content-sha256 must be signed.');
      }
      if (/^[0-9a-f]{64}$/.test(payloadHash) && sha256Hex(body) !== payloadHash) {
        return refuse('XAmzContentSHA256Mismatch', 'The provided x-amz-content-sha256 header does not match what was computed.', 400);
      }
      if (!/^[0-9a-f]{64}$/.test(payloadHash) && !/^(UNSIGNED-PAYLOAD|STREAMING-[A-Z0-9-]+)$/.test(payloadHash)) {
        return refuse('SignatureDoesNotMatch', `x-amz-content-sha256 '${payloadHash}' is not a payload hash.`);
      }
      const expected = sigV4Signature({
        method,
        url,
        headers: req.headers,
        signedHeaders,
        payloadHash,
        amzDate,
        scope,
        secretAccessKey: options.secretAccessKey,
      });
      if (!timingSafeEqual(Buffer.from(expected), Buffer.from(signature))) {
        return refuse(
          'SignatureDoesNotMatch',
          'The request signature we calculated does not match the signature you provided. Check your key and signing method.',
        );
      }
      const sessionToken = typeof req.headers['x-amz-security-token'] === 'string' ? req.headers['x-amz-security-token'] : undefined;
      if (options.checkSessionToken) {
        const state = options.checkSessionToken(sessionToken);
        if (state === 'expired') return refuse('ExpiredToken', 'The provided token has expired.', 400);
        if (state !== 'valid') return refuse('InvalidToken', 'The provided token is malformed or otherwise invalid.', 400);
      }
      verified++;
      sessionTokens.push(sessionToken);
      const upstream = http.request({ host: '127.0.0.1', port: options.targetPort, method, path: url, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        up.on('error', () => res.destroy());
      });
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    refused,
    sessionTokens,
    get verified() {
      return verified;
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

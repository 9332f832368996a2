/**
 * The SigV4 verification of the test front before s3rver
 * (tests/helpers/sigv4-front.ts), against the worked examples of the AWS
 * documentation for S3 (Signature Version 4, header authorization): the
 * example key pair, bucket examplebucket, 2013-05-24, us-east-1.
 */
import assert from 'node:assert/strict';
import { sigV4Signature } from '../helpers/sigv4-front';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const base = { amzDate: '20130524T000000Z', scope: '20130524/us-east-1/s3/aws4_request', secretAccessKey: SECRET, payloadHash: EMPTY };
const headers = { host: 'examplebucket.s3.amazonaws.com', 'x-amz-content-sha256': EMPTY, 'x-amz-date': '20130524T000000Z' };

describe('SigV4 front (test helper)', () => {
  it('computes the documented signature of GET Object (a signed Range header)', () => {
    const sig = sigV4Signature({
      ...base,
      method: 'GET',
      url: '/test.txt',
      headers: { ...headers, range: 'bytes=0-9' },
      signedHeaders: ['host', 'range', 'x-amz-content-sha256', 'x-amz-date'],
    });
    assert.equal(sig, 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
  });

  it('computes the documented signature of GET Bucket lifecycle (a query parameter without a value)', () => {
    const sig = sigV4Signature({ ...base, method: 'GET', url: '/?lifecycle', headers, signedHeaders: ['host', 'x-amz-content-sha256', 'x-amz-date'] });
    assert.equal(sig, 'fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543');
  });

  it('computes the documented signature of GET Bucket (query parameters sorted)', () => {
    const sig = sigV4Signature({
      ...base,
      method: 'GET',
      url: '/?prefix=J&max-keys=2',
      headers,
      signedHeaders: ['host', 'x-amz-content-sha256', 'x-amz-date'],
    });
    assert.equal(sig, '34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7');
  });

  it('gives another signature for another secret', () => {
    const sig = sigV4Signature({
      ...base,
      secretAccessKey: `${SECRET}x`,
      method: 'GET',
      url: '/test.txt',
      headers: { ...headers, range: 'bytes=0-9' },
      signedHeaders: ['host', 'range', 'x-amz-content-sha256', 'x-amz-date'],
    });
    assert.notEqual(sig, 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41');
  });
});

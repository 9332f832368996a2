/** The pieces of a secret worth masking on their own (connection strings, SAS, URLs with a password). */
import assert from 'node:assert/strict';
import { secretPieces } from '../../../shared/secret-pieces';

const KEY = 'a2V5K2tleS8xMjM0NTY3ODkwYWJjZGVm/+Q==';
const SAS = 'sv=2022-11-02&ss=b&srt=co&sp=rl&se=2030-01-01T00:00:00Z&sig=AbCd%2Bef%2Fghij0123456789%3D';
const SIG_RAW = 'AbCd%2Bef%2Fghij0123456789%3D';
const SIG = 'AbCd+ef/ghij0123456789=';

describe('secret pieces', () => {
  const cases: Array<[string, string, string[]]> = [
    ['account key connection string', `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${KEY};EndpointSuffix=core.windows.net`, [KEY]],
    ['account key with spaces and other case', `accountname=acct; accountkey = ${KEY} ;BlobEndpoint=http://127.0.0.1:10000/acct`, [KEY]],
    ['SAS connection string', `BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=${SAS}`, [SAS, SIG_RAW, SIG]],
    ['SAS connection string with a leading ?', `BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=?${SAS}`, [SAS, SIG_RAW, SIG]],
    ['SAS URL', `https://acct.blob.core.windows.net/models?${SAS}`, [SAS, SIG_RAW, SIG]],
    [
      'shared access key (service bus style)',
      'Endpoint=sb://ns.example.test/;SharedAccessKeyName=root;SharedAccessKey=c2VjcmV0LWtleS0xMjM0NTY=',
      ['c2VjcmV0LWtleS0xMjM0NTY='],
    ],
    ['proxy URL with a password', 'http://user:p%40ss%2Fword-123@proxy.example.test:8080/', ['p%40ss%2Fword-123', 'p@ss/word-123']],
  ];
  for (const [name, value, expected] of cases) {
    it(`masks each piece of a ${name}`, () => {
      const pieces = secretPieces(value);
      for (const e of expected) assert.ok(pieces.includes(e), `${e} missing from ${JSON.stringify(pieces)}`);
      assert.ok(!pieces.includes(value), 'the whole value is registered by the caller');
      assert.ok(
        pieces.every((p) => p.length >= 8),
        'no short pieces that would blank ordinary words',
      );
    });
  }
  it('leaves ordinary secrets alone', () => {
    assert.deepEqual(secretPieces('plain-password-123'), []);
    assert.deepEqual(secretPieces('AccountName=acct;EndpointSuffix=core.windows.net'), []);
    assert.deepEqual(secretPieces('https://acct.blob.core.windows.net/models'), []);
  });
});

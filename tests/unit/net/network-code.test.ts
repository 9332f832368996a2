import assert from 'node:assert/strict';
import { networkCode } from '../../../shared/net/network-code';

describe('net/network-code', () => {
  it('networkCode finds DNS/connection failures through messages and causes', () => {
    assert.equal(networkCode(Object.assign(new Error('x'), { code: 'ENOTFOUND' })), 'ENOTFOUND');
    assert.equal(networkCode(new Error('connect ECONNREFUSED 127.0.0.1:1')), 'ECONNREFUSED');
    assert.equal(networkCode(new Error('outer', { cause: Object.assign(new Error('inner'), { code: 'EAI_AGAIN' }) })), 'EAI_AGAIN');
    assert.equal(networkCode(new Error('something else')), undefined);
    assert.equal(networkCode(undefined), undefined);
  });
});

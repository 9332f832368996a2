/** Which kubeconfig values are registered as secrets: the one scan used for files, connections and AKS. */
import assert from 'node:assert/strict';
import { kubeconfigCredentials } from '../../../shared/k8s/kubeconfig-credentials';

const keyPem =
  '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAthisIsTheFirstBodyLine0123456789\nSecondBodyLineOfTheKeyABCDEFGHIJKLMNOP\nshort\n-----END RSA PRIVATE KEY-----\n';
const keyData = Buffer.from(keyPem).toString('base64');

const yamlDoc = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: { server: 'https://127.0.0.1:6443', certificate-authority-data: Q0EtREFUQQ== }
users:
- name: token-user
  user:
    token: "tok-123456"
- name: cert-user
  user:
    client-certificate-data: Y2VydC1kYXRh
    client-key-data: ${keyData}
- name: basic
  user: { username: admin, password: 'pa55' }
- name: oidc
  user:
    auth-provider:
      name: oidc
      config: { client-secret: cs, id-token: idt, refresh-token: rt, access-token: at }
`;

describe('kubeconfigCredentials', () => {
  it('finds every credential of a YAML kubeconfig, and the decoded client key body lines', () => {
    assert.deepEqual(
      new Set(kubeconfigCredentials(yamlDoc)),
      new Set([
        'tok-123456',
        'Y2VydC1kYXRh',
        keyData,
        'MIIEowIBAAKCAQEAthisIsTheFirstBodyLine0123456789',
        'SecondBodyLineOfTheKeyABCDEFGHIJKLMNOP',
        'pa55',
        'cs',
        'idt',
        'rt',
        'at',
      ]),
    );
  });
  it('leaves harmless values alone (server, CA, user names)', () => {
    const found = kubeconfigCredentials(yamlDoc);
    for (const v of ['https://127.0.0.1:6443', 'Q0EtREFUQQ==', 'admin', 'token-user', 'short']) assert.ok(!found.includes(v), v);
  });
  it('reads JSON kubeconfigs', () => {
    assert.deepEqual(kubeconfigCredentials(JSON.stringify({ users: [{ name: 'u', user: { token: 'json-tok' } }] })), ['json-tok']);
  });
  it('scans text it cannot parse', () => {
    assert.deepEqual(kubeconfigCredentials('users: [\n  token: "abc-def", password: x\n  ::: broken'), ['abc-def', 'x']);
  });
  it('finds nothing in an empty document', () => assert.deepEqual(kubeconfigCredentials(''), []));
});

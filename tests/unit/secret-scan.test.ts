/**
 * The secret scan every task run in the tests goes through
 * (scripts/lib/secret-scan.ts): which values are secret, which pieces are
 * scanned, the agent-style masking of registered values, and the rules that
 * keep it free of false positives.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertNoSecretLeak, collectSecrets, findLeaks, maskedLines, SecretLeakError, type ScanSpec } from '../../scripts/lib/secret-scan';

const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';
const CONN = `DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=${KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;`;
const SIG = 'abcDEF123%2Bxyz%3D';
const SAS_CONN = `BlobEndpoint=https://acct.blob.example/;SharedAccessSignature=sv=2022-11-02&ss=b&srt=co&sp=rl&se=2030-01-01&sig=${SIG}`;

const values = (spec: ScanSpec) => collectSecrets(spec).scanned.map((s) => s.value);

describe('secret scan', () => {
  describe('which values are secret', () => {
    it('a connection string, its AccountKey on its own, but not its account name', () => {
      const v = values({ inputs: { connectionString: CONN, container: 'models' } });
      assert.ok(v.includes(CONN));
      assert.ok(v.includes(KEY));
      assert.ok(!v.includes('devstoreaccount1'));
    });

    it('a SAS connection string: the SharedAccessSignature and its sig, as written and decoded', () => {
      const v = values({ inputs: { connectionString: SAS_CONN } });
      assert.ok(v.includes(SAS_CONN));
      assert.ok(v.some((x) => x.startsWith('sv=2022-11-02') && x.endsWith(SIG)));
      assert.ok(v.includes(SIG));
      assert.ok(v.includes('abcDEF123+xyz='));
    });

    it('endpoint credentials, not user names, ids, tenants, URLs, data or CA certificates', () => {
      const spec: ScanSpec = {
        endpoints: {
          reg: {
            scheme: 'UsernamePassword',
            parameters: { registry: 'http://127.0.0.1:5000', username: 'pusher-user', password: 'pusher-password' },
            data: { registrytype: 'Others' },
          },
          arm: { scheme: 'ServicePrincipal', parameters: { serviceprincipalid: 'app-id-123', tenantid: 'tenant-id-123', serviceprincipalkey: 'sp-key-value' } },
          sa: {
            scheme: 'Token',
            parameters: { serviceAccountCertificate: 'LS0tLS1CRUdJTiBDRVJU', apiToken: Buffer.from('bearer-token-value').toString('base64') },
          },
          s3: { scheme: 'UsernamePassword', parameters: { username: 'AKIAEXAMPLE', password: 'aws-secret-value', sessionToken: 'aws-session-token' } },
        },
      };
      const v = values(spec);
      for (const s of [
        'pusher-password',
        'sp-key-value',
        'bearer-token-value',
        Buffer.from('bearer-token-value').toString('base64'),
        'aws-secret-value',
        'aws-session-token',
      ])
        assert.ok(v.includes(s), s);
      for (const s of ['pusher-user', 'app-id-123', 'tenant-id-123', 'LS0tLS1CRUdJTiBDRVJU', 'AKIAEXAMPLE', 'http://127.0.0.1:5000'])
        assert.ok(!v.includes(s), s);
    });

    it('a certificate PEM: each body line of 16+ characters, not the armour lines', () => {
      const pem = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nshort==\n-----END PRIVATE KEY-----\n';
      const v = values({ endpoints: { arm: { scheme: 'ServicePrincipal', parameters: { servicePrincipalCertificate: pem } } } });
      assert.deepEqual(v, ['MIIEvQIBADANBgkqhkiG9w0BAQEFAASC']);
    });

    it("a kubeconfig (service connection or the file a 'kubeconfig' input names): the users' credentials, not the server or CA", () => {
      const kc = [
        'apiVersion: v1',
        'clusters:',
        '- name: c',
        '  cluster: { server: "https://127.0.0.1:6443", certificate-authority-data: "Q0EtREFUQS1QVUJMSUM=" }',
        'users:',
        '- name: u',
        '  user: { token: "kube-token-123456", client-key-data: "' +
          Buffer.from('-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKeyLineOfTheClientKey\n-----END EC PRIVATE KEY-----\n').toString('base64') +
          '" }',
      ].join('\n');
      const fromEndpoint = values({ endpoints: { k8s: { scheme: 'Kubernetes', parameters: { kubeconfig: kc } } } });
      assert.ok(fromEndpoint.includes('kube-token-123456'));
      assert.ok(fromEndpoint.includes('MHcCAQEEIKeyLineOfTheClientKey'));
      assert.ok(!fromEndpoint.some((x) => x.includes('127.0.0.1') || x.includes('Q0EtREFUQS1QVUJMSUM=')));
      const dir = mkdtempSync(join(tmpdir(), 'scan-'));
      try {
        writeFileSync(join(dir, 'kc.yaml'), kc);
        assert.ok(values({ inputs: { kubeconfig: join(dir, 'kc.yaml') } }).includes('kube-token-123456'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('secret environment and variables by name; explicit secrets', () => {
      const v = values({
        env: {
          AWS_SECRET_ACCESS_KEY: 'aws-secret-env',
          AWS_ACCESS_KEY_ID: 'AKIDENV0001',
          AWS_SESSION_TOKEN: 'session-env-token',
          IDENTITY_ENDPOINT: 'http://127.0.0.1:9/token',
        },
        variables: { 'Agent.ProxyPassword': 'proxy-password', 'Agent.TempDirectory': '/tmp/agent' },
        secrets: ['build-arg-secret'],
      });
      assert.deepEqual(v.sort(), ['aws-secret-env', 'build-arg-secret', 'proxy-password', 'session-env-token']);
    });
  });

  describe('false positives', () => {
    it('values under 6 characters are not scanned', () => {
      const c = collectSecrets({ endpoints: { r: { scheme: 'UsernamePassword', parameters: { username: 'u', password: 'p' } } }, env: { MSI_SECRET: 'x' } });
      assert.deepEqual(c.scanned, []);
      assert.ok(c.ignored.every((i) => /shorter/.test(i.reason)));
    });

    it('a secret that is also non-secret test data is not scanned (s3rver: key id = secret)', () => {
      const c = collectSecrets({ endpoints: { s3: { scheme: 'UsernamePassword', parameters: { username: 'S3RVER', password: 'S3RVER' } } } });
      assert.deepEqual(c.scanned, []);
      assert.match(c.ignored[0]?.reason ?? '', /non-secret/);
    });

    it('an explicit secret is scanned even when it also occurs in non-secret data; a raw ENDPOINT_AUTH_ JSON is secret', () => {
      const json = '{"scheme":"ServicePrincipal","parameters":{"serviceprincipalkey":"sp-key-in-raw-json"';
      const v = values({
        inputs: { note: 'uses sp-key-in-raw-json' },
        env: { ENDPOINT_AUTH_ARM: json, ENDPOINT_AUTH_SCHEME_ARM: 'ServicePrincipal' },
        secrets: ['sp-key-in-raw-json'],
      });
      assert.ok(v.includes('sp-key-in-raw-json'));
      assert.ok(v.includes(json));
      assert.ok(!v.includes('ServicePrincipal'));
    });

    it("'devstoreaccount1' used as a user name is never flagged", () => {
      const spec: ScanSpec = {
        inputs: { connectionString: CONN },
        endpoints: { r: { scheme: 'UsernamePassword', parameters: { username: 'devstoreaccount1', password: 'registry-password' } } },
      };
      assert.doesNotThrow(() => assertNoSecretLeak('T', spec, { stdout: 'signed in as devstoreaccount1 to http://127.0.0.1:10000/devstoreaccount1\n' }));
    });
  });

  describe('masking as the agent does', () => {
    const spec: ScanSpec = { inputs: { connectionString: CONN } };

    it('a registered value is masked in later lines and the setsecret line is consumed', () => {
      const stdout = `##vso[task.setsecret]${CONN}\nusing ${CONN}\n`;
      assert.deepEqual(findLeaks(collectSecrets(spec).scanned, { stdout }), []);
      assert.ok(maskedLines({ stdout }).every((l) => !l.text.includes('AccountKey=E')));
    });

    it('the whole string registered, the key printed alone: a leak naming the AccountKey', () => {
      const stdout = `##vso[task.setsecret]${CONN}\n##vso[task.debug]signing with ${KEY}\n`;
      assert.throws(
        () => assertNoSecretLeak('FetchModel', spec, { stdout }),
        (err: unknown) =>
          err instanceof SecretLeakError &&
          /input 'connectionString' AccountKey \[Eb…==/.test(err.message) &&
          /stdout line 2/.test(err.message) &&
          !err.message.includes(KEY),
      );
    });

    it('a value printed before it was registered leaks (the agent masks only from registration on)', () => {
      const stdout = `connecting with ${KEY}\n##vso[task.setsecret]${KEY}\nagain ${KEY}\n`;
      const leaks = findLeaks(collectSecrets(spec).scanned, { stdout });
      assert.deepEqual(
        leaks.map((l) => l.line),
        [1],
      );
    });

    it('stderr is scanned, masked with every registered value', () => {
      assert.equal(findLeaks(collectSecrets(spec).scanned, { stdout: `##vso[task.setsecret]${KEY}\n`, stderr: `oops ${KEY}\n` }).length, 0);
      assert.equal(findLeaks(collectSecrets(spec).scanned, { stdout: '', stderr: `oops ${KEY}\n` })[0]?.stream, 'stderr');
    });

    it('escaped ##vso data is decoded before scanning', () => {
      const secret = 'multi%part;secret]value';
      const escaped = 'multi%AZP25part%3Bsecret%5Dvalue';
      const leaks = findLeaks(collectSecrets({ secrets: [secret] }).scanned, { stdout: `##vso[task.complete result=Failed;]bad ${escaped}\n` });
      assert.equal(leaks.length, 1);
    });

    it("a registered value holding % (a SAS sig) is unescaped from task-lib's %AZP25 and masks", () => {
      const stdout = `##vso[task.setsecret]${SAS_CONN.replace(/%/g, '%AZP25')}
##vso[task.setsecret]${SIG.replace(/%/g, '%AZP25')}
##vso[task.setsecret]abcDEF123+xyz=
listing with ${SAS_CONN}
`;
      const spec2: ScanSpec = { inputs: { connectionString: SAS_CONN } };
      const leaks = findLeaks(collectSecrets(spec2).scanned, { stdout });
      assert.deepEqual(
        leaks.map((l) => l.secret.label),
        [],
      );
    });
  });
});

/**
 * The task-lib adapter in process: inputs to typed values with one-line
 * errors, service connection records for every scheme, secrets registered
 * (never echoed, multi-line ones line by line) and failures turned into task
 * results. task-lib reads INPUT_* / ENDPOINT_* once; the test sets them and
 * asks task-lib to load them again.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { InputError, UserError } from '../../shared/errors';

type Adapter = typeof import('../../shared/adapter');
type Internal = typeof import('azure-pipelines-task-lib/internal');
// Loaded in before(), quietly: task-lib prints its debug lines when it loads.
let adapter: Adapter;
let im: Internal;

const env: Record<string, string> = {
  INPUT_NAME: '  value  ',
  INPUT_EMPTY: '',
  INPUT_FLAG: 'true',
  INPUT_BADFLAG: 'maybe',
  INPUT_COUNT: '12',
  INPUT_BADCOUNT: '12x',
  INPUT_MODE: 'PINNED',
  INPUT_LINES: 'a=1\n\n# comment\n  b=2  \n',
  INPUT_SECRETINPUT: 'super-secret-connection-string',
  INPUT_CONNKEY: 'DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5K2tleS8xMjM0NTY3ODkwYWJjZGVm/+Q==;EndpointSuffix=core.windows.net',
  INPUT_CONNSAS:
    'BlobEndpoint=https://acct.blob.core.windows.net;SharedAccessSignature=sv=2022-11-02&sp=rl&se=2030-01-01T00:00:00Z&sig=AbCd%2Bef%2Fghij0123456789%3D',
  INPUT_REGBADJSON: 'regBadJson',
  INPUT_K8SBADJSON: 'k8sBadJson',
  INPUT_ARM: 'arm1',
  INPUT_ARMCERT: 'armCert',
  INPUT_ARMWIF: 'armWif',
  INPUT_ARMBAD: 'armBad',
  INPUT_S3: 's3c',
  INPUT_S3OIDC: 's3oidc',
  INPUT_S3NOKEYS: 's3nokeys',
  SYSTEM_OIDCREQUESTURI: 'https://dev.azure.com/contoso/p/_apis/distributedtask/hubs/build/plans/pl/jobs/jb/oidctoken',
  INPUT_REGOTHERS: 'regOthers',
  INPUT_REGACR: 'regAcr',
  INPUT_REGACRWIF: 'regAcrWif',
  INPUT_K8S: 'k8s',
  INPUT_K8SSA: 'k8sSa',
  INPUT_MISSINGCONN: 'nope',
  // task-lib keeps key files (vault, proxy password) in Agent.TempDirectory: not in the repository.
  AGENT_TEMPDIRECTORY: mkdtempSync(join(tmpdir(), 'adapter-test-')),
  AGENT_PROXYURL: 'http://proxy.corp.test:8080',
  AGENT_PROXYUSERNAME: 'proxy-user',
  AGENT_PROXYPASSWORD: 'proxy-pass-word',
  AGENT_PROXYBYPASSLIST: '["\\\\.internal\\\\.test", "localhost"]',
};

function endpoint(id: string, scheme: string, parameters: Record<string, string>, data: Record<string, string> = {}, url?: string): void {
  env[`ENDPOINT_AUTH_${id}`] = JSON.stringify({ scheme, parameters });
  env[`ENDPOINT_AUTH_SCHEME_${id}`] = scheme;
  for (const [k, v] of Object.entries(data)) env[`ENDPOINT_DATA_${id}_${k.toUpperCase()}`] = v;
  if (url) env[`ENDPOINT_URL_${id}`] = url;
}

const PEM =
  '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nVJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuic\n-----END PRIVATE KEY-----\n';
endpoint(
  'arm1',
  'ServicePrincipal',
  { serviceprincipalid: 'app', tenantid: 'tenant', serviceprincipalkey: 'sp-secret-123456' },
  { subscriptionid: 'sub', environment: 'AzureUSGovernment' },
);
endpoint('armCert', 'ServicePrincipal', {
  serviceprincipalid: 'app',
  tenantid: 'tenant',
  authenticationType: 'spnCertificate',
  servicePrincipalCertificate: PEM,
});
endpoint('armWif', 'WorkloadIdentityFederation', { serviceprincipalid: 'app', tenantid: 'tenant' });
endpoint('armBad', 'UsernamePassword', { username: 'u' });
endpoint('s3oidc', 'UsernamePassword', { useOIDC: 'true', assumeRoleArn: 'arn:aws:iam::1:role/oidc' }, { region: 'eu-west-1' });
endpoint('s3nokeys', 'UsernamePassword', { assumeRoleArn: 'arn:aws:iam::1:role/oidc' });
// A service connection whose stored JSON is cut short: task-lib's own error would quote all of it.
env['ENDPOINT_AUTH_regBadJson'] = '{"scheme":"UsernamePassword","parameters":{"registry":"r.example.test","username":"u","password":"leaky-json-pw-123"';
env['ENDPOINT_AUTH_k8sBadJson'] = '{"scheme":"Kubernetes","parameters":{"kubeconfig":"users:\\n- user: {token: leaky-kube-token-123}"}}}';
endpoint('SYSTEMVSSCONNECTION', 'OAuth', { AccessToken: 'job-access-token-xyz' });
endpoint(
  's3c',
  'UsernamePassword',
  { username: 'AKID', password: 's3-secret-key-000', sessionToken: 'sess-token-000', assumeRoleArn: 'arn:aws:iam::1:role/r' },
  { region: 'eu-west-1', forcePathStyle: 'true' },
  'http://127.0.0.1:9000/',
);
endpoint('regOthers', 'UsernamePassword', { registry: 'https://registry.example.test:5000/', username: 'bob', password: 'bob-password-1' });
endpoint(
  'regAcr',
  'ServicePrincipal',
  { loginServer: 'contoso.azurecr.io', serviceprincipalid: 'sp', serviceprincipalkey: 'acr-sp-secret-1', tenantid: 't' },
  { registrytype: 'ACR' },
);
endpoint('regAcrWif', 'WorkloadIdentityFederation', { loginServer: 'contoso.azurecr.io', serviceprincipalid: 'sp', tenantid: 't' }, { registrytype: 'ACR' });
endpoint(
  'k8s',
  'Kubernetes',
  {
    kubeconfig: 'apiVersion: v1\nkind: Config\nusers:\n- name: u\n  user:\n    token: kube-token-abcdef\n    client-key-data: a2V5LWRhdGEtc2VjcmV0\n',
    clusterContext: 'ctx',
  },
  { authorizationType: 'Kubeconfig' },
);
endpoint(
  'k8sSa',
  'Token',
  {
    apiToken: Buffer.from('sa-token-value').toString('base64'),
    serviceAccountCertificate: Buffer.from('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n').toString('base64'),
  },
  { authorizationType: 'ServiceAccount' },
  'https://10.0.0.1:443',
);

/** Everything task-lib prints while `fn` runs. */
function capture<T>(fn: () => T): { value: T; out: string } {
  let out = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  im._setStdStream(sink);
  const log = console.log;
  console.log = (...args: unknown[]) => {
    out += `${args.join(' ')}\n`;
  };
  try {
    return { value: fn(), out };
  } finally {
    im._setStdStream(process.stdout);
    console.log = log;
  }
}

describe('task-lib adapter', () => {
  const saved: Record<string, string | undefined> = {};
  before(() => {
    for (const [k, v] of Object.entries(env)) {
      saved[k] = process.env[k];
      process.env[k] = v;
    }
    const write = process.stdout.write;
    process.stdout.write = (() => true) as typeof process.stdout.write;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      im = require('azure-pipelines-task-lib/internal') as Internal;
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      adapter = require('../../shared/adapter') as Adapter;
    } finally {
      process.stdout.write = write;
    }
    // task-lib loads (and removes) INPUT_*/ENDPOINT_* when it is first required; if another test
    // loaded it before, they are still in the environment: load them now.
    if (process.env.INPUT_NAME !== undefined) capture(() => im._loadData());
  });
  after(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it('reads strings trimmed, with defaults and required errors naming the input', () => {
    assert.equal(capture(() => adapter.getString('name')).value, 'value');
    assert.equal(capture(() => adapter.getString('empty', { defaultValue: 'd' })).value, 'd');
    assert.throws(
      () => capture(() => adapter.getRequiredString('empty')),
      (e: unknown) => e instanceof InputError && e.input === 'empty' && /Input 'empty' is required/.test(e.message),
    );
  });

  it('reads booleans, whole numbers in range and choices, rejecting the rest in one sentence', () => {
    assert.equal(capture(() => adapter.getBool('flag')).value, true);
    assert.equal(capture(() => adapter.getBool('missing', true)).value, true);
    assert.throws(() => capture(() => adapter.getBool('badflag')), /must be true or false \(got 'maybe'\)/);
    assert.equal(capture(() => adapter.getInt('count', { defaultValue: 1, min: 1, max: 64 })).value, 12);
    assert.throws(() => capture(() => adapter.getInt('count', { defaultValue: 1, min: 1, max: 8 })), /between 1 and 8 \(got '12'\)/);
    assert.throws(() => capture(() => adapter.getInt('badcount', { defaultValue: 1 })), /whole number/);
    assert.equal(capture(() => adapter.getChoice('mode', ['latest', 'pinned'] as const, 'latest')).value, 'pinned');
    assert.throws(() => capture(() => adapter.getChoice('name', ['latest', 'pinned'] as const, 'latest')), /one of latest, pinned/);
    assert.deepEqual(capture(() => adapter.getLines('lines')).value, ['a=1', 'b=2']);
  });

  it('masks the secrets it registered in text the agent does not mask (summaries, outputs), longest first', () => {
    capture(() => adapter.registerSecret('tok-123'));
    capture(() => adapter.registerSecret('tok-123-and-more'));
    assert.equal(adapter.maskSecrets('a tok-123-and-more b tok-123 c'), 'a *** b *** c');
    assert.equal(adapter.maskSecrets('nothing here'), 'nothing here');
  });

  it('uploads a run summary: a masked markdown file in Agent.TempDirectory, attached under its title', () => {
    capture(() => adapter.registerSecret('summary-secret-value'));
    const { out } = capture(() => adapter.uploadSummary('Model image test', '# ok\nleaked summary-secret-value?'));
    const m = out.match(/^##vso\[task\.addattachment type=Distributedtask\.Core\.Summary;name=Model image test;\](.+)$/m);
    assert.ok(m, out);
    const file = (m[1] as string).trim();
    assert.ok(file.startsWith(env.AGENT_TEMPDIRECTORY as string), file);
    assert.equal(readFileSync(file, 'utf8'), '# ok\nleaked ***?');
  });

  it('turns the SIGINT (or SIGTERM) of a cancelled job into an aborted signal with a Cancelled UserError, and keeps the process alive', () => {
    const before = { int: process.listenerCount('SIGINT'), term: process.listenerCount('SIGTERM') };
    const signal = capture(() => adapter.cancellationSignal('Cancelled: cleaned up.')).value;
    try {
      assert.equal(signal.aborted, false);
      const { out } = capture(() => process.emit('SIGINT', 'SIGINT'));
      assert.match(out, /Received SIGINT: cancelling\./);
      assert.equal(signal.aborted, true);
      assert.ok(signal.reason instanceof UserError && signal.reason.code === 'Cancelled' && signal.reason.message === 'Cancelled: cleaned up.');
      capture(() => process.emit('SIGTERM', 'SIGTERM'));
      assert.equal(signal.aborted, true);
    } finally {
      for (const sig of ['SIGINT', 'SIGTERM'] as const) {
        const extra = process.listeners(sig).slice(sig === 'SIGINT' ? before.int : before.term);
        for (const l of extra) process.removeListener(sig, l);
      }
    }
  });

  it('reads a secret input without echoing it and registers it', () => {
    const { value, out } = capture(() => adapter.getString('secretInput', { secret: true }));
    assert.equal(value, 'super-secret-connection-string');
    assert.ok(out.includes('##vso[task.setsecret]super-secret-connection-string'));
    assert.ok(!out.split('\n').some((l) => !l.startsWith('##vso[task.setsecret]') && l.includes('super-secret')), out);
  });

  it('uploads a run summary as a titled summary attachment, with registered secrets masked in the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'summary-'));
    process.env.AGENT_TEMPDIRECTORY = dir;
    try {
      capture(() => adapter.getString('secretInput', { secret: true }));
      const { out } = capture(() => adapter.uploadSummary('Model (FetchModel)', '### Model\nfrom super-secret-connection-string | ok'));
      const m = /^##vso\[task\.addattachment type=Distributedtask\.Core\.Summary;name=Model \(FetchModel\);\](.+)$/m.exec(out);
      assert.ok(m, out);
      assert.ok(m[1]!.startsWith(join(dir, 'summary-')), m[1]);
      assert.equal(readFileSync(m[1]!, 'utf8'), '### Model\nfrom *** | ok');
      const bad = capture(() => adapter.uploadSummary('a:b/c', 'x')).out;
      assert.match(bad, /name=a b c;\]/, 'characters invalid in a file name are left out of the name');
    } finally {
      delete process.env.AGENT_TEMPDIRECTORY;
    }
  });

  it('registers the key, the SAS and its signature of a connection string on their own, not only the whole string', () => {
    const key = capture(() => adapter.getString('connKey', { secret: true }));
    assert.ok(key.out.includes('##vso[task.setsecret]a2V5K2tleS8xMjM0NTY3ODkwYWJjZGVm/+Q=='), key.out);
    const sas = capture(() => adapter.getString('connSas', { secret: true }));
    // task-lib escapes '%' in commands as %AZP25; the agent turns it back.
    const lines = sas.out.split('\n').map((l) => l.replace(/%AZP25/g, '%'));
    for (const piece of [
      'sv=2022-11-02&sp=rl&se=2030-01-01T00:00:00Z&sig=AbCd%2Bef%2Fghij0123456789%3D',
      'AbCd%2Bef%2Fghij0123456789%3D',
      'AbCd+ef/ghij0123456789=',
    ]) {
      assert.ok(lines.includes(`##vso[task.setsecret]${piece}`), `${piece} not registered:\n${sas.out}`);
    }
  });

  it('a service connection with malformed JSON fails with one line naming the input, without echoing it', () => {
    for (const [input, read, leak] of [
      ['regBadJson', () => adapter.readDockerRegistryEndpoint('regBadJson'), 'leaky-json-pw-123'],
      ['k8sBadJson', () => adapter.readKubernetesEndpoint('k8sBadJson'), 'leaky-kube-token-123'],
    ] as const) {
      let out = '';
      assert.throws(
        () => {
          const r = capture<unknown>(read);
          out = r.out;
        },
        (e: unknown) => {
          assert.ok(e instanceof InputError && e.input === input, String(e));
          assert.ok(!e.message.includes(leak) && !e.message.includes('{'), e.message);
          assert.match(e.message, new RegExp(`Service connection '${input}' given in '${input}' is stored in a form that cannot be read`));
          assert.ok(!/\n/.test(e.message));
          return true;
        },
      );
      assert.ok(!out.includes(leak), out);
    }
  });

  it('reads Azure Resource Manager connections for every scheme', () => {
    const sp = capture(() => adapter.readAzureRmEndpoint('arm'));
    assert.deepEqual(
      { ...sp.value },
      {
        id: 'arm1',
        scheme: 'ServicePrincipal',
        tenantId: 'tenant',
        clientId: 'app',
        clientSecret: 'sp-secret-123456',
        subscriptionId: 'sub',
        environment: 'AzureUSGovernment',
        authorityHost: undefined,
      },
    );
    assert.ok(sp.out.includes('##vso[task.setsecret]sp-secret-123456'));
    assert.ok(!sp.out.split('\n').some((l) => !l.startsWith('##vso[task.setsecret]') && l.includes('sp-secret-123456')));

    const cert = capture(() => adapter.readAzureRmEndpoint('armCert'));
    assert.equal(cert.value.certificatePem, PEM);
    // Multi-line secrets are registered line by line (task-lib refuses them whole).
    assert.ok(cert.out.includes('##vso[task.setsecret]MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7'));

    const wif = capture(() => adapter.readAzureRmEndpoint('armWif'));
    assert.equal(wif.value.scheme, 'WorkloadIdentityFederation');
    assert.equal(wif.value.systemAccessToken, 'job-access-token-xyz');
    assert.ok(!wif.out.split('\n').some((l) => !l.startsWith('##vso[task.setsecret]') && l.includes('job-access-token-xyz')));

    assert.throws(() => capture(() => adapter.readAzureRmEndpoint('armBad')), /'armBad' uses authentication scheme 'UsernamePassword', which is not supported/);
    assert.throws(() => capture(() => adapter.readAzureRmEndpoint('missingConn')), /'nope' given in 'missingConn' was not found/);
  });

  it('reads the S3 service connection', () => {
    const { value, out } = capture(() => adapter.readS3Endpoint('s3'));
    assert.deepEqual(
      { ...value },
      {
        id: 's3c',
        accessKeyId: 'AKID',
        secretAccessKey: 's3-secret-key-000',
        sessionToken: 'sess-token-000',
        roleArn: 'arn:aws:iam::1:role/r',
        roleSessionName: undefined,
        externalId: undefined,
        region: 'eu-west-1',
        endpoint: 'http://127.0.0.1:9000/',
        forcePathStyle: true,
      },
    );
    for (const s of ['s3-secret-key-000', 'sess-token-000']) assert.ok(out.includes(`##vso[task.setsecret]${s}`));
    assert.equal(capture(() => adapter.readS3Endpoint('empty')).value, undefined);
  });

  it('reads an S3 service connection that uses OIDC: no keys, the job OIDC endpoint and access token (a secret)', () => {
    const { value, out } = capture(() => adapter.readS3Endpoint('s3oidc'));
    assert.equal(value?.useOidc, true);
    assert.equal(value?.roleArn, 'arn:aws:iam::1:role/oidc');
    assert.equal(value?.accessKeyId, undefined);
    assert.equal(value?.oidcRequestUri, 'https://dev.azure.com/contoso/p/_apis/distributedtask/hubs/build/plans/pl/jobs/jb/oidctoken');
    assert.equal(value?.systemAccessToken, 'job-access-token-xyz');
    assert.ok(out.includes('##vso[task.setsecret]job-access-token-xyz'));
    assert.throws(() => capture(() => adapter.readS3Endpoint('s3nokeys')), /lacks an access key id or secret access key: .*or tick 'Use OIDC'/);
  });

  it('reads Docker registry connections: Others, ACR service principal, ACR with Entra ID', () => {
    const others = capture(() => adapter.readDockerRegistryEndpoint('regOthers'));
    assert.deepEqual(
      { ...others.value },
      { id: 'regOthers', registryType: 'Others', registry: 'registry.example.test:5000', username: 'bob', password: 'bob-password-1' },
    );
    // The Basic header value is a secret of its own.
    assert.ok(others.out.includes(`##vso[task.setsecret]${Buffer.from('bob:bob-password-1').toString('base64')}`), others.out);
    const acr = capture(() => adapter.readDockerRegistryEndpoint('regAcr')).value;
    assert.deepEqual([acr.registryType, acr.registry, acr.username, acr.password], ['ACR', 'contoso.azurecr.io', 'sp', 'acr-sp-secret-1']);
    const wif = capture(() => adapter.readDockerRegistryEndpoint('regAcrWif')).value;
    assert.equal(wif.azure?.scheme, 'WorkloadIdentityFederation');
    assert.equal(wif.azure?.systemAccessToken, 'job-access-token-xyz');
  });

  it('reads Kubernetes connections and masks the kubeconfig credentials, not the document', () => {
    const k = capture(() => adapter.readKubernetesEndpoint('k8s'));
    assert.equal(k.value.authorizationType, 'Kubeconfig');
    assert.equal(k.value.clusterContext, 'ctx');
    assert.ok(k.out.includes('##vso[task.setsecret]kube-token-abcdef'));
    assert.ok(k.out.includes('##vso[task.setsecret]a2V5LWRhdGEtc2VjcmV0'));
    assert.ok(!k.out.includes('##vso[task.setsecret]kind: Config'));
    const sa = capture(() => adapter.readKubernetesEndpoint('k8sSa')).value;
    assert.deepEqual([sa.authorizationType, sa.serverUrl, sa.token], ['ServiceAccount', 'https://10.0.0.1:443', 'sa-token-value']);
    assert.match(sa.certificate ?? '', /BEGIN CERTIFICATE/);
  });

  it("reads the agent's proxy with its credentials (registered as secrets) and bypass list", () => {
    const { value, out } = capture(() => adapter.agentProxy());
    assert.equal(value.proxyUrl, 'http://proxy-user:proxy-pass-word@proxy.corp.test:8080/');
    assert.deepEqual(value.bypassPatterns, ['\\.internal\\.test', 'localhost']);
    assert.ok(out.includes('##vso[task.setsecret]proxy-pass-word'));
  });

  it("reads the agent's proxy where task-lib's getHttpProxyConfiguration() would not: credentials percent-encoded, a malformed bypass list ignored", () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const tl = require('azure-pipelines-task-lib/task') as typeof import('azure-pipelines-task-lib/task');
    const original = { password: env.AGENT_PROXYPASSWORD, bypass: env.AGENT_PROXYBYPASSLIST };
    try {
      capture(() => {
        tl.setVariable('Agent.ProxyPassword', 'p@ss:w/rd');
        tl.setVariable('Agent.ProxyBypassList', '[not json');
      });
      const { value } = capture(() => adapter.agentProxy());
      assert.equal(value.proxyUrl, 'http://proxy-user:p%40ss%3Aw%2Frd@proxy.corp.test:8080/');
      assert.deepEqual(value.bypassPatterns, []);
      capture(() => assert.throws(() => tl.getHttpProxyConfiguration('https://example.test/'), SyntaxError));
    } finally {
      capture(() => {
        tl.setVariable('Agent.ProxyPassword', original.password as string);
        tl.setVariable('Agent.ProxyBypassList', original.bypass as string);
      });
    }
  });

  it('turns a UserError into a one-line failure and anything else into an "Unexpected error" with exit code 1', async () => {
    const exit = process.exitCode;
    try {
      let out = '';
      await (async () => {
        const sink = new Writable({ write: (c: Buffer, _e, cb) => ((out += c.toString()), cb()) });
        im._setStdStream(sink);
        try {
          await adapter.runTask(async () => {
            throw new UserError('The bucket input is wrong:\nfix it.');
          });
          await adapter.runTask(async () => {
            throw new TypeError('boom');
          });
        } finally {
          im._setStdStream(process.stdout);
        }
      })();
      assert.ok(out.includes('##vso[task.complete result=Failed;]The bucket input is wrong: fix it.'), out);
      assert.ok(out.includes('##vso[task.complete result=Failed;]Unexpected error: boom (set the variable system.debug to true'), out);
      assert.equal(process.exitCode, 1);
    } finally {
      process.exitCode = exit;
    }
  });

  it('names the input of a failure whose sentence does not ("Input \'x\': ..."), and leaves one that does as it is', async () => {
    const exit = process.exitCode;
    try {
      let out = '';
      const sink = new Writable({ write: (c: Buffer, _e, cb) => ((out += c.toString()), cb()) });
      im._setStdStream(sink);
      try {
        await adapter.runTask(async () => {
          throw new InputError('azureSubscription', "Azure service connection 'arm' has no subscription id: use a subscription-scoped service connection.");
        });
        await adapter.runTask(async () => {
          throw new InputError('tags', "Tag '-x' in input 'tags' is not a valid tag.");
        });
        await adapter.runTask(async () => {
          throw new InputError('image', "Image reference 'a b' in imageRegistry is invalid.");
        });
      } finally {
        im._setStdStream(process.stdout);
      }
      assert.ok(out.includes("##vso[task.complete result=Failed;]Input 'azureSubscription': Azure service connection 'arm' has no subscription id"), out);
      assert.ok(out.includes("##vso[task.complete result=Failed;]Tag '-x' in input 'tags' is not a valid tag."), out);
      assert.ok(out.includes("##vso[task.complete result=Failed;]Input 'image': Image reference 'a b' in imageRegistry is invalid."), out);
    } finally {
      process.exitCode = exit;
    }
  });

  it("names the task input of a library option through the entry's inputNames, the one place an option becomes an input", async () => {
    const exit = process.exitCode;
    try {
      let out = '';
      const sink = new Writable({ write: (c: Buffer, _e, cb) => ((out += c.toString()), cb()) });
      im._setStdStream(sink);
      try {
        await adapter.runTask(
          async () => {
            throw new InputError('endpoint', 'The endpoint is not a URL: give an https URL.');
          },
          { inputNames: { endpoint: 's3Endpoint' } },
        );
        await adapter.runTask(
          async () => {
            throw new InputError('bucket', 'The bucket name is empty.');
          },
          { inputNames: { endpoint: 's3Endpoint' } },
        );
      } finally {
        im._setStdStream(process.stdout);
      }
      assert.ok(out.includes("##vso[task.complete result=Failed;]Input 's3Endpoint': The endpoint is not a URL: give an https URL."), out);
      assert.ok(out.includes("##vso[task.complete result=Failed;]Input 'bucket': The bucket name is empty."), out);
    } finally {
      process.exitCode = exit;
    }
  });
});

/**
 * The one mapping of registry service connections to registry credentials
 * (pure records in, no agent), and DeployToAKS's image reader keeping one
 * registry client per registry for the run (a counting registry on 127.0.0.1).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TokenCredential } from '@azure/identity';
import { acrAccessOf, credentialsFor, credentialsForImage, imageReader, registryAccessOf, type RegistryAccess } from '../../../shared/adapter/registry';
import { ACR_NULL_USER } from '../../../shared/azure/acr';
import type { AzureRmEndpoint, DockerRegistryEndpoint } from '../../../shared/connections';
import { InputError } from '../../../shared/errors';
import { parseReference } from '../../../shared/oci/reference';

const fakeCredential: TokenCredential = { getToken: async () => ({ token: 'entra-token', expiresOnTimestamp: Date.now() + 3600_000 }) };
const azureCredential = (): TokenCredential => fakeCredential;
const azure: AzureRmEndpoint = { id: 'acrWif', scheme: 'WorkloadIdentityFederation', tenantId: 'tenant', clientId: 'app' };

describe('adapter/registry', () => {
  describe('registryAccessOf: connection record -> registry and credentials', () => {
    const others = (registry: string, username?: string, password?: string): DockerRegistryEndpoint => ({
      id: 'c',
      registryType: 'Others',
      registry,
      username,
      password,
    });
    const basic: Array<[string, DockerRegistryEndpoint, string, { username: string; password: string } | undefined]> = [
      ['Others, user and password', others('127.0.0.1:5000', 'u', 'p'), '127.0.0.1:5000', { username: 'u', password: 'p' }],
      ['Others, user without password: empty password', others('127.0.0.1:5000', 'u'), '127.0.0.1:5000', { username: 'u', password: '' }],
      ['Others, no user: anonymous', others('127.0.0.1:5000'), '127.0.0.1:5000', undefined],
      ['Others, empty user with a password: anonymous', others('127.0.0.1:5000', '', 'p'), '127.0.0.1:5000', undefined],
      [
        'URL with scheme and slash, upper case',
        others('HTTPS://Registry.Example.test:8443/', 'u', 'p'),
        'registry.example.test:8443',
        { username: 'u', password: 'p' },
      ],
      ['Docker Hub alias', others('docker.io', 'u', 'p'), 'registry-1.docker.io', { username: 'u', password: 'p' }],
      [
        'ACR with a service principal: Basic',
        { id: 'sp', registryType: 'ACR', registry: 'contoso.azurecr.io', username: 'sp-id', password: 'sp-secret' },
        'contoso.azurecr.io',
        { username: 'sp-id', password: 'sp-secret' },
      ],
    ];
    for (const [name, endpoint, registry, credentials] of basic) {
      it(name, () => {
        const access = registryAccessOf(endpoint, 'conn', { azureCredential });
        assert.deepEqual(access, { registry, input: 'conn', credentials });
      });
    }

    it('ACR with workload identity / managed identity: Entra token exchanged for an ACR refresh token', () => {
      const access = registryAccessOf({ id: 'acrWif', registryType: 'ACR', registry: 'contoso.azurecr.io', azure }, 'conn', { azureCredential });
      assert.equal(access.registry, 'contoso.azurecr.io');
      assert.equal(access.credentials?.username, ACR_NULL_USER);
      assert.equal(access.credentials?.tokenAtRegistry, true);
      assert.equal(typeof access.credentials?.refreshToken, 'function');
      assert.equal(access.credentials?.password, undefined);
    });

    it('ACR through an Azure Resource Manager connection', () => {
      const access = acrAccessOf('contoso.azurecr.io', azure, 'azureSubscription', { azureCredential });
      assert.equal(access.input, 'azureSubscription');
      assert.equal(access.credentials?.username, ACR_NULL_USER);
    });

    for (const bad of ['', 'registry.example.test/v2', 'bad host', '127.0.0.1:99999']) {
      it(`rejects the registry ${JSON.stringify(bad)} naming the input`, () => {
        assert.throws(
          () => registryAccessOf(others(bad, 'u', 'p'), 'baseRegistryConnection'),
          (e: unknown) => e instanceof InputError && e.input === 'baseRegistryConnection' && /must be a registry login server/.test(e.message),
        );
      });
    }
  });

  describe("credentialsFor / credentialsForImage: credentials go only to the connection's registry", () => {
    const access: RegistryAccess = { registry: '127.0.0.1:5000', input: 'conn', credentials: { username: 'u', password: 'p' } };
    const hub: RegistryAccess = { registry: 'registry-1.docker.io', input: 'conn', credentials: { username: 'h', password: 'p' } };
    const table: Array<[RegistryAccess | undefined, string, boolean]> = [
      [access, '127.0.0.1:5000/base/busybox:1', true],
      [access, '127.0.0.1:5001/base/busybox:1', false],
      [access, 'localhost:5000/base/busybox:1', false],
      [access, 'busybox:1', false],
      [hub, 'busybox:1', true],
      [hub, 'docker.io/library/busybox:1', true],
      [access, 'oci:/tmp/layout:1', false],
      [access, 'scratch', false],
      [undefined, '127.0.0.1:5000/a:1', false],
    ];
    for (const [a, image, sent] of table) {
      it(`${a?.registry ?? 'no connection'} -> ${image}: ${sent ? 'sent' : 'not sent'}`, () => {
        assert.equal(credentialsForImage(a, image), sent ? a?.credentials : undefined);
      });
    }
    it('compares normalised registries', () => assert.equal(credentialsFor(hub, 'index.docker.io'), hub.credentials));
  });

  describe('imageReader', () => {
    let server: Server;
    let host: string;
    const counts = { ping: 0, manifest: 0, blob: 0 };
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Labels: { 'io.modeltoaks.model.version': '3' } },
        rootfs: { type: 'layers', diff_ids: [] },
      }),
    );
    const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
        layers: [],
        annotations: { 'io.modeltoaks.model.uri': 'm' },
      }),
    );
    const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;

    before(async () => {
      server = createServer((req, res) => {
        if (req.url === '/v2/') {
          counts.ping++;
          res.writeHead(200).end('{}');
        } else if (req.url?.startsWith('/v2/app/manifests/')) {
          counts.manifest++;
          res
            .writeHead(200, {
              'Content-Type': 'application/vnd.oci.image.manifest.v1+json',
              'Docker-Content-Digest': manifestDigest,
              'Content-Length': manifest.length,
            })
            .end(req.method === 'HEAD' ? undefined : manifest);
        } else if (req.url === `/v2/app/blobs/${configDigest}`) {
          counts.blob++;
          res.writeHead(200, { 'Content-Length': config.length }).end(config);
        } else res.writeHead(404).end();
      });
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(() => new Promise<void>((r) => server.close(() => r())));

    it('uses one client (one ping) per registry for every read of the run', async () => {
      let fallbacks = 0;
      const reader = imageReader({ acrFallback: () => (fallbacks++, { registry: 'x', input: 'azureSubscription' }) });
      const ref = parseReference(`${host}/app:1`);
      assert.equal(await reader.resolveDigest(ref), manifestDigest);
      const annotations = await reader.annotations(ref);
      assert.equal(annotations['io.modeltoaks.model.uri'], 'm');
      assert.equal(annotations['io.modeltoaks.model.version'], '3');
      await reader.resolveDigest(parseReference(`${host}/app:2`));
      assert.equal(reader.client(ref), reader.client(parseReference(`${host}/other:1`)));
      assert.equal(counts.ping, 1);
      assert.equal(fallbacks, 0, 'the ACR fallback is for *.azurecr.io images only');
    });

    it('asks the ACR fallback once per ACR registry the connection does not cover', () => {
      const asked: string[] = [];
      const reader = imageReader({
        connection: { registry: 'other.azurecr.io', input: 'imageRegistryConnection', credentials: { username: 'u', password: 'p' } },
        acrFallback: (registry) => (
          asked.push(registry),
          { registry, input: 'azureSubscription', credentials: { username: ACR_NULL_USER, refreshToken: 'r' } }
        ),
      });
      const a = reader.client(parseReference('contoso.azurecr.io/app:1'));
      reader.client(parseReference('contoso.azurecr.io/app:2'));
      reader.client(parseReference('other.azurecr.io/app:1'));
      assert.deepEqual(asked, ['contoso.azurecr.io']);
      assert.equal(a.auth !== undefined, true);
    });
  });
});

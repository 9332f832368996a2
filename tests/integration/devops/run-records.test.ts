/**
 * The run records through azure-devops-node-api itself against a fake Azure
 * DevOps organization (tests/helpers/fake-devops.ts) that answers the
 * documented routes: location and resource-area lookups, build properties,
 * tags, builds filtered by definition / status / result / tag.
 */
import { strict as assert } from 'node:assert';
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createRunRecordsApi,
  findReleaseImage,
  RECORD_FILE,
  recordFetchedModel,
  recordPushedImage,
  RunProperty,
  runContext,
  type ImageRecord,
} from '../../../shared/devops';
import type { Logger } from '../../../shared/log';
import { startBlackHole } from '../../helpers/black-hole';
import { ALL_PERMISSIONS, startFakeDevOps, type FakeDevOps, type Permission } from '../../helpers/fake-devops';

const TOKEN = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.job-token.sig';
const DIGEST = `sha256:${'ab'.repeat(32)}`;
const RECORD: ImageRecord = {
  imageRef: `contoso.azurecr.io/samples/model-api@${DIGEST}`,
  digest: DIGEST,
  tags: ['42', 'latest'],
  model: { uri: 'https://acct.blob.core.windows.net/models/diabetes/3/model.onnx', version: '3', sha256: 'cd'.repeat(32) },
};

function recordingLogger(): Logger & { warnings: string[]; infos: string[] } {
  const warnings: string[] = [];
  const infos: string[] = [];
  return { warnings, infos, info: (m) => infos.push(m), warn: (m) => warnings.push(m), debug: () => {} };
}

describe('Azure DevOps run records (azure-devops-node-api against a fake organization)', () => {
  let devops: FakeDevOps;
  let dir: string;
  const project = () => devops.projects[0];
  const grant = (perms: readonly Permission[] = ALL_PERMISSIONS) => devops.tokens.set(TOKEN, new Set(perms));
  const buildVars = (buildId: number, definitionId = 7): Record<string, string> => ({
    'System.CollectionUri': devops.collectionUri,
    'System.TeamProjectId': project().id,
    'System.TeamProject': project().name,
    'System.HostType': 'build',
    'System.DefinitionId': String(definitionId),
    'Build.BuildId': String(buildId),
  });
  const ctx = (vars: Record<string, string>) => runContext((n) => vars[n]);

  beforeEach(async () => {
    devops = await startFakeDevOps();
    dir = await mkdtemp(join(tmpdir(), 'devops-records-'));
  });
  afterEach(async () => {
    await devops.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('PushToACR: writes the record file and the build property, after the location lookups the client makes first', async () => {
    grant();
    devops.addBuild({ id: 12, definitionId: 7, status: 'inProgress', result: undefined });
    const logger = recordingLogger();
    const out = await recordPushedImage({ context: ctx(buildVars(12)), token: TOKEN, logger }, RECORD, dir);
    assert.deepEqual(logger.warnings, []);
    assert.equal(out.onRun, true);
    assert.equal(out.file, join(dir, RECORD_FILE));
    assert.deepEqual(JSON.parse(await readFile(join(dir, RECORD_FILE), 'utf8')), RECORD);
    assert.deepEqual(JSON.parse(devops.builds.get(12)!.properties[RunProperty.Image]), RECORD);
    const calls = devops.requests.map((r) => `${r.method} ${r.path}`);
    assert.deepEqual(calls, [
      'OPTIONS /contoso/_apis/Location',
      'GET /contoso/_apis/ResourceAreas',
      'OPTIONS /contoso/_apis/build',
      `PATCH /contoso/${project().id}/_apis/build/builds/12/properties`,
    ]);
    const patch = devops.requests[3];
    assert.equal(patch.authorization, `Bearer ${TOKEN}`);
    assert.match(patch.contentType ?? '', /^application\/json-patch\+json/);
    assert.match(patch.accept ?? '', /api-version=7\.2-preview\.1/);
  });

  it('FetchModel: compares with the last successful run of the same pipeline, then records and tags this run', async () => {
    grant();
    devops.addBuild({ id: 9, definitionId: 7, properties: { [RunProperty.Model]: JSON.stringify({ version: '1' }) } });
    devops.addBuild({ id: 10, definitionId: 7, result: 'partiallySucceeded', properties: { [RunProperty.Model]: JSON.stringify(RECORD.model) } });
    devops.addBuild({ id: 11, definitionId: 7, result: 'failed', properties: { [RunProperty.Model]: JSON.stringify({ version: '9' }) } });
    devops.addBuild({ id: 13, definitionId: 8, properties: { [RunProperty.Model]: JSON.stringify({ version: '8' }) } });
    devops.addBuild({ id: 12, definitionId: 7, status: 'inProgress', result: undefined });
    const logger = recordingLogger();
    const same = await recordFetchedModel({ context: ctx(buildVars(12)), token: TOKEN, logger }, 'diabetes', RECORD.model);
    assert.deepEqual(logger.warnings, []);
    assert.equal(same.changed, false, same.reason);
    assert.equal(same.previousBuildId, 10);
    assert.deepEqual(devops.builds.get(12)!.tags, ['model:diabetes@3']);
    assert.deepEqual(JSON.parse(devops.builds.get(12)!.properties[RunProperty.Model]), RECORD.model);
    const list = devops.requests.find((r) => r.method === 'GET' && r.path.endsWith('/_apis/build/builds'))!;
    assert.equal(list.query.get('definitions'), '7');

    // Run 12 succeeds; run 14 fetches version 4: changed, against run 12.
    devops.builds.get(12)!.status = 'completed';
    devops.builds.get(12)!.result = 'succeeded';
    devops.builds.get(12)!.finishTime = new Date(Date.UTC(2026, 1, 1)).toISOString();
    devops.addBuild({ id: 14, definitionId: 7, status: 'inProgress', result: undefined });
    const next = await recordFetchedModel({ context: ctx(buildVars(14)), token: TOKEN, logger }, 'diabetes', { ...RECORD.model, version: '4' });
    assert.equal(next.changed, true);
    assert.equal(next.previousBuildId, 12);
    // Runs can be found by model in the API, as in the UI.
    const api = createRunRecordsApi({ collectionUri: devops.collectionUri, token: TOKEN });
    devops.builds.get(14)!.status = 'completed';
    devops.builds.get(14)!.result = 'succeeded';
    assert.deepEqual(await api.succeededBuilds(project().name, 7, 10, 'model:diabetes@4'), [14]);
    assert.deepEqual(await api.succeededBuilds(project().name, 7, 10, 'model:diabetes@3'), [12]);
  });

  it('FetchModel: a same version with another sha256 is a changed model; no earlier record is a changed model', async () => {
    grant();
    devops.addBuild({ id: 12, definitionId: 7, status: 'inProgress', result: undefined });
    const logger = recordingLogger();
    const first = await recordFetchedModel({ context: ctx(buildVars(12)), token: TOKEN, logger }, 'diabetes', RECORD.model);
    assert.equal(first.changed, true);
    assert.equal(first.previousBuildId, undefined);
    Object.assign(devops.builds.get(12)!, { status: 'completed', result: 'succeeded', finishTime: new Date().toISOString() });
    devops.addBuild({ id: 13, definitionId: 7, status: 'inProgress', result: undefined });
    const other = await recordFetchedModel({ context: ctx(buildVars(13)), token: TOKEN, logger }, 'diabetes', { ...RECORD.model, sha256: 'ef'.repeat(32) });
    assert.equal(other.changed, true);
    assert.equal(other.previousBuildId, 12);
  });

  it('no token: one warning naming the classic setting; the record file is still written', async () => {
    devops.addBuild({ id: 12, definitionId: 7, status: 'inProgress', result: undefined });
    const logger = recordingLogger();
    const out = await recordPushedImage({ context: ctx(buildVars(12)), logger }, RECORD, dir);
    assert.equal(out.onRun, false);
    assert.equal(logger.warnings.length, 1);
    assert.match(logger.warnings[0], /Allow scripts to access the OAuth token/);
    assert.match(logger.warnings[0], /record file/);
    assert.deepEqual(JSON.parse(await readFile(join(dir, RECORD_FILE), 'utf8')), RECORD);
    assert.equal(devops.requests.length, 0);
    const fetch = recordingLogger();
    const change = await recordFetchedModel({ context: ctx(buildVars(12)), logger: fetch }, 'diabetes', RECORD.model);
    assert.equal(change.changed, true);
    assert.equal(fetch.warnings.length, 1);
    assert.match(fetch.warnings[0], /Allow scripts to access the OAuth token.*modelChanged is true/);
  });

  it('a token without permission: one warning naming the permission; a rejected token: one warning', async () => {
    grant(['ViewBuilds']);
    devops.addBuild({ id: 12, definitionId: 7, status: 'inProgress', result: undefined });
    const logger = recordingLogger();
    const out = await recordPushedImage({ context: ctx(buildVars(12)), token: TOKEN, logger }, RECORD, dir);
    assert.equal(out.onRun, false);
    assert.equal(logger.warnings.length, 1);
    assert.match(logger.warnings[0], /HTTP 403/);
    assert.match(logger.warnings[0], /'Update build information'/);
    assert.doesNotMatch(logger.warnings[0], new RegExp(TOKEN.replace(/\./g, '\\.')));
    const rejected = recordingLogger();
    await recordPushedImage({ context: ctx(buildVars(12)), token: 'expired', logger: rejected }, RECORD, undefined);
    assert.equal(rejected.warnings.length, 1);
    assert.match(rejected.warnings[0], /HTTP 401/);
  });

  it('the token goes to the organization only, not to another host a resource-area answer names', async () => {
    await devops.stop();
    const seen: (string | undefined)[] = [];
    const elsewhere = http.createServer((req, res) => {
      seen.push(req.headers.authorization);
      req.resume();
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"message":"no"}');
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.2', resolve));
    try {
      devops = await startFakeDevOps({ buildAreaUrl: `http://127.0.0.2:${(elsewhere.address() as AddressInfo).port}/contoso/` });
      grant();
      devops.addBuild({ id: 12, definitionId: 7, status: 'inProgress', result: undefined });
      const logger = recordingLogger();
      const out = await recordPushedImage({ context: ctx(buildVars(12)), token: TOKEN, logger }, RECORD, undefined);
      assert.equal(out.onRun, false);
      assert.ok(seen.length > 0, 'the client went to the named host');
      assert.deepEqual(seen.filter(Boolean), [], 'no Authorization header sent to the other host');
      assert.equal(logger.warnings.length, 1);
    } finally {
      elsewhere.close();
    }
  });

  it('an organization that never answers: one warning within the network timeout, modelChanged true', async () => {
    const hole = await startBlackHole();
    try {
      const vars = { ...buildVars(12), 'System.CollectionUri': `${hole.url}/contoso/` };
      const logger = recordingLogger();
      const started = Date.now();
      const change = await recordFetchedModel({ context: ctx(vars), token: TOKEN, logger, timeoutMs: 500 }, 'diabetes', RECORD.model);
      assert.equal(change.changed, true);
      assert.equal(logger.warnings.length, 1, logger.warnings.join('\n'));
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    } finally {
      await hole.stop();
    }
  });

  describe('DeployToAKS in a classic release', () => {
    const releaseVars = (extra: Record<string, string> = {}): Record<string, string> => ({
      'System.CollectionUri': devops.collectionUri,
      'System.TeamProjectId': project().id,
      'System.HostType': 'release',
      'Release.ReleaseId': '5',
      'Release.TriggeringArtifact.Alias': '_model-api',
      'Release.Artifacts._model-api.Type': 'Build',
      'Release.Artifacts._model-api.BuildId': '12',
      'Release.Artifacts._model-api.DefinitionId': '7',
      'Build.BuildId': '12',
      'System.DefaultWorkingDirectory': dir,
      ...extra,
    });

    it('reads the image from the triggering build artifact through the REST API', async () => {
      grant(['ViewBuilds']);
      devops.addBuild({ id: 12, definitionId: 7, properties: { [RunProperty.Image]: JSON.stringify(RECORD) } });
      const logger = recordingLogger();
      const found = await findReleaseImage({ context: ctx(releaseVars()), token: TOKEN, logger });
      assert.deepEqual(found?.record, RECORD);
      assert.match(found!.source, /build 12 of artifact '_model-api'/);
      assert.deepEqual(logger.warnings, []);
    });

    it('falls back to the record file in the downloaded artifact: without token (one warning), or when the run recorded nothing', async () => {
      await mkdir(join(dir, '_model-api', 'drop'), { recursive: true });
      await writeFile(join(dir, '_model-api', 'drop', RECORD_FILE), JSON.stringify(RECORD));
      const logger = recordingLogger();
      const found = await findReleaseImage({ context: ctx(releaseVars()), logger });
      assert.deepEqual(found?.record, RECORD);
      assert.equal(logger.warnings.length, 1);
      assert.match(logger.warnings[0], /Allow scripts to access the OAuth token/);
      grant(['ViewBuilds']);
      devops.addBuild({ id: 12, definitionId: 7 });
      const quiet = recordingLogger();
      const again = await findReleaseImage({ context: ctx(releaseVars()), token: TOKEN, logger: quiet });
      assert.match(again!.source, /drop/);
      assert.deepEqual(quiet.warnings, []);
    });

    it('two record files naming different images: fails naming the image input; nothing found: undefined', async () => {
      const logger = recordingLogger();
      assert.equal(await findReleaseImage({ context: ctx(releaseVars()), logger }), undefined);
      for (const [name, digest] of [
        ['a', DIGEST],
        ['b', `sha256:${'cd'.repeat(32)}`],
      ]) {
        await mkdir(join(dir, '_model-api', name), { recursive: true });
        await writeFile(join(dir, '_model-api', name, RECORD_FILE), JSON.stringify({ ...RECORD, digest, imageRef: `r.example/app@${digest}` }));
      }
      await assert.rejects(
        findReleaseImage({ context: ctx(releaseVars()), logger }),
        (e: Error & { input?: string }) => e.input === 'image' && /set 'image'/.test(e.message),
      );
    });
  });
});

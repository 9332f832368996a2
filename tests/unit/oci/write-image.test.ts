/**
 * shared/oci/write-image: the image-finishing step both build modes share
 * (config, manifest, index ref names, publish, layer table).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError } from '../../../shared/errors';
import { silentLogger, type Logger } from '../../../shared/log';
import { OciLayout } from '../../../shared/oci/layout';
import { createdFromEpoch } from '../../../shared/oci/provenance';
import { prepareStaging } from '../../../shared/oci/staging';
import { Annotation, MediaType, type ImageConfig, type ImageManifest } from '../../../shared/oci/types';
import { finishImage, IMAGE_NAME_ANNOTATION, validateTags } from '../../../shared/oci/write-image';

describe('oci/write-image', function () {
  this.timeout(10_000);
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'write-image-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const tags: Array<[string[], string[] | 'error']> = [
    [[], ['latest']],
    [['', '  '], ['latest']],
    [
      [' v1 ', 'v1', 'latest'],
      ['v1', 'latest'],
    ],
    [['_x.1-a'], ['_x.1-a']],
    [['.hidden'], 'error'],
    [['-dash'], 'error'],
    [['a:b'], 'error'],
    [['x'.repeat(129)], 'error'],
  ];
  for (const [given, expected] of tags) {
    it(`validateTags(${JSON.stringify(given).slice(0, 40)})`, () => {
      if (expected === 'error')
        assert.throws(
          () => validateTags(given),
          (e: unknown) => e instanceof InputError && e.input === 'tags',
        );
      else assert.deepEqual(validateTags(given), expected);
    });
  }

  const epochs: Array<[string | undefined, string]> = [
    [undefined, '1970-01-01T00:00:00Z'],
    ['1700000000', '2023-11-14T22:13:20Z'],
  ];
  for (const [epoch, created] of epochs) {
    it(`createdFromEpoch(SOURCE_DATE_EPOCH=${epoch}) is ${created}`, () =>
      assert.equal(createdFromEpoch(epoch === undefined ? {} : { SOURCE_DATE_EPOCH: epoch }), created));
  }

  const formats: Array<['oci' | 'docker', string, string]> = [
    ['oci', MediaType.OciManifest, MediaType.OciConfig],
    ['docker', MediaType.DockerManifest, MediaType.DockerConfig],
  ];
  for (const [format, manifestType, configType] of formats) {
    it(`finishImage (${format}): writes config, manifest and one index entry per tag, publishes, logs the table`, async () => {
      const out = join(work, `image-${format}`);
      const staging = await prepareStaging(out);
      const layout = await OciLayout.create(staging);
      const layer = await layout.writeBlob('layer bytes');
      const config: ImageConfig = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [layer.digest] } };
      const lines: string[] = [];
      const logger: Logger = { ...silentLogger, info: (l: string) => void lines.push(l) };
      const summary = [{ role: 'model' as const, mediaType: MediaType.OciLayer, ...layer }];
      const r = await finishImage({
        layout,
        staging,
        outputPath: out,
        format,
        config,
        layers: [{ mediaType: MediaType.OciLayer, ...layer }],
        annotations: { [Annotation.Created]: '1970-01-01T00:00:00Z' },
        tags: ['v1', 'latest'],
        imageName: 'team/app',
        summary,
        logger,
      });
      assert.equal(r.layoutPath, out);
      assert.equal(r.manifestMediaType, manifestType);
      assert.deepEqual(r.tags, ['v1', 'latest']);
      assert.deepEqual(r.layers, summary);

      const published = await OciLayout.open(out);
      const index = await published.readIndex();
      assert.deepEqual(
        index.manifests.map((m) => [m.digest, m.annotations?.[Annotation.RefName], m.annotations?.[IMAGE_NAME_ANNOTATION]]),
        [
          [r.manifestDigest, 'v1', 'team/app'],
          [r.manifestDigest, 'latest', 'team/app'],
        ],
      );
      const manifest = await published.readJson<ImageManifest>(r.manifestDigest);
      assert.equal(manifest.config.digest, r.configDigest);
      assert.equal(manifest.config.mediaType, configType);
      assert.equal(manifest.annotations?.[Annotation.Created], format === 'oci' ? '1970-01-01T00:00:00Z' : undefined);
      assert.equal(lines.at(-1), `Image manifest: ${r.manifestDigest}`);
      assert.match(lines[0], /^#\s+layer\s+size\s+media type\s+digest$/);
    });
  }
});

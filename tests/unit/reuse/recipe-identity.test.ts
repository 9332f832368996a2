/**
 * What a reused layer is checked against must match what BundleModelImage
 * really builds: the recipe of a single file equals collectEntries' entries,
 * the expected blob size and first bytes equal those of the written layer,
 * for sizes around the stored-block boundary. And which store answers give a
 * model a strong identity.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeLayer, writeTarLayer } from '../../../shared/oci/layer';
import { OciLayout } from '../../../shared/oci/layout';
import { collectEntries, tarSize, tarStream } from '../../../shared/oci/tar';
import { modelIdentity } from '../../../shared/reuse/identity';
import { expectedPrefix } from '../../../shared/reuse/mapping';
import { expectedBlobSize, recipeOf, recipeText, singleFileRecipe } from '../../../shared/reuse/recipe';
import type { StoredObject } from '../../../shared/storage/store';

describe('reuse/recipe: a layer described without its bytes', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'recipe-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const size of [0, 1, 65535 - 1536, 65535 - 1024, 65536, 3 * 65535 + 7, 1 << 20]) {
    for (const encoding of ['gzip-stored', 'none'] as const) {
      it(`${size} bytes, ${encoding}: entries, blob size and first bytes are those of the written layer`, async () => {
        const model = join(dir, `m-${size}-${encoding}`);
        mkdirSync(model);
        writeFileSync(join(model, 'model.bin'), randomBytes(size));
        const entries = await collectEntries([{ hostPath: join(model, 'model.bin'), destination: '/models/v1' }]);
        const recipe = singleFileRecipe('/models/v1/', 'model.bin', size, 7, encoding === 'none' ? 'none' : 'auto');
        assert.equal(recipeText(recipe), recipeText(recipeOf(entries, 7, recipe.compression)));
        const layout = await OciLayout.create(join(model, 'layout'));
        if (encoding === 'gzip-stored') {
          // The stored encoding as 'auto' writes it for weights (built directly: 'auto' would sample an empty file as compressible).
          const stored = await writeTarLayer(layout, () => tarStream(entries, { mtime: 7 }), tarSize(entries, 7), 'gzip-stored', {
            compression: 'auto',
            mtime: 7,
          });
          assert.equal(stored.size, expectedBlobSize(recipe, 'gzip-stored'));
          const blob = readFileSync(layout.blobPath(stored.digest));
          const prefix = expectedPrefix(recipe, 'gzip-stored');
          assert.ok(blob.subarray(0, prefix.length).equals(prefix), 'first bytes');
        } else {
          const layer = await writeLayer(layout, entries, { compression: 'none', mtime: 7 });
          assert.equal(layer.size, expectedBlobSize(recipe, 'none'));
          const blob = readFileSync(layout.blobPath(layer.digest));
          const prefix = expectedPrefix(recipe, 'none');
          assert.ok(blob.subarray(0, prefix.length).equals(prefix), 'first bytes');
        }
      });
    }
  }

  it('another place, mtime or policy is another recipe', () => {
    const a = recipeText(singleFileRecipe('/models', 'm.bin', 10, 0, 'auto'));
    assert.notEqual(a, recipeText(singleFileRecipe('/srv', 'm.bin', 10, 0, 'auto')));
    assert.notEqual(a, recipeText(singleFileRecipe('/models', 'm.bin', 10, 1, 'auto')));
    assert.notEqual(a, recipeText(singleFileRecipe('/models', 'm.bin', 10, 0, 'none')));
    assert.notEqual(a, recipeText(singleFileRecipe('/models', 'n.bin', 10, 0, 'auto')));
  });
});

describe('reuse/identity: only strong identities', () => {
  const obj = (o: Partial<StoredObject>): StoredObject => ({ key: 'm/model.bin', size: 42, lastModified: new Date(0), ...o });
  const hex = 'ab'.repeat(32);
  const cases: { name: string; kind: 'azureBlob' | 's3'; o: Partial<StoredObject>; expected?: string; key?: RegExp; reason?: RegExp }[] = [
    { name: 'expectedSha256 input', kind: 's3', o: { etag: 'x-1' }, expected: hex, key: new RegExp(`^sha256:${hex} size=42$`) },
    { name: 'sha256 metadata', kind: 'azureBlob', o: { metadata: { sha256: hex } }, key: new RegExp(`^sha256:${hex} size=42$`) },
    { name: 'Azure ETag', kind: 'azureBlob', o: { etag: '0x8DC1' }, key: /^azureBlob az:\/\/m etag=0x8DC1 size=42$/ },
    { name: 'version id', kind: 's3', o: { versionId: 'v7', etag: 'abc-3' }, key: /^s3 az:\/\/m versionId=v7 size=42$/ },
    { name: 'S3 single-part ETag', kind: 's3', o: { etag: 'A'.repeat(32) }, key: new RegExp(`^s3 az://m etag=${'a'.repeat(32)} size=42$`) },
    { name: 'S3 multipart ETag', kind: 's3', o: { etag: `${'a'.repeat(32)}-4` }, reason: /multipart ETag/ },
    { name: 'weak ETag', kind: 'azureBlob', o: { etag: 'W/"0x8"' }, reason: /weak/ },
    { name: 'a name alone', kind: 'azureBlob', o: {}, reason: /no sha256, version id or ETag/ },
    { name: 'disagreeing sha256 sources', kind: 'azureBlob', o: { metadata: { sha256: 'cd'.repeat(32) } }, expected: hex, reason: /disagree/ },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = modelIdentity(obj(c.o), c.kind, 'az://m', c.expected);
      if (c.reason) {
        assert.equal(r.identity, undefined);
        assert.match((r as { reason: string }).reason, c.reason);
      } else {
        assert.ok(r.identity, JSON.stringify(r));
        assert.match(r.identity.key, c.key as RegExp);
      }
    });
  }
});

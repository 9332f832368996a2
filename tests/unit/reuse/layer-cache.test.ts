/** The warm-agent model layer cache: hit, miss on another model or recipe, a changed blob, and eviction. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LayerCache } from '../../../shared/reuse/layer-cache';
import { singleFileRecipe } from '../../../shared/reuse/recipe';

describe('reuse/layer-cache', () => {
  let dir: string;
  const sha = 'a'.repeat(64);
  const recipe = singleFileRecipe('/models', 'm.bin', 5, 0, 'auto');
  const layer = (n: number) => ({
    digest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
    size: 5,
    diffId: `sha256:${'d'.repeat(64)}`,
    uncompressedSize: 2048,
    encoding: 'gzip-stored' as const,
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'layer-cache-'));
    writeFileSync(join(dir, 'blob'), 'bytes');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('hits for the same model sha256 and recipe and links the blob; misses for another model or recipe', async () => {
    const cache = new LayerCache(join(dir, 'cache'));
    const key = LayerCache.key(sha, recipe);
    assert.equal(await cache.put(key, sha, recipe, layer(1), join(dir, 'blob')), undefined);
    const got = await cache.take(key, sha, recipe, join(dir, 'out'));
    assert.deepEqual(got, { hit: layer(1) });
    assert.equal(readFileSync(join(dir, 'out'), 'utf8'), 'bytes');
    const other = singleFileRecipe('/srv', 'm.bin', 5, 0, 'auto');
    assert.notEqual(LayerCache.key(sha, other), key);
    assert.notEqual(LayerCache.key('b'.repeat(64), recipe), key);
    assert.match((await cache.take(LayerCache.key(sha, other), sha, other, join(dir, 'out2'))).reason ?? '', /no layer of this model and recipe is cached/);
    assert.match((await cache.take(key, 'b'.repeat(64), recipe, join(dir, 'out2'))).reason ?? '', /another layer/);
  });

  it('keeps a deferred layer as its descriptor: hit for the same model and recipe, nothing for another or for a damaged entry', async () => {
    const cache = new LayerCache(join(dir, 'cache'));
    const key = LayerCache.key(sha, recipe);
    const deferred = {
      digest: `sha256:${'e'.repeat(64)}`,
      size: 2100,
      mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
      diffId: `sha256:${'d'.repeat(64)}`,
      tarSize: 2048,
      encoding: 'gzip-stored' as const,
      crc32: 12345,
    };
    assert.equal(await cache.takeDeferred(key, sha, recipe), undefined, 'empty cache');
    assert.equal(await cache.putDeferred(key, sha, recipe, deferred), undefined);
    assert.deepEqual(await cache.takeDeferred(key, sha, recipe), deferred);
    assert.equal(await cache.takeDeferred(key, 'b'.repeat(64), recipe), undefined, 'another model');
    const other = singleFileRecipe('/srv', 'm.bin', 5, 0, 'auto');
    assert.equal(await cache.takeDeferred(key, sha, other), undefined, 'another recipe');
    assert.equal((await cache.take(key, sha, recipe, join(dir, 'out'))).hit, undefined, 'no blob entry was made');
    const file = join(dir, 'cache', `${key}.deferred.json`);
    const entry = JSON.parse(readFileSync(file, 'utf8')) as { deferred: Record<string, unknown> };
    writeFileSync(file, JSON.stringify({ ...entry, deferred: { ...entry.deferred, crc32: undefined } }));
    assert.equal(await cache.takeDeferred(key, sha, recipe), undefined, 'stored gzip without its CRC-32');
    writeFileSync(file, JSON.stringify({ ...entry, deferred: { ...entry.deferred, digest: 'sha256:xyz' } }));
    assert.equal(await cache.takeDeferred(key, sha, recipe), undefined, 'a digest that is not one');
    writeFileSync(file, '{not json');
    assert.equal(await cache.takeDeferred(key, sha, recipe), undefined, 'not JSON');
  });

  it('misses when the cached blob was rewritten (other mtime or size)', async () => {
    const cache = new LayerCache(join(dir, 'cache'));
    const key = LayerCache.key(sha, recipe);
    await cache.put(key, sha, recipe, layer(1), join(dir, 'blob'));
    await new Promise((r) => setTimeout(r, 20));
    writeFileSync(join(dir, 'cache', `${key}.blob`), 'BYTES');
    const got = await cache.take(key, sha, recipe, join(dir, 'out'));
    assert.match(got.reason ?? '', /changed since it was cached/);
    assert.equal(existsSync(join(dir, 'out')), false);
  });

  it('keeps the most recently used entries only', async () => {
    const cache = new LayerCache(join(dir, 'cache'), 2);
    const keys: string[] = [];
    for (let i = 1; i <= 3; i++) {
      const r = singleFileRecipe('/models', `m${i}.bin`, 5, 0, 'auto');
      keys.push(LayerCache.key(sha, r));
      await cache.put(keys[i - 1] as string, sha, r, layer(i), join(dir, 'blob'));
      await new Promise((res) => setTimeout(res, 5));
    }
    const left = readdirSync(join(dir, 'cache')).filter((n) => n.endsWith('.json'));
    assert.deepEqual(left.sort(), [`${keys[1]}.json`, `${keys[2]}.json`].sort());
  });
});

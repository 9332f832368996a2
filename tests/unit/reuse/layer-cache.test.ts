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

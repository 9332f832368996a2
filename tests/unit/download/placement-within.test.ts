/** Placement only ever writes, renames or deletes strict descendants of the destination. */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UserError } from '../../../shared/errors';
import { beginPlacement } from '../../../shared/download/placement';

describe('download/placement: strict descendants of the destination only', () => {
  let dir: string;
  let dest: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'place-within-'));
    dest = join(dir, 'dest');
    mkdirSync(dest);
    writeFileSync(join(dir, 'sibling.txt'), 'keep');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const refused: Array<{ name: string; path: () => string }> = [
    { name: 'the destination itself', path: () => dest },
    { name: 'the destination with a trailing /.', path: () => `${dest}/.` },
    { name: "the destination's parent through ..", path: () => join(dest, '..') },
    { name: 'a raw .. final segment', path: () => `${dest}/..` },
    { name: 'a sibling through ..', path: () => `${dest}/../sibling.txt` },
    { name: 'a path escaping deeper', path: () => `${dest}/a/../../../escaped.txt` },
    { name: 'an unrelated absolute path', path: () => join(dir, 'elsewhere', 'm.bin') },
  ];
  for (const kind of ['file', 'folder'] as const) {
    for (const t of refused) {
      it(`refuses ${t.name} (${kind}), touching nothing`, async () => {
        await assert.rejects(
          beginPlacement(t.path(), kind, { within: dest }),
          (e: unknown) => e instanceof UserError && e.code === 'PathOutsideDestination' && e.message.includes(dest),
        );
        assert.deepEqual(readdirSync(dir).sort(), ['dest', 'sibling.txt']);
        assert.deepEqual(readdirSync(dest), []);
      });
    }
  }

  it('refuses a path that leaves the destination through a symlink inside it', async () => {
    mkdirSync(join(dir, 'outside'));
    symlinkSync(join(dir, 'outside'), join(dest, 'link'));
    await assert.rejects(
      beginPlacement(join(dest, 'link', 'm.bin'), 'file', { within: dest }),
      (e: unknown) => e instanceof UserError && e.code === 'PathOutsideDestination',
    );
    assert.deepEqual(readdirSync(join(dir, 'outside')), []);
  });

  it('accepts a child and a deeper descendant, and commits there', async () => {
    const p = await beginPlacement(join(dest, 'model'), 'folder', { within: dest });
    writeFileSync(join(p.tempPath, 'w.bin'), 'x');
    await p.commit();
    assert.ok(existsSync(join(dest, 'model', 'w.bin')));
    const q = await beginPlacement(join(dest, 'sub', 'm.bin'), 'file', { within: dest });
    writeFileSync(q.tempPath, 'y');
    await q.commit();
    assert.ok(existsSync(join(dest, 'sub', 'm.bin')));
  });

  it('accepts a destination reached through a symlink', async () => {
    symlinkSync(dest, join(dir, 'alias'));
    const p = await beginPlacement(join(dir, 'alias', 'm.bin'), 'file', { within: join(dir, 'alias') });
    writeFileSync(p.tempPath, 'z');
    await p.commit();
    assert.ok(existsSync(join(dest, 'm.bin')));
  });
});

/**
 * shared/oci/staging: the output folder is replaced whole through a hidden
 * staging sibling, and only when it is absent, empty or an earlier layout.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { InputError } from '../../../shared/errors';
import { prepareStaging, publishStaging, resolveOutputPath } from '../../../shared/oci/staging';

describe('oci/staging', function () {
  this.timeout(10_000);
  let work: string;
  let n = 0;
  const fresh = () => {
    const d = join(work, `case-${n++}`);
    mkdirSync(d);
    return d;
  };
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'staging-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  const outputs: Array<{ name: string; make?: (p: string) => void; error?: RegExp }> = [
    { name: 'absent', make: undefined },
    { name: 'an empty folder', make: (p) => mkdirSync(p) },
    {
      name: 'an earlier layout',
      make: (p) => {
        mkdirSync(p);
        writeFileSync(join(p, 'oci-layout'), '{}');
        writeFileSync(join(p, 'index.json'), '{}');
      },
    },
    { name: 'a file', make: (p) => writeFileSync(p, 'x'), error: /is a file, not a folder/ },
    {
      name: 'a folder of other files',
      make: (p) => {
        mkdirSync(p);
        writeFileSync(join(p, 'notes.txt'), 'x');
      },
      error: /holding other files and no OCI image layout/,
    },
  ];
  for (const o of outputs) {
    it(`resolveOutputPath: ${o.name} ${o.error ? 'is refused, naming outputPath' : 'is accepted'}`, async () => {
      const out = join(fresh(), 'image');
      o.make?.(out);
      if (o.error)
        await assert.rejects(resolveOutputPath(out), (e: unknown) => e instanceof InputError && e.input === 'outputPath' && o.error!.test(e.message));
      else assert.equal(await resolveOutputPath(out), out);
    });
  }

  for (const given of [undefined, '', '   ']) {
    it(`resolveOutputPath(${JSON.stringify(given)}) says outputPath is required`, async () => {
      await assert.rejects(resolveOutputPath(given), (e: unknown) => e instanceof InputError && e.input === 'outputPath' && /is required/.test(e.message));
    });
  }

  it('prepares a hidden staging folder beside the output (creating the parent) and publishes it over an earlier layout', async () => {
    const parent = join(fresh(), 'deep', 'er');
    const out = join(parent, 'image');
    const staging = await prepareStaging(out);
    assert.match(basename(staging), /^\.image\.partial-[0-9a-f]+$/);
    writeFileSync(join(staging, 'oci-layout'), 'new');
    await publishStaging(staging, out);
    assert.equal(readFileSync(join(out, 'oci-layout'), 'utf8'), 'new');

    const again = await prepareStaging(out);
    writeFileSync(join(again, 'oci-layout'), 'newer');
    await publishStaging(again, out);
    assert.equal(readFileSync(join(out, 'oci-layout'), 'utf8'), 'newer');
    assert.deepEqual(readdirSync(parent), ['image']);
  });

  it('does not publish over a folder that became foreign while the image was written', async () => {
    const out = join(fresh(), 'image');
    const staging = await prepareStaging(out);
    mkdirSync(out);
    writeFileSync(join(out, 'mine.txt'), 'keep');
    await assert.rejects(publishStaging(staging, out), (e: unknown) => e instanceof InputError && e.input === 'outputPath');
    assert.equal(readFileSync(join(out, 'mine.txt'), 'utf8'), 'keep');
    assert.ok(existsSync(staging));
  });
});

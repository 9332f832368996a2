/**
 * Task icons: each task folder has an SVG source and the PNG rendered from it
 * (node scripts/make-icons.mjs), and no two icons look alike at the 32 px of
 * the task picker, even without colour (compared by lightness, so the glyphs
 * differ and not only the hue). The extension icon is compared with them too.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderSvgFile, renderSvgPixels } from '../../../scripts/lib/render-svg.mjs';
import { TASK_ICON_SIZE, taskIconSources } from '../../../scripts/make-icons.mjs';

const root = join(__dirname, '..', '..', '..');

/** Lightness (0-255) of each pixel over the white of the picker. */
function lightness(svg: string, size: number): number[] {
  const { pixels } = renderSvgPixels(svg, size);
  const out: number[] = [];
  for (let o = 0; o < pixels.length; o += 4) {
    const a = (pixels[o + 3] ?? 0) / 255;
    const over = (c: number) => c * a + 255 * (1 - a);
    out.push(0.2126 * over(pixels[o] ?? 0) + 0.7152 * over(pixels[o + 1] ?? 0) + 0.0722 * over(pixels[o + 2] ?? 0));
  }
  return out;
}

/** Share of pixels whose lightness differs by more than a quarter of the range, after each icon is normalised to its own mean. */
function difference(a: number[], b: number[]): number {
  const mean = (x: number[]) => x.reduce((s, v) => s + v, 0) / x.length;
  const ma = mean(a);
  const mb = mean(b);
  let differing = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs((a[i] ?? 0) - ma - ((b[i] ?? 0) - mb)) > 64) differing++;
  return differing / a.length;
}

describe('task icons', () => {
  const folders = readdirSync(join(root, 'tasks')).filter((n) => statSync(join(root, 'tasks', n)).isDirectory());
  const sources = taskIconSources(root);

  it('every task folder has icon.svg (the source) and icon.png', () => {
    for (const name of folders) {
      if (!existsSync(join(root, 'tasks', name, 'task.json')) && !existsSync(join(root, 'tasks', name, 'icon.svg'))) continue;
      assert.ok(existsSync(join(root, 'tasks', name, 'icon.svg')), `tasks/${name}/icon.svg is missing`);
      assert.ok(existsSync(join(root, 'tasks', name, 'icon.png')), `tasks/${name}/icon.png is missing: run node scripts/make-icons.mjs`);
    }
  });

  for (const { name, svg, png } of sources) {
    it(`${name}/icon.png is the rendering of its icon.svg (run node scripts/make-icons.mjs)`, () => {
      assert.ok(readFileSync(png).equals(renderSvgFile(svg, TASK_ICON_SIZE)), `tasks/${name}/icon.png is stale: run node scripts/make-icons.mjs`);
    });
  }

  it('no two icons look alike at 32 px, colour aside (the extension icon included)', () => {
    const icons = [...sources.map((s) => ({ name: s.name, svg: s.svg })), { name: 'extension', svg: join(root, 'images', 'extension-icon.svg') }];
    assert.ok(icons.length >= 5, icons.map((i) => i.name).join(', '));
    const seen = icons.map((i) => ({ name: i.name, l: lightness(i.svg, 32) }));
    const alike: string[] = [];
    for (let i = 0; i < seen.length; i++)
      for (let j = i + 1; j < seen.length; j++) {
        const d = difference(seen[i]!.l, seen[j]!.l);
        if (d < 0.12) alike.push(`${seen[i]!.name} ~ ${seen[j]!.name} (${(d * 100).toFixed(1)}% of pixels differ)`);
      }
    assert.deepEqual(alike, []);
  });

  it('the comparison would catch two icons that differ only in colour', () => {
    const fetch = join(root, 'tasks', 'FetchModel', 'icon.svg');
    const recoloured = join(mkdtempSync(join(tmpdir(), 'icon-')), 'icon.svg');
    writeFileSync(recoloured, readFileSync(fetch, 'utf8').replace(/#0078d4/g, '#107c10'));
    assert.ok(difference(lightness(fetch, 32), lightness(recoloured, 32)) < 0.12);
  });
});

// Renders every task icon, tasks/<Name>/icon.svg -> tasks/<Name>/icon.png
// (128 x 128; the task picker shows them at 32 px), with resvg. The PNGs are
// committed because the build copies them beside each bundle;
// tests/unit/docs/icons.test.ts fails when a PNG no longer matches its SVG
// and when two icons look alike at 32 px. The extension icon and the overview
// diagram (images/*.svg) are rendered by scripts/package.mjs into the package.
//
//   node scripts/make-icons.mjs
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderSvgFile } from './lib/render-svg.mjs';

export const TASK_ICON_SIZE = 128;
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export function taskIconSources(repoRoot = root) {
  return readdirSync(join(repoRoot, 'tasks'))
    .filter((n) => existsSync(join(repoRoot, 'tasks', n, 'icon.svg')))
    .sort()
    .map((name) => ({ name, svg: join(repoRoot, 'tasks', name, 'icon.svg'), png: join(repoRoot, 'tasks', name, 'icon.png') }));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  for (const { svg, png } of taskIconSources()) {
    writeFileSync(png, renderSvgFile(svg, TASK_ICON_SIZE));
    console.log(`wrote ${png}`);
  }
}

// Renders an SVG source to PNG with resvg (no browser, no system rasteriser):
// the one renderer for the task icons, the extension icon and the overview
// diagram. Text is drawn with DejaVu Sans loaded from its file, never from
// whatever fonts a machine happens to have, so the picture is the same on
// every machine; without the font file (Debian package fonts-dejavu-core)
// rendering fails instead of silently dropping the text.
import { existsSync, readFileSync } from 'node:fs';
import { Resvg } from '@resvg/resvg-js';

export const FONT_FILES = ['/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf', '/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf'];

/**
 * The PNG of `svgText` scaled to `width` pixels (height follows the aspect
 * ratio). SVGs with <text> need the DejaVu Sans files.
 */
export function renderSvg(svgText, width, name = 'the SVG') {
  const hasText = /<text[\s>]/.test(svgText);
  const missing = FONT_FILES.filter((f) => !existsSync(f));
  if (hasText && missing.length) {
    throw new Error(`${name} has text, and its font ${missing[0]} is missing: install the Debian package fonts-dejavu-core.`);
  }
  const resvg = new Resvg(svgText, {
    fitTo: { mode: 'width', value: width },
    font: { loadSystemFonts: false, fontFiles: hasText ? FONT_FILES : [], defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
    background: 'rgba(0,0,0,0)',
  });
  return resvg.render().asPng();
}

/** renderSvg for a file. */
export function renderSvgFile(path, width) {
  return renderSvg(readFileSync(path, 'utf8'), width, path);
}

/** The RGBA pixels of an SVG file rendered at `width` (for tests that look at the picture). */
export function renderSvgPixels(path, width) {
  const image = new Resvg(readFileSync(path, 'utf8'), {
    fitTo: { mode: 'width', value: width },
    font: { loadSystemFonts: false, fontFiles: FONT_FILES.filter((f) => existsSync(f)), defaultFontFamily: 'DejaVu Sans' },
  }).render();
  return { width: image.width, height: image.height, pixels: Buffer.from(image.pixels) };
}

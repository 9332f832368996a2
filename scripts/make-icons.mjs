// Draws the extension logo (128x128) and one icon per task (32x32... rendered at
// 128 and scaled by the browser) as PNG files, deterministically, with no image
// library: a rounded tile in the task's colour with a simple glyph.
import { deflateSync } from 'node:zlib';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function crc32(buf) {
  let c;
  const table = [];
  for (let n = 0; n < 256; n++) {
    c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  let crc = 0xffffffff;
  for (const b of buf) crc = table[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
function png(size, pixel) {
  const raw = Buffer.alloc((size * 4 + 1) * size);
  for (let y = 0; y < size; y++) {
    raw[y * (size * 4 + 1)] = 0;
    for (let x = 0; x < size; x++) {
      const [r, g, b, a] = pixel(x / size, y / size);
      const o = y * (size * 4 + 1) + 1 + x * 4;
      raw[o] = r;
      raw[o + 1] = g;
      raw[o + 2] = b;
      raw[o + 3] = a;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8;
  ihdr[9] = 6;
  ihdr[10] = 0;
  ihdr[11] = 0;
  ihdr[12] = 0;
  return Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
const tile = (x, y) => {
  const r = 0.18,
    cx = Math.min(Math.max(x, r), 1 - r),
    cy = Math.min(Math.max(y, r), 1 - r);
  return Math.hypot(x - cx, y - cy) <= r && x > 0.02 && x < 0.98 && y > 0.02 && y < 0.98;
};
const glyphs = {
  // a download arrow into a tray
  FetchModel: (x, y) =>
    (Math.abs(x - 0.5) < 0.07 && y > 0.2 && y < 0.6) || (y >= 0.5 && y < 0.68 && Math.abs(x - 0.5) < 0.68 - y) || (y > 0.72 && y < 0.8 && x > 0.25 && x < 0.75),
  // a box with a stripe: the image
  BundleModelImage: (x, y) =>
    (x > 0.25 && x < 0.75 && y > 0.3 && y < 0.75 && !(x > 0.32 && x < 0.68 && y > 0.45 && y < 0.68)) || (y > 0.22 && y < 0.3 && x > 0.3 && x < 0.7),
  // an upload arrow
  PushToACR: (x, y) => (Math.abs(x - 0.5) < 0.07 && y > 0.4 && y < 0.8) || (y > 0.22 && y <= 0.45 && Math.abs(x - 0.5) < y - 0.22),
  // three nodes: a cluster
  DeployToAKS: (x, y) =>
    [
      [0.5, 0.3],
      [0.3, 0.65],
      [0.7, 0.65],
    ].some(([a, b]) => Math.hypot(x - a, y - b) < 0.11),
  // a check mark: the image passed its test
  TestModelImage: (x, y) =>
    (x >= 0.22 && x <= 0.42 && Math.abs(y - (0.52 + (x - 0.22))) < 0.07) || (x >= 0.4 && x <= 0.78 && Math.abs(y - (0.72 - (x - 0.4) * 1.05)) < 0.07),
  extension: (x, y) => (Math.hypot(x - 0.5, y - 0.5) < 0.28 && Math.hypot(x - 0.5, y - 0.5) > 0.16) || Math.hypot(x - 0.5, y - 0.5) < 0.08,
};
const colours = {
  FetchModel: [0, 120, 212],
  BundleModelImage: [92, 45, 145],
  PushToACR: [0, 138, 120],
  DeployToAKS: [202, 80, 16],
  TestModelImage: [16, 124, 16],
  extension: [0, 90, 158],
};
for (const [name, glyph] of Object.entries(glyphs)) {
  const [r, g, b] = colours[name];
  const img = png(128, (x, y) => (!tile(x, y) ? [0, 0, 0, 0] : glyph(x, y) ? [255, 255, 255, 255] : [r, g, b, 255]));
  const file = name === 'extension' ? join(root, 'images', 'extension-icon.png') : join(root, 'tasks', name, 'icon.png');
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, img);
  console.log(`wrote ${file}`);
}

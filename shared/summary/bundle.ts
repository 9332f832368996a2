/** BundleModelImage's run summary: each layer with its size and what it holds (the model layer marked), the digest. */
import { formatBytes } from '../format';
import type { BundleResult, LayerSummary } from '../oci/write-image';
import { chainLine, modelName, type ModelIdentity } from './chain';
import { code, facts, shortDigest, table, text } from './markdown';

export const BUNDLE_SUMMARY_TITLE = 'Image (BundleModelImage)';

export interface BundleSummaryContext {
  /** The base image as given (daemonless mode). */
  baseImage?: string;
  /** Where the model and the app are in the image. */
  modelDestination?: string;
  appDestination?: string;
  model?: ModelIdentity;
}

function holds(l: LayerSummary, c: BundleSummaryContext): string {
  switch (l.role) {
    case 'model': {
      const name = modelName(c.model);
      const what = [name ? text(name) : 'the model', c.model?.version ? code(c.model.version) : ''].filter(Boolean).join(' ');
      return `${what} at ${code(c.modelDestination ?? '/model')}`;
    }
    case 'app':
      return `the application at ${code(c.appDestination ?? '/app')}`;
    case 'base':
      return c.baseImage ? `base image ${code(c.baseImage)}` : 'base image';
    default:
      return 'docker build';
  }
}

export function bundleSummary(r: BundleResult, c: BundleSummaryContext = {}): string {
  const rows = r.layers.map((l, i) => [
    String(i + 1),
    l.role === 'model' ? '**model** ◆' : l.role,
    holds(l, c),
    formatBytes(l.size),
    code(shortDigest(l.digest)),
  ]);
  const total = r.layers.reduce((n, l) => n + l.size, 0);
  const modelLayer = r.layers.find((l) => l.role === 'model');
  return [
    `### Image ${code(shortDigest(r.manifestDigest))}`,
    '',
    chainLine({ model: c.model, image: r.manifestDigest }, 'image'),
    '',
    table(['#', 'Layer', 'Holds', 'Size', 'Digest'], rows, [3]),
    '',
    modelLayer
      ? `◆ The model layer is content-addressed: an unchanged model keeps digest ${code(shortDigest(modelLayer.digest))}, so registries and nodes that have it skip it.`
      : 'No separate model layer (Docker mode: the Dockerfile decides the layers).',
    '',
    facts([
      ['Image digest', code(r.manifestDigest)],
      ['Total size', `${formatBytes(total)} in ${r.layers.length} layer${r.layers.length === 1 ? '' : 's'}`],
      ['Tags', r.tags.map(code).join(', ')],
      ['Model', c.model?.uri ? code(c.model.uri) : undefined],
      ['Model sha256', c.model?.sha256 ? code(c.model.sha256) : undefined],
      ['Base digest', r.baseDigest ? code(r.baseDigest) : undefined],
      ['Layout', code(r.layoutPath)],
    ]),
    '',
  ].join('\n');
}

/** PushToACR's run summary: each blob skipped / mounted / uploaded with its bytes, the tags, the pinned reference. */
import { formatBytes } from '../format';
import type { PushResult } from '../oci/registry/push';
import { Annotation } from '../oci/types';
import { chainLine } from './chain';
import { code, facts, rate, seconds, shortDigest, table, text } from './markdown';

export const PUSH_SUMMARY_TITLE = 'Push (PushToACR)';

type Blob = PushResult['blobs'][number];

function outcome(b: Blob): string {
  if (b.action === 'uploaded') {
    const again = b.restarts ? `, ${b.restarts} restart${b.restarts === 1 ? '' : 's'}` : '';
    return `**uploaded** in ${seconds(b.seconds)} (${rate(b.size, b.seconds)}${again})`;
  }
  if (b.action === 'mounted') return `mounted from ${code(b.mountedFrom ?? '?')}`;
  return 'skipped: already in the repository';
}

export function pushSummary(r: PushResult & { annotations?: Record<string, string> }): string {
  const rows = r.blobs.map((b) => [
    code(shortDigest(b.digest)),
    /config/i.test(b.mediaType) ? 'config' : 'layer',
    formatBytes(b.size),
    outcome(b),
    formatBytes(b.action === 'uploaded' ? b.bytesSent : 0),
  ]);
  const count = (a: Blob['action']) => r.blobs.filter((b) => b.action === a).length;
  const a = r.annotations ?? {};
  const model = { uri: a[Annotation.ModelUri], version: a[Annotation.ModelVersion], sha256: a[Annotation.ModelSha256] };
  return [
    `### Pushed ${code(r.reference)}`,
    '',
    chainLine({ model, image: r.digest, pushed: r.reference }, 'push'),
    '',
    table(['Blob', 'Kind', 'Size', 'Result', 'Bytes sent'], rows, [2, 4]),
    '',
    `${count('uploaded')} uploaded (${formatBytes(r.bytesUploaded)} with the manifest), ${count('mounted')} mounted, ${count('skipped')} skipped (${formatBytes(r.bytesSkipped)} not sent).`,
    '',
    facts([
      ['Pinned reference', `${code(r.reference)}: what DeployToAKS's ${code('image')} takes`],
      ['Tags', r.tags.length ? r.tags.map(code).join(', ') : text('none (pushed by digest only)')],
      ['Model', model.uri ? code(model.uri) : undefined],
      ['Model version', model.version ? code(model.version) : undefined],
    ]),
    '',
  ].join('\n');
}

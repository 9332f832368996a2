/** FetchModel's run summary: which model, how it was verified, how big, how fast, whether the cache hit. */
import type { FetchModelResult } from '../fetch/fetch-model';
import { formatBytes } from '../format';
import { chainLine, modelName } from './chain';
import { code, facts, rate, seconds, text } from './markdown';

export const FETCH_SUMMARY_TITLE = 'Model (FetchModel)';

export function fetchSummary(r: FetchModelResult): string {
  const files = r.files.length === 1 ? '1 file' : `${r.files.length} files`;
  const transfer = r.cached
    ? 'nothing downloaded: the destination already held this version'
    : `${seconds(r.seconds)}${r.seconds > 0 ? `, ${rate(r.modelSizeBytes, r.seconds)}` : ''}`;
  const name = modelName({ uri: r.modelUri, version: r.modelVersion });
  return [
    `### Model ${name ? `${text(name)} ` : ''}${code(r.modelVersion)}${r.verified ? '' : ' (not verified)'}`,
    '',
    chainLine({ model: { uri: r.modelUri, version: r.modelVersion, sha256: r.modelSha256 } }, 'model'),
    '',
    facts([
      ['Model', code(r.modelUri)],
      ['Version', code(r.modelVersion)],
      ['sha256', `${code(r.modelSha256)}${r.kind === 'folder' ? ' (of the folder\'s sorted "path sha256" manifest)' : ''}`],
      ['Verified', r.verified ? text(r.verification) : `**no**: ${text(r.verification)}`],
      ['Size', `${formatBytes(r.modelSizeBytes)} in ${files}`],
      ['Download', transfer],
      ['Cache', r.cached ? '**hit**' : 'miss'],
      ['Local path', code(r.modelPath)],
      ['Why this version', r.reason ? text(r.reason) : undefined],
    ]),
    '',
  ].join('\n');
}

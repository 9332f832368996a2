/**
 * The run summary (markdown, for the pipeline run's page): verdict, image,
 * engine, readiness, the model the container reported, the checks, and on
 * failure the failed checks' request/answer/expectation and the container's
 * last log lines. Everything passes through the caller's mask.
 */
import { outcomesMarkdown, renderFailure } from '../check';
import type { TestImageResult } from './test-image';

const code = (s: string): string => `\`${s.replace(/`/g, "'")}\``;

/** A fenced block that its content cannot close. */
function fenced(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}text\n${text}\n${fence}`;
}

export function summaryMarkdown(r: TestImageResult, mask: (s: string) => string = (s) => s): string {
  const out: string[] = [];
  out.push(`**${r.failure ? '❌ The image failed its test' : '✅ The image passed its test'}**`, '');
  if (r.failure) out.push(`> ${mask(r.failure.message)}`, '');
  out.push('| | |', '| --- | --- |');
  out.push(`| Image | ${code(r.imageDigest)} |`);
  out.push(`| Engine | ${r.engine} |`);
  if (r.readySeconds !== undefined) out.push(`| Ready after | ${r.readySeconds} s |`);
  if (r.reported) {
    const sha = r.reported.sha256 ?? '(not reported)';
    const verdict = r.expectedSha256
      ? r.reported.sha256 === r.expectedSha256
        ? ' ✅ matches modelSha256'
        : ` ❌ expected ${code(r.expectedSha256)}`
      : ' (not verified)';
    out.push(`| Model served | version ${code(mask(r.reported.version ?? '(not reported)'))}, sha256 ${code(mask(sha))}${verdict} |`);
  }
  out.push('');
  if (r.outcomes.length) out.push(outcomesMarkdown(r.outcomes, mask), '');
  const failed = r.outcomes.filter((o) => !o.passed);
  for (const f of failed)
    out.push(`<details><summary>${f.check.name}: request, answer, expectation</summary>`, '', fenced(renderFailure(f, { mask })), '', '</details>', '');
  if (r.failure && r.containerLog?.length)
    out.push(`<details><summary>Container log (last ${r.containerLog.length} lines)</summary>`, '', fenced(r.containerLog.join('\n')), '', '</details>', '');
  return mask(out.join('\n'));
}

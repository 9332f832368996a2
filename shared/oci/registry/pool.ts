/**
 * Bounded concurrency over a list: the one worker pool of the library (blob
 * uploads, HEADs of a model's files). Hand-written rather than p-limit: p-limit
 * is ESM-only from v4 and limits single calls, while this also stops handing
 * out work at the first failure, which is the behaviour every caller wants;
 * it is twenty lines.
 */

/** Runs `fn` over `items` with at most `limit` in flight; the first failure stops new work and is thrown. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let firstError: unknown;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await fn(items[i] as T, i);
      } catch (err) {
        if (!failed) {
          failed = true;
          firstError = err;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw firstError;
  return results;
}

/**
 * The parts of a secret that can appear in a log on their own: a storage
 * connection string's `AccountKey` / `SharedAccessKey` / `SharedAccessSignature`
 * values, a SAS's `sig` (as written and decoded), a URL's password. Masking
 * only the whole string would let a piece through when an SDK or a message
 * quotes it alone.
 */

/** Pieces shorter than this are not worth masking (they would blank ordinary words). */
const MIN_PIECE = 8;

const KEY_NAMES = ['AccountKey', 'SharedAccessKey', 'SharedAccessSignature'];

function addSasPieces(query: string, out: Set<string>): void {
  const q = query.replace(/^\?/, '');
  out.add(q);
  for (const part of q.split('&')) {
    const eq = part.indexOf('=');
    if (eq < 0 || part.slice(0, eq).toLowerCase() !== 'sig') continue;
    const raw = part.slice(eq + 1);
    const decoded = decodeURIComponentSafe(raw);
    out.add(raw);
    out.add(decoded);
    out.add(encodeURIComponent(decoded));
  }
}

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Secret pieces of `value` other than the value itself (empty for an ordinary secret). */
export function secretPieces(value: string): string[] {
  const out = new Set<string>();
  const text = value.trim();
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    try {
      const url = new URL(text);
      if (url.password) {
        out.add(url.password);
        out.add(decodeURIComponentSafe(url.password));
      }
      if (/[?&]sig=/i.test(url.search)) addSasPieces(url.search, out);
    } catch {
      /* not a URL */
    }
  } else {
    for (const name of KEY_NAMES) {
      const m = new RegExp(`(?:^|;)\\s*${name}\\s*=\\s*([^;]+)`, 'i').exec(text);
      const v = m?.[1]?.trim();
      if (!v) continue;
      out.add(v);
      if (name === 'SharedAccessSignature') addSasPieces(v, out);
    }
  }
  out.delete(value);
  return [...out].filter((p) => p.length >= MIN_PIECE);
}

/**
 * Which values of a kubeconfig document are credentials (to be masked in the
 * log). Kept apart from kubeconfig.ts so reading it needs neither a cluster
 * client nor Azure.
 */
import { load as loadYaml } from 'js-yaml';
import { isRecord } from './types';

/** Keys whose values are credentials: users' tokens, passwords, client keys and certificates, auth-provider tokens and secrets. */
const CREDENTIAL_KEYS = ['token', 'client-key-data', 'client-certificate-data', 'password', 'access-token', 'refresh-token', 'id-token', 'client-secret'];

/**
 * The credentials in a kubeconfig document (YAML or JSON), for the caller to
 * mask: every value under a credential key at any depth, plus the body lines
 * of the decoded client key (in case something prints the PEM). A document
 * that does not parse is scanned for `key: value` text instead.
 */
export function kubeconfigCredentials(text: string): string[] {
  const out = new Set<string>();
  const add = (key: string, value: string): void => {
    if (!value) return;
    out.add(value);
    if (key === 'client-key-data') {
      for (const line of Buffer.from(value, 'base64').toString('utf8').split(/\r?\n/)) if (line.length > 20 && !line.startsWith('-----')) out.add(line);
    }
  };
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) node.forEach(walk);
    else if (isRecord(node)) {
      for (const [k, v] of Object.entries(node)) {
        if (typeof v === 'string' && CREDENTIAL_KEYS.includes(k)) add(k, v);
        else walk(v);
      }
    }
  };
  let doc: unknown;
  try {
    doc = loadYaml(text);
  } catch {
    const pattern = new RegExp(`["']?(${CREDENTIAL_KEYS.join('|')})["']?\\s*:\\s*["']?([^"'\\s,}]+)`, 'g');
    for (const m of text.matchAll(pattern)) add(m[1] as string, m[2] as string);
    return [...out];
  }
  walk(doc);
  return [...out];
}

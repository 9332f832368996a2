// Links from the shipped text (task.json helpUrl and helpMarkDown, overview.md)
// to the project's documentation. The sources hold repository-relative paths
// (`docs/tasks/FetchModel.md#which-model`), never a guessed URL: the
// repository's address is only known when packaging (`--repository URL`).
// scripts/package.mjs turns each path into an absolute URL of that repository,
// or leaves the links out when no repository is given; the tests use the same
// functions to check that every path names a file and heading that exist.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Markdown links and images: [text](target) / ![alt](target). */
const LINK = /(!?)\[([^\]]*)\]\(([^)\s]+)\)/g;

/** The links of a markdown text, images included. */
export function linksIn(markdown) {
  return [...markdown.matchAll(LINK)].map((m) => ({ image: m[1] === '!', text: m[2], target: m[3] }));
}

/** True for a path inside the repository (no scheme, no leading / or #). */
export function isRepositoryPath(target) {
  return !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith('/') && !target.startsWith('#');
}

/**
 * The repository URL as given to `npm run package`, checked and without a
 * trailing slash or `.git`: an https URL with no query or fragment.
 */
export function normalizeRepository(input) {
  let url;
  try {
    url = new URL(input);
  } catch {
    throw new Error(`--repository "${input}" is not a URL: give the repository's https address, e.g. https://github.com/<owner>/<name>.`);
  }
  if (url.protocol !== 'https:' || url.search || url.hash || url.username || url.password || url.pathname.split('/').filter(Boolean).length < 2) {
    throw new Error(`--repository "${input}" is not a repository's https address (https://<host>/<owner>/<name>, no query, no credentials).`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '').replace(/\.git$/, '')}`;
}

const isAzureRepos = (repo) => /\/_git\/[^/]+$/.test(repo);

/** Absolute URL of a file (and heading) of the repository, on `branch`. */
export function repositoryFileUrl(repo, path, branch = 'main') {
  const [file, anchor] = path.split('#', 2);
  const encoded = file.split('/').map(encodeURIComponent).join('/');
  if (isAzureRepos(repo)) {
    return `${repo}?path=/${encoded}&version=GB${encodeURIComponent(branch)}${anchor ? `&anchor=${encodeURIComponent(anchor)}` : ''}`;
  }
  return `${repo}/blob/${encodeURIComponent(branch)}/${encoded}${anchor ? `#${anchor}` : ''}`;
}

/** Where users report problems: the issue tracker of a GitHub repository, else the repository. */
export function repositorySupportUrl(repo) {
  return new URL(repo).hostname === 'github.com' ? `${repo}/issues` : repo;
}

/**
 * Rewrites the links of `markdown` whose target `map` changes: a string is the
 * new target; null removes the link (a "Learn more" link entirely, any other
 * keeps its text); undefined keeps it as it is.
 */
export function rewriteLinks(markdown, map) {
  return markdown.replace(/(\s*)(!?)\[([^\]]*)\]\(([^)\s]+)\)/g, (whole, space, bang, text, target) => {
    const to = map(target, text);
    if (to === undefined) return whole;
    if (to === null) return /^learn more/i.test(text) ? '' : `${space}${text}`;
    return `${space}${bang}[${text}](${to})`;
  });
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'. */
export function githubSlug(heading) {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a markdown file's headings (repeats get -1, -2... as on GitHub). */
export function headingAnchors(markdown) {
  const seen = new Map();
  const anchors = new Set();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = !fenced && line.match(/^#{1,6}\s+(.*?)\s*#*\s*$/);
    if (!m) continue;
    const text = m[1].replace(LINK, '$2');
    const slug = githubSlug(text);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n ? `${slug}-${n}` : slug);
  }
  return anchors;
}

/** Why a repository path would be a dead link (no such file or heading), or undefined. */
export function deadRepositoryLink(root, path) {
  const [file, anchor] = path.split('#', 2);
  const full = join(root, file);
  if (!file || !existsSync(full)) return `${file} does not exist in the repository`;
  if (anchor === undefined) return undefined;
  if (statSync(full).isDirectory() || !file.endsWith('.md')) return `${file} is not a markdown file, so it has no heading #${anchor}`;
  if (!headingAnchors(readFileSync(full, 'utf8')).has(anchor)) return `${file} has no heading with the anchor #${anchor}`;
  return undefined;
}

/** How many sentences a help text has (inline code and e.g./i.e. do not end one). */
export function sentenceCount(text) {
  const plain = text
    .replace(LINK, '$2')
    .replace(/`[^`]*`/g, 'x')
    .replace(/\b(e\.g|i\.e|etc|vs)\./gi, '$1');
  return plain.split(/[.!?](?:\s+|$)/).filter((s) => s.trim() !== '').length;
}

/** The task.json texts that may carry links: the task's help and each input's. */
export function taskHelpTexts(task) {
  return [
    { where: 'helpMarkDown', text: task.helpMarkDown ?? '' },
    ...(task.inputs ?? []).map((i) => ({ where: `input ${i.name}`, input: i, text: i.helpMarkDown ?? '' })),
  ];
}

/**
 * task.json with its links made absolute from `repo` (or left out when repo
 * is undefined): helpUrl and the repository paths in every helpMarkDown.
 */
export function fillTaskLinks(task, repo, branch) {
  const to = (target) => (!isRepositoryPath(target) ? undefined : repo ? repositoryFileUrl(repo, target, branch) : null);
  const out = { ...task };
  if (out.helpUrl !== undefined) {
    if (!isRepositoryPath(out.helpUrl))
      throw new Error(`helpUrl "${out.helpUrl}" must be a repository path (e.g. docs/tasks/${task.name}.md), filled in when packaging`);
    if (repo) out.helpUrl = repositoryFileUrl(repo, out.helpUrl, branch);
    else delete out.helpUrl;
  }
  if (out.helpMarkDown) out.helpMarkDown = rewriteLinks(out.helpMarkDown, to);
  out.inputs = (task.inputs ?? []).map((i) => (i.helpMarkDown ? { ...i, helpMarkDown: rewriteLinks(i.helpMarkDown, to) } : i));
  return out;
}

/** Every repository path a task.json links to: helpUrl and the help texts' links. */
export function taskRepositoryLinks(task) {
  const links = [];
  if (task.helpUrl !== undefined) links.push({ where: 'helpUrl', target: task.helpUrl });
  for (const { where, text } of taskHelpTexts(task)) {
    for (const l of linksIn(text)) if (isRepositoryPath(l.target)) links.push({ where, target: l.target });
  }
  return links;
}

/**
 * What a link of overview.md points at inside the Marketplace: 'external'
 * (an absolute URL), 'shipped' (a file the package carries where the page can
 * reach it), 'repository' (a repository file: made absolute from --repository)
 * or { dead: reason }.
 */
export function classifyOverviewLink(root, target, isShipped) {
  if (/^https:\/\//i.test(target)) return 'external';
  if (!isRepositoryPath(target)) return { dead: `${target} is neither an https URL nor a path` };
  if (isShipped(target.split('#')[0])) return 'shipped';
  const dead = deadRepositoryLink(root, target);
  return dead ? { dead } : 'repository';
}

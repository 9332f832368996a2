export interface MarkdownLink {
  image: boolean;
  text: string;
  target: string;
}
export interface HelpInput {
  name: string;
  helpMarkDown?: string;
}
export interface HelpTask {
  name: string;
  helpUrl?: string;
  helpMarkDown?: string;
  inputs?: HelpInput[];
}
export function linksIn(markdown: string): MarkdownLink[];
export function isRepositoryPath(target: string): boolean;
export function normalizeRepository(input: string): string;
export function repositoryFileUrl(repo: string, path: string, branch?: string): string;
export function repositorySupportUrl(repo: string): string;
export function rewriteLinks(markdown: string, map: (target: string, text: string) => string | null | undefined): string;
export function githubSlug(heading: string): string;
export function headingAnchors(markdown: string): Set<string>;
export function deadRepositoryLink(root: string, path: string): string | undefined;
export function sentenceCount(text: string): number;
export function taskHelpTexts<T extends HelpTask>(
  task: T,
): Array<{ where: string; input?: T['inputs'] extends Array<infer I> | undefined ? I : never; text: string }>;
export function fillTaskLinks<T extends HelpTask>(task: T, repo: string | undefined, branch?: string): T;
export function taskRepositoryLinks(task: HelpTask): Array<{ where: string; target: string }>;
export function classifyOverviewLink(
  root: string,
  target: string,
  isShipped: (path: string) => boolean,
): 'external' | 'shipped' | 'repository' | { dead: string };

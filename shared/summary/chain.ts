/**
 * The line each summary starts with: the chain model -> image -> push ->
 * deployment, with what this step knows of it and the step itself in bold, so
 * the four summaries of a run read as one story.
 */
import { code, shortDigest, text } from './markdown';

export interface ModelIdentity {
  uri?: string;
  version?: string;
  sha256?: string;
}

export type ChainStep = 'model' | 'image' | 'push' | 'deployment';

export interface ChainLinks {
  model?: ModelIdentity;
  /** Image manifest digest. */
  image?: string;
  /** The pushed reference, registry/repository@sha256:... */
  pushed?: string;
  /** Where it runs, e.g. Deployment/scorer in scoring. */
  deployed?: string;
}

/** The model's short name: the last path segment of its URI that is not the version. */
export function modelName(model: ModelIdentity | undefined): string | undefined {
  if (!model?.uri) return undefined;
  const path = model.uri.replace(/[?#].*$/, '').replace(/\/+$/, '');
  const segments = path.split('/').filter((s) => s && !/^[a-z]+:$/i.test(s));
  const named = segments.filter((s) => s !== model.version);
  return named[named.length - 1] ?? segments[segments.length - 1];
}

function modelLink(model: ModelIdentity | undefined): string | undefined {
  if (!model?.uri && !model?.version && !model?.sha256) return undefined;
  const name = modelName(model);
  const parts = [name ? text(name) : 'model', model.version ? code(model.version) : '', model.sha256 ? `(${code(shortDigest(model.sha256))})` : ''];
  return parts.filter(Boolean).join(' ');
}

export function chainLine(links: ChainLinks, current: ChainStep): string {
  const steps: [ChainStep, string, string | undefined][] = [
    ['model', 'model', modelLink(links.model)],
    ['image', 'image', links.image ? code(shortDigest(links.image)) : undefined],
    ['push', 'registry', links.pushed ? code(links.pushed.replace(/@sha256:([0-9a-f]{12})[0-9a-f]+$/i, '@sha256:$1…')) : undefined],
    ['deployment', 'deployment', links.deployed ? text(links.deployed) : undefined],
  ];
  return steps
    .map(([step, label, value]) => {
      const shown = value ? `${label} ${value}` : label;
      return step === current ? `**${shown}**` : shown;
    })
    .join(' → ');
}

/**
 * Where an image came from and when: the model, source commit and pipeline
 * run, written as OCI annotations and as config labels (Docker schema 2 has
 * no manifest annotations), with a creation time taken from
 * the sources' commit or SOURCE_DATE_EPOCH so that builds are reproducible.
 */
import { execFileSync } from 'node:child_process';
import { defaultMtime } from './tar';
import { Annotation } from './types';

export interface Provenance {
  modelUri?: string;
  modelVersion?: string;
  modelSha256?: string;
  /** Repository URL (org.opencontainers.image.source). */
  source?: string;
  /** Commit (org.opencontainers.image.revision). */
  revision?: string;
  /** Pipeline run URL (label io.modeltoaks.pipeline.run). */
  pipelineRunUrl?: string;
}

/** The base image an image was built on, as its provenance records it. */
interface BaseProvenance {
  name: string;
  digest: string;
}

/** RFC 3339 time of SOURCE_DATE_EPOCH (or the epoch), without milliseconds. */
export function createdFromEpoch(env: NodeJS.ProcessEnv = process.env): string {
  return new Date(defaultMtime(env) * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

export function provenanceMetadata(
  p: Provenance | undefined,
  created: string,
  base?: BaseProvenance,
): { labels: Record<string, string>; annotations: Record<string, string> } {
  const labels: Record<string, string> = {};
  const annotations: Record<string, string> = { [Annotation.Created]: created };
  const both = (key: string, value: string | undefined) => {
    if (!value) return;
    labels[key] = value;
    annotations[key] = value;
  };
  both(Annotation.ModelUri, p?.modelUri);
  both(Annotation.ModelVersion, p?.modelVersion);
  both(Annotation.ModelSha256, p?.modelSha256?.toLowerCase());
  both(Annotation.Source, p?.source);
  both(Annotation.Revision, p?.revision);
  labels[Annotation.Created] = created;
  if (p?.pipelineRunUrl) labels[Annotation.PipelineRun] = p.pipelineRunUrl;
  if (base) {
    both(Annotation.BaseName, base.name);
    both(Annotation.BaseDigest, base.digest);
  }
  return { labels, annotations };
}

/** Commit time of the checked-out sources (so rebuilds of one commit stay identical), else SOURCE_DATE_EPOCH, else the epoch. */
export function createdFromSources(sourcesDirectory: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (sourcesDirectory) {
    try {
      const iso = execFileSync('git', ['-C', sourcesDirectory, 'log', '-1', '--format=%cI'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        timeout: 15000,
      }).trim();
      const t = Date.parse(iso);
      if (iso && Number.isFinite(t)) return new Date(t).toISOString().replace(/\.000Z$/, 'Z');
    } catch {
      // not a git checkout, or git missing: fall through
    }
  }
  return createdFromEpoch(env);
}

/**
 * User manifests: files and globs read into plain objects (multi-document
 * YAML or JSON, `kind: List` flattened), errors naming file and line; and the
 * image substitution that pins the pushed image by digest wherever a
 * container's repository (registry with port included) matches it.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import * as yaml from 'js-yaml';
import { minimatch } from 'minimatch';
import { errorMessage, InputError } from '../errors';
import { formatReference, parseReference, sameRepository, type ImageReference } from '../oci/reference';
import { isRecord, type KubeObject } from './types';

interface SourcedObject {
  object: KubeObject;
  /** file:line the document starts at, for messages. */
  source: string;
}

const MANIFEST_EXT = /\.(ya?ml|json)$/i;

function walk(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules' || entry.name === '.git') continue;
    const p = join(dir, entry.name);
    if (entry.isDirectory()) walk(p, out);
    else if (entry.isFile()) out.push(p);
  }
}

/** Files named by paths, folders (their *.yaml/*.yml/*.json) and globs, relative to `cwd`; sorted, de-duplicated. */
export function expandManifestPatterns(patterns: string[], cwd: string, input = 'manifests'): string[] {
  const files: string[] = [];
  for (const raw of patterns) {
    const pattern = raw.trim();
    if (!pattern) continue;
    const abs = isAbsolute(pattern) ? pattern : resolve(cwd, pattern);
    if (!/[*?[\]{}]/.test(pattern)) {
      let st;
      try {
        st = statSync(abs);
      } catch {
        throw new InputError(input, `Manifest '${pattern}' given in '${input}' does not exist (looked in ${abs}): check the path, relative to ${cwd}.`);
      }
      if (st.isDirectory()) {
        const found: string[] = [];
        walk(abs, found);
        const ms = found.filter((f) => MANIFEST_EXT.test(f)).sort();
        if (ms.length === 0) throw new InputError(input, `Folder '${pattern}' given in '${input}' holds no .yaml, .yml or .json files.`);
        files.push(...ms);
      } else files.push(abs);
      continue;
    }
    // Walk from the longest literal prefix of the glob.
    const parts = abs.split(sep);
    const firstGlob = parts.findIndex((p) => /[*?[\]{}]/.test(p));
    const base = parts.slice(0, firstGlob).join(sep) || sep;
    const found: string[] = [];
    try {
      walk(base, found);
    } catch {
      // base folder missing: no match
    }
    const rel = relative(base, abs).split(sep).join('/');
    const matches = found.filter((f) => minimatch(relative(base, f).split(sep).join('/'), rel, { dot: false })).sort();
    if (matches.length === 0) throw new InputError(input, `Pattern '${pattern}' given in '${input}' matches no file under ${base}: check the pattern.`);
    files.push(...matches);
  }
  return [...new Set(files)];
}

/** Line (1-based) each YAML document starts on. */
function documentStartLines(text: string): number[] {
  const lines = text.split(/\r?\n/);
  const starts: number[] = [];
  let inDoc = false;
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i] as string;
    if (/^---(\s|$)/.test(l)) {
      starts.push(i + 2);
      inDoc = true;
      continue;
    }
    if (!inDoc && l.trim() !== '' && !l.startsWith('#') && !l.startsWith('%')) {
      starts.push(i + 1);
      inDoc = true;
    }
  }
  return starts;
}

/** Parse one file's text; `file` is used in messages. */
export function parseManifests(text: string, file: string, input = 'manifests'): SourcedObject[] {
  let docs: unknown[];
  try {
    docs = yaml.loadAll(text, { filename: file });
  } catch (err) {
    const e = err as { mark?: { line?: number; column?: number }; reason?: string; message?: string };
    const line = e.mark?.line !== undefined ? e.mark.line + 1 : undefined;
    const col = e.mark?.column !== undefined ? e.mark.column + 1 : undefined;
    throw new InputError(
      input,
      `Invalid YAML in ${file}${line !== undefined ? ` at line ${line}, column ${col}` : ''}: ${e.reason ?? e.message ?? String(err)}; fix the manifest.`,
      err,
    );
  }
  const starts = documentStartLines(text);
  const out: SourcedObject[] = [];
  docs.forEach((doc, i) => {
    const source = `${file}:${starts[i] ?? 1}`;
    if (doc === null || doc === undefined) return;
    if (!isRecord(doc) || typeof doc.apiVersion !== 'string' || typeof doc.kind !== 'string') {
      throw new InputError(input, `The document at ${source} is not a Kubernetes object (it needs apiVersion and kind): fix or remove it.`);
    }
    if (doc.kind === 'List' || doc.kind.endsWith('List')) {
      const items = Array.isArray(doc.items) ? doc.items : [];
      items.forEach((item, j) => {
        if (!isRecord(item) || typeof item.apiVersion !== 'string' || typeof item.kind !== 'string') {
          throw new InputError(input, `Item ${j} of the list at ${source} is not a Kubernetes object (it needs apiVersion and kind): fix it.`);
        }
        out.push({ object: item as KubeObject, source });
      });
      return;
    }
    const meta = doc.metadata;
    if (!isRecord(meta) || typeof meta.name !== 'string' || !meta.name) {
      throw new InputError(input, `The ${doc.kind} at ${source} has no metadata.name: give it a name (generateName cannot be applied).`);
    }
    out.push({ object: doc as KubeObject, source });
  });
  return out;
}

export function loadManifestFiles(files: string[], cwd: string, input = 'manifests'): SourcedObject[] {
  const out: SourcedObject[] = [];
  for (const f of files) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch (err) {
      throw new InputError(input, `Cannot read manifest ${f}: ${errorMessage(err)}.`, err);
    }
    out.push(...parseManifests(text, relative(cwd, f) || f, input));
  }
  return out;
}

// ---------------------------------------------------------------- pod specs and images

/** Where the pod spec lives in each kind that has one. */
const POD_SPEC_PATHS: Record<string, string[]> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  PodTemplate: ['template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

/** Pod template (metadata + spec holder) paths, for labels on pods. */
export const POD_TEMPLATE_PATHS: Record<string, string[]> = {
  Deployment: ['spec', 'template'],
  StatefulSet: ['spec', 'template'],
  DaemonSet: ['spec', 'template'],
  ReplicaSet: ['spec', 'template'],
  ReplicationController: ['spec', 'template'],
  Job: ['spec', 'template'],
  PodTemplate: ['template'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template'],
};

export function getPath(obj: unknown, path: string[]): Record<string, unknown> | undefined {
  let cur: unknown = obj;
  for (const p of path) {
    if (!isRecord(cur)) return undefined;
    cur = cur[p];
  }
  return isRecord(cur) ? cur : undefined;
}

function podSpecOf(obj: KubeObject): Record<string, unknown> | undefined {
  const path = POD_SPEC_PATHS[obj.kind ?? ''];
  return path ? getPath(obj, path) : undefined;
}

const CONTAINER_LISTS = ['initContainers', 'containers', 'ephemeralContainers'] as const;

interface ContainerRef {
  list: (typeof CONTAINER_LISTS)[number];
  container: Record<string, unknown>;
}

function containersOf(podSpec: Record<string, unknown>): ContainerRef[] {
  const out: ContainerRef[] = [];
  for (const list of CONTAINER_LISTS) {
    const arr = podSpec[list];
    if (Array.isArray(arr)) for (const c of arr) if (isRecord(c)) out.push({ list, container: c });
  }
  return out;
}

interface Substitution {
  object: string;
  container: string;
  from: string;
  to: string;
}

/** The reference written into manifests: registry/repository@digest. */
export function pinnedImage(target: ImageReference): string {
  if (!target.digest) throw new Error('pinnedImage needs a digest');
  return formatReference({ registry: target.registry, repository: target.repository, digest: target.digest });
}

/**
 * Replace, in place, the image of every container (init, regular, ephemeral; in
 * Pods, workloads, Jobs and CronJob job templates) whose repository is the
 * target's by the target pinned by digest. Other images are left untouched.
 */
export function substituteImages(objects: KubeObject[], target: ImageReference): Substitution[] {
  const to = pinnedImage(target);
  const subs: Substitution[] = [];
  for (const obj of objects) {
    const spec = podSpecOf(obj);
    if (!spec) continue;
    for (const { container } of containersOf(spec)) {
      const image = container.image;
      if (typeof image !== 'string') continue;
      let ref: ImageReference;
      try {
        ref = parseReference(image);
      } catch {
        continue; // not a valid reference (e.g. a template placeholder): never ours
      }
      if (!sameRepository(ref, target)) continue;
      container.image = to;
      subs.push({ object: `${obj.kind}/${obj.metadata?.name ?? ''}`, container: String(container.name ?? ''), from: image, to });
    }
  }
  return subs;
}

/** Add image pull secrets (by name) to every pod spec that lacks them. */
export function addImagePullSecrets(objects: KubeObject[], names: string[]): void {
  if (names.length === 0) return;
  for (const obj of objects) {
    const spec = podSpecOf(obj);
    if (!spec) continue;
    const existing = Array.isArray(spec.imagePullSecrets) ? (spec.imagePullSecrets as unknown[]).filter(isRecord) : [];
    const have = new Set(existing.map((s) => s.name));
    spec.imagePullSecrets = [...existing, ...names.filter((n) => !have.has(n)).map((name) => ({ name }))];
  }
}

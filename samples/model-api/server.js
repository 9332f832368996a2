#!/usr/bin/env node
/**
 * model-api: a small model-serving web app (node:http only, no npm
 * dependencies) in the spirit of Microsoft's "CI/CD for AI apps" tutorial.
 *
 *   GET  /         health: {"status":"ok"}
 *   GET  /version  the model it loaded: version, sha256, uri, path
 *   POST /score    {"data": [[f1, f2, ...], ...]} or {"data": [{"name": v, ...}]}
 *                  -> {"predictions": [...], "modelVersion": ..., "modelSha256": ...}
 *
 * Environment:
 *   MODEL_PATH     file or folder holding the model (default /models, where
 *                  BundleModelImage puts it); see resolveModel() for the rules
 *   MODEL_VERSION  version to report (default: the "version" field of the model)
 *   MODEL_URI      where the model came from (reported as is)
 *   HOST, PORT     listen address (default 0.0.0.0:8080)
 *
 * The sha256 it reports is computed at start-up, streaming, exactly as
 * FetchModel computes its modelSha256 output: for a single-file model the
 * sha256 of the file; for a folder model the sha256 of its manifest (one line
 * "<relative path> <sha256>\n" per file, sorted bytewise by path). So the value
 * served by a running container can be compared with the one the pipeline
 * fetched.
 */
'use strict';

const { createHash } = require('node:crypto');
const { createReadStream, promises: fsp } = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const MAX_BODY = 1024 * 1024;
const MAX_ROWS = 10000;

/** sha256 of a file, streamed (models can be many GB). */
function sha256File(file) {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => h.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** Every regular file under dir, as relative paths with '/' separators. */
async function listFiles(dir, rel = '') {
  const out = [];
  const entries = await fsp.readdir(path.join(dir, rel), { withFileTypes: true });
  for (const e of entries) {
    const relPath = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listFiles(dir, relPath)));
    else if (e.isFile()) out.push(relPath);
  }
  return out;
}

/** FetchModel's folder digest: sha256 of "<path> <sha256>\n" lines sorted bytewise by path. */
async function folderDigest(dir) {
  const files = await listFiles(dir);
  const lines = [];
  for (const f of files) lines.push({ key: Buffer.from(f, 'utf8'), line: `${f} ${await sha256File(path.join(dir, f))}\n` });
  lines.sort((a, b) => Buffer.compare(a.key, b.key));
  return {
    digest: createHash('sha256')
      .update(lines.map((l) => l.line).join(''), 'utf8')
      .digest('hex'),
    files,
  };
}

/**
 * Where the model is, and how its sha256 is computed (FetchModel's rules):
 * - MODEL_PATH is a file: a single-file model, sha256 of the file.
 * - MODEL_PATH is a folder: a folder model, sha256 of its manifest over every
 *   file under it. BundleModelImage puts a fetched folder's content directly
 *   under its modelDestination (/models), and a fetched file at
 *   /models/<file name>: for a single-file model set MODEL_PATH to that file.
 * The model document is model.json in a folder model (or its only .json file).
 */
async function resolveModel(modelPath) {
  let st;
  try {
    st = await fsp.stat(modelPath);
  } catch {
    throw new Error(`MODEL_PATH '${modelPath}' does not exist: set MODEL_PATH to the model file or folder (BundleModelImage puts it under /models).`);
  }
  if (st.isFile()) return { kind: 'file', root: modelPath, document: modelPath, sha256: await sha256File(modelPath) };
  const { digest, files } = await folderDigest(modelPath);
  const jsons = files.filter((f) => f.endsWith('.json'));
  const document = files.includes('model.json') ? 'model.json' : jsons.length === 1 ? jsons[0] : undefined;
  if (!document) throw new Error(`No model.json in the model folder '${modelPath}': the folder must hold model.json (or exactly one .json file).`);
  return { kind: 'folder', root: modelPath, document: path.join(modelPath, document), sha256: digest };
}

/** Validates a linear model: {"format":"linear-regression/v1","features":[...],"coefficients":[...],"intercept":n}. */
function parseModel(text, where) {
  let m;
  try {
    m = JSON.parse(text);
  } catch (err) {
    throw new Error(`The model '${where}' is not valid JSON (${err.message}): publish a linear-regression/v1 JSON model.`);
  }
  const ok =
    m &&
    m.format === 'linear-regression/v1' &&
    Array.isArray(m.features) &&
    m.features.every((f) => typeof f === 'string') &&
    Array.isArray(m.coefficients) &&
    m.coefficients.length === m.features.length &&
    m.coefficients.every((c) => typeof c === 'number' && Number.isFinite(c)) &&
    typeof m.intercept === 'number';
  if (!ok)
    throw new Error(
      `The model '${where}' is not a linear-regression/v1 model: it needs "features" (names), "coefficients" (one number per feature) and "intercept".`,
    );
  return m;
}

/** Scores rows given as arrays (feature order) or objects (feature names). Throws a message for HTTP 400. */
function score(model, body) {
  if (!body || !Array.isArray(body.data)) throw new Error('The request body must be JSON like {"data": [[...], ...]}.');
  if (body.data.length > MAX_ROWS) throw new Error(`At most ${MAX_ROWS} rows per request.`);
  const n = model.features.length;
  return body.data.map((row, i) => {
    let values;
    if (Array.isArray(row)) values = row;
    else if (row && typeof row === 'object') values = model.features.map((f) => row[f]);
    else throw new Error(`Row ${i} must be an array of ${n} numbers or an object keyed by feature name.`);
    if (values.length !== n || !values.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new Error(`Row ${i} must hold ${n} numbers (${model.features.join(', ')}).`);
    }
    let y = model.intercept;
    for (let k = 0; k < n; k++) y += model.coefficients[k] * values[k];
    return Math.round(y * 1e6) / 1e6;
  });
}

function send(res, status, obj) {
  const body = JSON.stringify(obj);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(Object.assign(new Error(`The request body is larger than ${MAX_BODY} bytes.`), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

async function loadModel(env) {
  const modelPath = env.MODEL_PATH || '/models';
  const resolved = await resolveModel(modelPath);
  const model = parseModel(await fsp.readFile(resolved.document, 'utf8'), resolved.document);
  return {
    model,
    info: {
      modelVersion: env.MODEL_VERSION || (typeof model.version === 'string' ? model.version : 'unknown'),
      modelSha256: resolved.sha256,
      modelUri: env.MODEL_URI || null,
      modelPath: resolved.root,
      modelKind: resolved.kind,
      modelName: typeof model.name === 'string' ? model.name : null,
      features: model.features,
    },
  };
}

function createServer(loaded) {
  return http.createServer(async (req, res) => {
    const url = (req.url || '/').split('?')[0];
    try {
      if (url === '/' || url === '/healthz') {
        if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, { error: 'Use GET.' });
        return send(res, 200, { status: 'ok' });
      }
      if (url === '/version') {
        if (req.method !== 'GET') return send(res, 405, { error: 'Use GET.' });
        return send(res, 200, loaded.info);
      }
      if (url === '/score') {
        if (req.method !== 'POST') return send(res, 405, { error: 'Use POST with a JSON body like {"data": [[...]]}.' });
        let body;
        try {
          body = JSON.parse(await readBody(req));
        } catch (err) {
          return send(res, err.status || 400, { error: err.status ? err.message : 'The request body is not valid JSON.' });
        }
        let predictions;
        try {
          predictions = score(loaded.model, body);
        } catch (err) {
          return send(res, 400, { error: err.message });
        }
        return send(res, 200, { predictions, modelVersion: loaded.info.modelVersion, modelSha256: loaded.info.modelSha256 });
      }
      return send(res, 404, { error: `No route ${url}: use GET /, GET /version or POST /score.` });
    } catch (err) {
      return send(res, 500, { error: String(err && err.message) });
    }
  });
}

async function main() {
  let loaded;
  try {
    loaded = await loadModel(process.env);
  } catch (err) {
    console.error(`model-api: ${err.message}`);
    process.exit(1);
  }
  const host = process.env.HOST || '0.0.0.0';
  const port = Number(process.env.PORT || 8080);
  const server = createServer(loaded);
  server.listen(port, host, () => {
    const a = server.address();
    console.log(
      `model-api listening on http://${host}:${a.port} with model ${loaded.info.modelVersion} (sha256 ${loaded.info.modelSha256}, ${loaded.info.modelKind} ${loaded.info.modelPath})`,
    );
  });
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (require.main === module) main();

module.exports = { resolveModel, parseModel, score, folderDigest, sha256File, loadModel, createServer };

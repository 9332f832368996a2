// Generic task-lib mock runner script: runs a built task bundle with the inputs,
// endpoints and variables described in the TEST_TASK_SPEC environment variable
// (JSON: { task, inputs, endpoints: { id: { scheme, parameters, data, url } }, variables, secretVariables }).
// The real task-lib inside the bundle reads them, as on an agent.
const path = require('node:path');
const { TaskMockRunner } = require('azure-pipelines-task-lib/mock-run');

const spec = JSON.parse(process.env.TEST_TASK_SPEC || '{}');
const root = path.join(__dirname, '..', '..', '..');
const tmr = new TaskMockRunner(path.join(root, 'dist', 'tasks', spec.task, 'index.js'));

for (const [name, value] of Object.entries(spec.inputs || {})) {
  if (value !== undefined && value !== null) tmr.setInput(name, String(value));
}
for (const [name, value] of Object.entries(spec.variables || {})) {
  process.env[name.replace(/\./g, '_').toUpperCase()] = String(value);
}
for (const [id, e] of Object.entries(spec.endpoints || {})) {
  process.env[`ENDPOINT_AUTH_${id}`] = JSON.stringify({ scheme: e.scheme, parameters: e.parameters || {} });
  process.env[`ENDPOINT_AUTH_SCHEME_${id}`] = e.scheme;
  for (const [k, v] of Object.entries(e.parameters || {})) process.env[`ENDPOINT_AUTH_PARAMETER_${id}_${k.toUpperCase()}`] = v;
  for (const [k, v] of Object.entries(e.data || {})) process.env[`ENDPOINT_DATA_${id}_${k.toUpperCase()}`] = v;
  if (e.url) process.env[`ENDPOINT_URL_${id}`] = e.url;
}
tmr.run(true);

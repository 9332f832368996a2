// Runner for MockTestRunner: turns TEST_PUSH_* variables (JSON) into the
// environment an agent gives a task, then runs the built PushToACR bundle.
const path = require('node:path');

const inputs = JSON.parse(process.env.TEST_PUSH_INPUTS || '{}');
for (const [name, value] of Object.entries(inputs)) {
  process.env[`INPUT_${name.toUpperCase()}`] = value;
}
const endpoints = JSON.parse(process.env.TEST_PUSH_ENDPOINTS || '[]');
for (const e of endpoints) {
  process.env[`ENDPOINT_AUTH_${e.id}`] = JSON.stringify({ scheme: e.scheme, parameters: e.parameters || {} });
  process.env[`ENDPOINT_AUTH_SCHEME_${e.id}`] = e.scheme;
  for (const [k, v] of Object.entries(e.parameters || {})) process.env[`ENDPOINT_AUTH_PARAMETER_${e.id}_${k.toUpperCase()}`] = v;
  for (const [k, v] of Object.entries(e.data || {})) process.env[`ENDPOINT_DATA_${e.id}_${k.toUpperCase()}`] = v;
  if (e.url) process.env[`ENDPOINT_URL_${e.id}`] = e.url;
}
if (process.env.TEST_PUSH_SYSTEM_TOKEN) {
  process.env.ENDPOINT_AUTH_SYSTEMVSSCONNECTION = JSON.stringify({ scheme: 'OAuth', parameters: { AccessToken: process.env.TEST_PUSH_SYSTEM_TOKEN } });
}
require(path.join(__dirname, '..', '..', '..', 'dist', 'tasks', 'PushToACR', 'index.js'));

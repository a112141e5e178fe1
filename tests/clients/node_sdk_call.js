// Calls the legacy API once through the UNMODIFIED legacy Node SDK
// (`qcloudapi-sdk`, installed by scripts/test.sh under target/node) and prints
// `{"error": ..., "body": ...}` as one JSON line.
//
// argv[2] is a JSON object:
//   modules         node_modules directory holding qcloudapi-sdk
//   secretId, secretKey, region
//   host, protocol, method, signatureMethod   the SDK's own options
//   data            the request's parameters (Action, functionName, ...)
//   connectPort     optional: the TCP port the connection really goes to,
//                   whatever port the URL names (what a port forward or a
//                   load balancer in front of the bridge does); the SDK, its
//                   HTTP library and the Host header they send are untouched
//   hostHeader      optional: a Host header to send instead of the URL's
'use strict';

const path = require('path');
const http = require('http');
const https = require('https');

const spec = JSON.parse(process.argv[2]);
const QcloudApi = require(path.join(spec.modules, 'qcloudapi-sdk'));

const api = new QcloudApi({
  SecretId: spec.secretId,
  SecretKey: spec.secretKey,
  Region: spec.region,
  serviceType: 'scf',
});

const opts = {
  host: spec.host,
  protocol: spec.protocol,
  method: spec.method,
  signatureMethod: spec.signatureMethod,
};

// Options the SDK hands to its HTTP library as they are.
const extra = { timeout: 30000 };
if (spec.connectPort) {
  const Agent = spec.protocol === 'https' ? https.Agent : http.Agent;
  const agent = new Agent({ keepAlive: false });
  const connect = agent.createConnection.bind(agent);
  agent.createConnection = (options, callback) =>
    connect(Object.assign({}, options, { port: spec.connectPort }), callback);
  extra.agent = agent;
}
if (spec.hostHeader) {
  extra.headers = { host: spec.hostHeader };
}

api.request(
  spec.data,
  opts,
  (error, body) => {
    process.stdout.write(
      JSON.stringify({ error: error ? String(error) : null, body: body === undefined ? null : body }) + '\n'
    );
  },
  extra
);

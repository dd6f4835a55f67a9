// The clusters/aws/authentication config sections (read from YAML the way
// `serve --config` does), path routing, and EKS endpoint discovery with
// DescribeCluster against moto_server.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateClusterCommand, EKSClient } from '@aws-sdk/client-eks';
import { readConfigFile, resolveConfig } from '../src/config/config.js';
import { clusterOfTarget } from '../src/clusters/routing.js';
import { parseRequestTarget } from '../src/model/request-target.js';

const split = (u: string) => {
  const r = parseRequestTarget(u);
  if (!r.ok) throw new Error(r.reason);
  const p = clusterOfTarget(r.target);
  return p && { cluster: p.cluster, rest: p.rest.uri };
};
import { EksDescriber } from '../src/clusters/eks-describe.js';
import { buildClusters } from '../src/clusters/build.js';
import { startMoto, type Moto } from './helpers/moto.js';

const dir = mkdtempSync(join(tmpdir(), 'kubetape-clusters-config-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const file = (yaml: string) => {
  const p = join(dir, `c${++n}.yaml`);
  writeFileSync(p, yaml);
  return p;
};

t.test('a full config reads, with paths relative to the file', async (t) => {
  const p = file(`
authentication:
  tokenFile: tokens.csv
  oidc:
    - issuer: https://idp.example.com
      clientId: kubetape
      usernameClaim: email
      groupsPrefix: "idp:"
      requiredClaims: { hd: example.com }
      ca: idp-ca.pem
aws:
  region: eu-west-1
  sessionDurationSeconds: 1800
clusters:
  - name: prod
    eks: { name: prod-eks, region: eu-west-1 }
    roles:
      - { group: "idp:sre", roleArn: "arn:aws:iam::123456789012:role/sre", priority: 10 }
      - { group: "idp:dev", roleArn: "arn:aws:iam::123456789012:role/dev" }
  - name: staging
    kubeconfig: staging.kubeconfig
    context: admin
`);
  const c = resolveConfig(readConfigFile(p), {});
  t.equal(c.authentication?.tokenFile, join(dir, 'tokens.csv'));
  t.match(c.authentication?.oidc[0], {
    issuer: 'https://idp.example.com',
    audiences: ['kubetape'],
    usernameClaim: 'email',
    groupsClaim: 'groups',
    groupsPrefix: 'idp:',
    requiredClaims: { hd: 'example.com' },
    ca: join(dir, 'idp-ca.pem'),
    clockSkewSeconds: 30,
  });
  t.match(c.aws, { region: 'eu-west-1', sessionDurationSeconds: 1800, timeoutSeconds: 10 });
  t.match(c.clusters, [
    {
      name: 'prod',
      eks: { name: 'prod-eks', region: 'eu-west-1' },
      roles: [
        { group: 'idp:sre', priority: 10 },
        { group: 'idp:dev', priority: 0 },
      ],
    },
    { name: 'staging', kubeconfig: join(dir, 'staging.kubeconfig'), context: 'admin', roles: [] },
  ]);
});

t.test('mistakes are one clear line each', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['authentication:\n  oidc:\n    - issuer: https://x\n', /needs an audience \(or clientId\)/],
    ['authentication:\n  oidc:\n    - { issuer: https://x, audience: a, algorithms: [HS256] }\n', /"HS256" is not allowed; use asymmetric algorithms/],
    ['authentication:\n  oidc:\n    - { issuer: https://x, audience: a, algorithms: [none] }\n', /"none" is not allowed/],
    ['authentication:\n  oidc:\n    - { issuer: "http://idp.example.com", audience: a }\n', /must be an https URL/],
    ['authentication:\n  oidc:\n    - { issuer: https://x, audience: a, usernameclaim: email }\n', /unknown key "authentication.oidc\[0\].usernameclaim"/],
    ['clusters:\n  - { name: prod, eks: { name: p, region: us-east-1 } }\n', /clusters\[0\] is an EKS cluster: give it roles/],
    [
      'clusters:\n  - { name: prod, eks: { name: p, region: us-east-1 }, roles: [{ group: dev, roleArn: "arn:aws:iam::1:role/x" }] }\n',
      /roleArn must be an IAM role ARN/,
    ],
    ['clusters:\n  - { name: Prod, kubeconfig: k }\n', /name must be lower-case/],
    ['clusters:\n  - { name: staging }\n', /give kubeconfig \(and context\)/],
    ['clusters:\n  - { name: a, kubeconfig: k }\n  - { name: a, kubeconfig: k }\n', /"a" is used twice/],
    ['clusters:\n  - { name: a, kubeconfig: k, roles: [{ group: dev, roleArn: "arn:aws:iam::123456789012:role/x" }] }\n', /roles apply to EKS clusters only/],
    ['aws: { region: us-east-1 }\n', /there are none/],
    [
      'clusters:\n  - { name: p, eks: { name: p, region: us-east-1 }, roles: [{ group: d, roleArn: "arn:aws:iam::123456789012:role/x" }] }\naws: { sessionDurationSeconds: 60 }\n',
      /sessionDurationSeconds must be a number from 900 to 43200/,
    ],
  ];
  for (const [yaml, message] of bad) t.throws(() => resolveConfig(readConfigFile(file(yaml)), {}), { message }, message.source);
  t.throws(() => resolveConfig(readConfigFile(file('tokenFile: a.csv\nauthentication:\n  tokenFile: b.csv\n')), {}), { message: /name different files/ });
});

t.test('cluster paths', async (t) => {
  t.same(split('/clusters/prod/api/v1/pods?limit=500'), { cluster: 'prod', rest: '/api/v1/pods?limit=500' });
  t.same(split('/clusters/prod'), { cluster: 'prod', rest: '/' });
  t.same(split('/clusters/prod?timeout=5s'), { cluster: 'prod', rest: '/?timeout=5s' });
  t.equal(split('/api/v1/pods'), undefined);
  t.equal(split('/clusters/'), undefined);
});

t.test('EKS endpoint discovery with DescribeCluster (moto)', async (t) => {
  const moto: Moto = await startMoto();
  t.teardown(() => moto.close());
  for (const [k, v] of Object.entries({ AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_SESSION_TOKEN: 'testing' })) {
    const before = process.env[k];
    process.env[k] = v;
    t.teardown(() => (before === undefined ? delete process.env[k] : (process.env[k] = before)));
  }
  const eks = new EKSClient({ region: 'us-east-1', endpoint: moto.url });
  t.teardown(() => eks.destroy());
  await eks.send(new CreateClusterCommand({ name: 'prod-eks', roleArn: 'arn:aws:iam::123456789012:role/eks', resourcesVpcConfig: { subnetIds: [] } }));

  const d = new EksDescriber({ endpoint: moto.url, timeoutMs: 5000 });
  t.teardown(() => d.close());
  // moto's CA data is random base64, not a PEM: kubetape says so instead of trusting garbage.
  await t.rejects(d.describe('prod-eks', 'us-east-1'), { message: /certificateAuthority.data is not a PEM certificate; set the cluster's ca/ });
  await t.rejects(d.describe('missing', 'us-east-1'), { message: /DescribeCluster missing in us-east-1 failed: ResourceNotFoundException/ });

  // With a CA override, the endpoint comes from EKS.
  writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const built = await buildClusters(
    resolveConfig(
      readConfigFile(
        file(`
aws: { region: us-east-1, stsEndpoint: "${moto.url}", eksEndpoint: "${moto.url}" }
clusters:
  - name: prod
    eks: { name: prod-eks, region: us-east-1 }
    ca: ca.pem
    roles: [{ group: dev, roleArn: "arn:aws:iam::123456789012:role/dev" }]
`),
      ),
      {},
    ),
    () => undefined,
  );
  t.teardown(() => built.close());
  t.match(built.upstreams[0].server.hostname, /\.eks\.amazonaws\.com$/, `the endpoint EKS reports (${built.upstreams[0].server.href})`);
  t.ok(built.upstreams[0].credentials.perCaller);
});

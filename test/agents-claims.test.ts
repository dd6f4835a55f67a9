// The claims side of agents, with tokens minted to order by a test issuer:
// service accounts from a cluster's own issuer, `actingForClaim`, nested
// `act` (the delegation chain) and malformed `act`; and the hostile-input
// side of trace context (headers and the context a credential carries).
import t from 'tap';
import { startTestIssuer, type TestIssuer } from './helpers/test-issuer.js';
import { parseOidcIssuers } from '../src/authenticate/oidc/config.js';
import { OidcAuthenticator } from '../src/authenticate/oidc/oidc-authenticator.js';
import { carriedContext, requestContext, tokenWithoutContext, withContext } from '../src/authenticate/credential-context.js';
import { bearerToken } from '../src/authenticate/identity.js';
import { parseTraceparent, traceContext } from '../src/model/trace-context.js';

let idp: TestIssuer;
t.before(async () => {
  idp = await startTestIssuer();
});
t.teardown(() => idp.close());

const authenticator = (entries: Array<Record<string, unknown>>) =>
  new OidcAuthenticator(
    parseOidcIssuers(
      entries.map((e) => ({ issuer: idp.issuer, audience: 'kubetape', ca: 'ca.pem', ...e })),
      'test',
    ),
    { readCa: () => idp.ca },
  );

t.test("a cluster's own issuer: service accounts, with the API server's groups; nothing else without a prefix", async (t) => {
  const a = authenticator([{ kind: 'machine', usernamePrefix: '' }]);
  const sa = await a.verify(await idp.mint({ sub: 'system:serviceaccount:agents:mcp' }));
  t.match(sa, {
    ok: true,
    identity: { user: 'system:serviceaccount:agents:mcp', kind: 'machine', agent: 'system:serviceaccount:agents:mcp' },
  });
  t.same(sa.ok && sa.identity.groups, ['system:serviceaccounts', 'system:serviceaccounts:agents', 'system:authenticated']);
  const other = await a.verify(await idp.mint({ sub: 'admin' }));
  t.match(other, { ok: false, reason: /accepts only service accounts/ });
  const masters = await a.verify(await idp.mint({ sub: 'system:masters' }));
  t.equal(masters.ok, false);
});

t.test('actingForClaim: recorded, the user stays the machine; a claim that is not a name is refused', async (t) => {
  const a = authenticator([{ kind: 'machine', actingForClaim: 'on_behalf_of' }]);
  t.match(await a.verify(await idp.mint({ sub: 'ci-bot', on_behalf_of: 'bob@example.com' })), {
    ok: true,
    identity: { user: 'machine:ci-bot', kind: 'machine', agent: 'machine:ci-bot', actingFor: 'bob@example.com' },
  });
  t.match(await a.verify(await idp.mint({ sub: 'ci-bot', on_behalf_of: ['bob'] })), { ok: false, reason: /"on_behalf_of" claim/ });
});

t.test('act: the chain as stated, the subject mapped by the entry; malformed act refused', async (t) => {
  const a = authenticator([{ groupsClaim: '' }]);
  const chained = await a.verify(await idp.mint({ sub: 'alice', act: { sub: 'mcp-server', act: { sub: 'gateway' } } }));
  t.match(chained, { ok: true, identity: { user: 'alice', kind: 'machine', agent: 'mcp-server', actingFor: 'alice', delegation: ['mcp-server', 'gateway'] } });
  t.match(await a.verify(await idp.mint({ sub: 'alice', act: 'mcp' })), { ok: false, reason: /"act" claim is not an object/ });
  t.match(await a.verify(await idp.mint({ sub: 'alice', act: { iss: 'x' } })), { ok: false, reason: /has no subject/ });
  let deep: Record<string, unknown> = { sub: 'a0' };
  for (let i = 1; i < 12; i++) deep = { sub: `a${i}`, act: deep };
  t.match(await a.verify(await idp.mint({ sub: 'alice', act: deep })), { ok: false, reason: /nests more than 8 actors/ });
  // Without act, a person; a person's name under a machine prefix is refused.
  t.match(await a.verify(await idp.mint({ sub: 'alice' })), { ok: true, identity: { kind: 'person' } });
  const both = authenticator([{ groupsClaim: '' }, { kind: 'machine' }]);
  t.match(await both.verify(await idp.mint({ sub: 'machine:root' })), { ok: false, reason: /prefix reserved for machines/ });
  t.match(await both.verify(await idp.mint({ sub: 'svc', client_id: 'svc' })), { ok: true, identity: { user: 'machine:svc', kind: 'machine' } });
  t.match(await both.verify(await idp.mint({ sub: 'svc', gty: 'client-credentials' })), { ok: true, identity: { kind: 'machine' } });
});

t.test('trace context: only well-formed, bounded values are kept', async (t) => {
  const id = '4bf92f3577b34da6a3ce929d0e0e4736';
  t.ok(parseTraceparent(`00-${id}-00f067aa0ba902b7-01`));
  t.notOk(parseTraceparent(`ff-${id}-00f067aa0ba902b7-01`), 'version ff');
  t.notOk(parseTraceparent(`00-${id}-00f067aa0ba902b7-01-extra`), 'version 00 with more fields');
  t.ok(parseTraceparent(`01-${id}-00f067aa0ba902b7-01-extra`), 'a later version may add fields');
  t.notOk(parseTraceparent(`00-${id.toUpperCase()}-00f067aa0ba902b7-01`), 'uppercase');
  t.notOk(parseTraceparent(`00-${id}-0000000000000000-01`), 'all-zero parent');
  t.notOk(parseTraceparent(`00-${id}-00f067aa0ba902b7-01\r\nx: y`), 'a header injection');
  t.notOk(traceContext(undefined, 'a=b', 'c=d'), 'tracestate and baggage mean nothing alone');
  t.same(traceContext(`00-${id}-00f067aa0ba902b7-01`, 'a=\u0007', 'k=' + 'v'.repeat(2000)), {
    traceparent: `00-${id}-00f067aa0ba902b7-01`,
    traceId: id,
    parentId: '00f067aa0ba902b7',
  });
  t.same(requestContext({ 'kubetape-client': 'evil\u001b[31m' }, undefined), {}, 'a client name with control characters');
});

t.test('the context a credential carries: round trip, and hostile forms leave the token alone', async (t) => {
  const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const carried = withContext('eyJ.a.b', { traceparent: tp, client: 'mcp/1.0' });
  t.equal(tokenWithoutContext(carried), 'eyJ.a.b');
  t.equal(bearerToken(`Bearer ${carried}`), 'eyJ.a.b', 'authenticators see the token alone');
  t.match(carriedContext(carried), { trace: { traceId: '4bf92f3577b34da6a3ce929d0e0e4736' }, client: 'mcp/1.0' });
  t.equal(withContext('tok', {}), 'tok', 'nothing to carry: the token alone');
  t.same(carriedContext('ktx1~not-base64-json~tok'), {});
  t.same(carriedContext(`ktx1~${Buffer.from('[1,2]').toString('base64url')}~tok`), {});
  t.same(carriedContext(`ktx1~${Buffer.from(JSON.stringify({ tp: 'nonsense', cl: 'x'.repeat(500) })).toString('base64url')}~tok`), {});
  t.same(carriedContext(`ktx1~${'A'.repeat(5000)}~tok`), {}, 'an oversized context is not read');
  // A header traceparent wins over the carried one.
  const header = '00-11111111111111111111111111111111-00f067aa0ba902b7-01';
  t.match(requestContext({ traceparent: header }, `Bearer ${carried}`), { trace: { traceId: '11111111111111111111111111111111' }, client: 'mcp/1.0' });
});

// `kubetape sessions list|show`: reading recordings back.
import { decodedSections, mcpCell, mcpHeader } from './decoded-show.js';
import { gunzipSync, constants as zc } from 'node:zlib';
import type { Command } from 'commander';
import { openReadableStore } from '../store/open-store.js';
import type { RecordingStore, SessionFilter } from '../store/store.js';
import { refusedCount, type GuardrailCounts, type RecordedBody, type RecordEvent, type SessionSummary } from '../model/recording.js';
import type { RequestAttributes } from '../model/request-attributes.js';
import { CliError } from './errors.js';
import { humanBytes, parseSince, shortTime, table } from './format.js';
import { configForCli } from './cli-config.js';
import { describeStream, warnUnlessVerified } from './stream-reading.js';
import { KUBERNETES_VERBS, verbProblem } from '../authorize/policy/vocabulary.js';
import { agentCell, agentCounts, agentHeader, traceSections } from './agent-views.js';
import { clientName } from '../model/client-name.js';
import { SESSION_KINDS, type SessionKind } from '../store/store.js';
import { openRemoteStore } from './remote-store.js';
import { resolveBodyRefs } from '../record/decode/body-refs.js';

export { clientName };

interface ReadOptions {
  dataDir?: string;
  config?: string;
  /** Read through a running kubetape's sessions API (remote-store.ts), as the kubeconfig context's user. */
  server?: string;
  kubeconfig?: string;
  context?: string;
}

export function openStoreForReading(o: ReadOptions): RecordingStore {
  if (o.server)
    return openRemoteStore({ server: o.server, ...(o.kubeconfig ? { kubeconfig: o.kubeconfig } : {}), ...(o.context ? { context: o.context } : {}) });
  const c = configForCli(o);
  return openReadableStore({ dataDir: c.dataDir, recording: c.recording });
}

export function registerSessionsCommand(program: Command): void {
  const sessions = program.command('sessions').description('list and show recorded sessions');

  sessions
    .command('list')
    .description('list recorded sessions, newest first')
    .option('--user <name>', 'only sessions of this user')
    .option('--cluster <name>', 'only sessions on this cluster')
    .option('--since <when>', 'only sessions started since (90s, 30m, 1h, 2d or a timestamp)')
    .option('--verb <verb>', `only sessions with a request of this verb (${KUBERNETES_VERBS.join(', ')})`)
    .option('--namespace <ns>', 'only sessions that touched this namespace')
    .option('--refused', 'only sessions where a policy rule refused something (deny, require-approval without a grant, a typed line)')
    .option('--rule <name>', 'only sessions where this policy rule refused or decided something')
    .option('--approved', 'only sessions where a request went through on an approval grant')
    .option('--agent [name]', 'only sessions of agents (machine callers), or of this agent')
    .option('--human', 'only sessions of people')
    .option('--acting-for <user>', 'only sessions of agents acting for this user')
    .option('--trace <id>', 'only sessions with a request of this W3C trace id (one tool call of an agent)')
    .option('--tool <name>', 'only sessions in which this MCP tool was called (inside a port-forward or a proxy request)')
    .option('--mcp', 'only sessions with MCP traffic (adds an MCP column: tool calls and tools)')
    .option('--state <state>', 'only sessions in this state: live, ended, interrupted')
    .option('--kind <kind>', `only sessions holding this kind of request: ${SESSION_KINDS.join(', ')} (rest: no exec, attach or port-forward)`)
    .option('--client <name>', 'only sessions of this client (kubectl, k9s, python-requests, kubernetes-python, node-fetch, ...)')
    .option('--text <text>', 'only sessions whose command, client, request paths or exec commands contain this text')
    .option('--accesses', 'only sessions that read recordings through the sessions API (marked ACCESS; `sessions show ID` says what they read)')
    .option('--limit <n>', 'at most this many sessions', (v) => positiveInt(v, '--limit'))
    .option('--json', 'print a JSON array')
    .option('--data-dir <dir>', 'kubetape data directory (default ~/.kubetape)')
    .option('--config <file>', 'kubetape config file (for its dataDir)')
    .option('--server <url>', "read through this kubetape's sessions API as the kubeconfig context's user (no store access needed)")
    .option('--kubeconfig <file>', 'with --server: kubeconfig whose current context holds the CA and token (default $KUBECONFIG or ~/.kube/config)')
    .option('--context <name>', 'with --server: kubeconfig context (default the current one)')
    .action(
      async (
        o: ReadOptions & {
          user?: string;
          cluster?: string;
          since?: string;
          verb?: string;
          namespace?: string;
          refused?: boolean;
          rule?: string;
          approved?: boolean;
          agent?: true | string;
          human?: boolean;
          actingFor?: string;
          trace?: string;
          tool?: string;
          mcp?: boolean;
          state?: string;
          kind?: string;
          client?: string;
          text?: string;
          accesses?: boolean;
          limit?: number;
          json?: boolean;
        },
      ) => {
        const filter: SessionFilter = {};
        if (o.user) filter.user = o.user;
        if (o.cluster) filter.cluster = o.cluster;
        if (o.verb !== undefined) {
          // Sessions are counted under the data path's verbs; any other word would list nothing, as if nothing had happened.
          const problem = verbProblem(o.verb, { wildcard: false, label: '--verb' });
          if (problem) throw new CliError(problem);
          filter.verb = o.verb;
        }
        if (o.namespace) filter.namespace = o.namespace;
        if (o.refused) filter.refused = true;
        if (o.rule) filter.rule = o.rule;
        if (o.approved) filter.approved = true;
        if (o.agent !== undefined && o.human) throw new CliError('--agent and --human exclude each other');
        if (o.agent !== undefined) filter.agent = o.agent;
        if (o.human) filter.human = true;
        if (o.actingFor) filter.actingFor = o.actingFor;
        if (o.trace !== undefined) {
          if (!/^[0-9a-fA-F]{32}$/.test(o.trace)) throw new CliError(`--trace wants a W3C trace id (32 hex digits), got "${o.trace}"`);
          filter.trace = o.trace.toLowerCase();
        }
        if (o.tool !== undefined) filter.tool = o.tool;
        if (o.mcp) filter.mcp = true;
        if (o.state !== undefined) {
          if (o.state !== 'live' && o.state !== 'ended' && o.state !== 'interrupted')
            throw new CliError(`--state wants live, ended or interrupted, got "${o.state}"`);
          filter.state = o.state;
        }
        if (o.kind !== undefined) {
          if (!(SESSION_KINDS as readonly string[]).includes(o.kind)) throw new CliError(`--kind wants one of ${SESSION_KINDS.join(', ')}, got "${o.kind}"`);
          filter.kind = o.kind as SessionKind;
        }
        if (o.client) filter.client = o.client;
        if (o.text) filter.q = o.text;
        if (o.accesses) filter.reads = true;
        if (o.limit) filter.limit = o.limit;
        if (o.since) {
          try {
            filter.since = parseSince(o.since);
          } catch (e) {
            throw new CliError((e as Error).message);
          }
        }
        const store = openStoreForReading(o);
        const list = await store.listSessions(filter);
        if (o.json) {
          process.stdout.write(JSON.stringify(list, null, 2) + '\n');
          return;
        }
        if (list.length === 0) {
          process.stdout.write('No sessions recorded' + (Object.keys(filter).length ? ' match those filters.\n' : ' yet.\n'));
          return;
        }
        // The AGENT column appears when an agent's session is listed (people-only lists read as before).
        const agents = list.some((s) => s.kind === 'machine');
        const header = ['ID', 'STARTED', 'USER', ...(agents ? ['AGENT'] : []), 'CLUSTER', 'COMMAND', 'REQUESTS', 'STATE', 'GUARDRAILS'];
        // The MCP column appears with --mcp or --tool, or when a listed session has MCP traffic.
        const mcp = o.mcp === true || o.tool !== undefined || list.some((s) => s.mcp);
        process.stdout.write(
          table(
            mcp ? [...header, 'MCP'] : header,
            list.map((s) => (mcp ? [...listRow(s, agents), mcpCell(s.mcp)] : listRow(s, agents))),
          ),
        );
        process.stdout.write(agentCounts(list));
      },
    );

  sessions
    .command('show <id>')
    .description('show one session as a timeline (an id or a unique prefix of one)')
    .option('--json', 'print everything recorded, bodies included, as JSON')
    .option('--bodies', 'include request and response bodies in the timeline')
    .option('--data-dir <dir>', 'kubetape data directory (default ~/.kubetape)')
    .option('--config <file>', 'kubetape config file (for its dataDir)')
    .option('--server <url>', "read through this kubetape's sessions API as the kubeconfig context's user (no store access needed)")
    .option('--kubeconfig <file>', 'with --server: kubeconfig whose current context holds the CA and token')
    .option('--context <name>', 'with --server: kubeconfig context (default the current one)')
    .action(async (idArg: string, o: ReadOptions & { json?: boolean; bodies?: boolean }) => {
      const store = openStoreForReading(o);
      let id: string | undefined;
      try {
        id = await store.resolveId(idArg);
      } catch (e) {
        throw new CliError((e as Error).message);
      }
      if (!id) throw new CliError(`no session "${idArg}"; see \`kubetape sessions list\``);
      const summary = store.summary ? await store.summary(id) : (await store.listSessions()).find((s) => s.id === id);
      const verified = await warnUnlessVerified(store, id);
      const events: RecordEvent[] = [];
      // Decoded port-forward bodies recorded as references to the raw bytes are filled in from them.
      for await (const ev of resolveBodyRefs(() => store.readSession(id))) events.push(ev);
      if (o.json) {
        const verify = verified ? { verify: { ok: verified.ok, ...(verified.problem ? { problem: verified.problem } : {}) } } : {};
        process.stdout.write(JSON.stringify({ session: summary, ...verify, events: events.map(decodeEventBodies) }, null, 2) + '\n');
        return;
      }
      process.stdout.write(renderTimeline(summary, events, !!o.bodies));
      process.stdout.write(decodedSections(events));
      process.stdout.write(await traceSections(store, id, events, (rq) => describeRequest(rq.attrs, rq.method, rq.uri)));
    });
}

function listRow(s: SessionSummary, agents: boolean): string[] {
  return [
    s.id,
    shortTime(s.startedAt),
    s.user,
    ...(agents ? [agentCell(s)] : []),
    s.cluster,
    s.command ?? clientName(s.userAgent),
    String(s.requests),
    s.reads ? `${s.state} ACCESS` : s.state,
    guardrailsCell(s.guardrails),
  ];
}

/** The guardrails column: refusals and grant uses (what a responder looks for), then masked reads; "-" when no rule decided anything. */
export function guardrailsCell(g: GuardrailCounts | undefined): string {
  if (!g) return '-';
  const refused = refusedCount(g);
  const parts = [
    refused ? `${refused} refused` : '',
    g.granted ? `${g.granted} ${g.granted === 1 ? 'grant' : 'grants'}` : '',
    g.masked ? `${g.masked} masked` : '',
  ].filter(Boolean);
  return parts.length ? parts.join(', ') : g.allowed ? `${g.allowed} allowed` : '-';
}

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new CliError(`${flag} wants a positive whole number, got "${v}"`);
  return n;
}

/** What a request did, in kubectl's words: "list pods -n default", "logs web-0 -f". */
export function describeRequest(a: RequestAttributes, method: string, uri: string): string {
  if (!a.isResourceRequest) return `${method} ${uri.split('?')[0]}`;
  const resource = a.apiGroup ? `${a.resource}.${a.apiGroup}` : a.resource;
  const ns = a.namespace && !(a.resource === 'namespaces' && a.name === a.namespace) ? ` -n ${a.namespace}` : '';
  if (a.subresource === 'log') return `logs ${a.name}${ns}${/[?&]follow=(true|1)/.test(uri) ? ' -f' : ''}`;
  const sub = a.subresource ? `/${a.subresource}` : '';
  return `${a.verb} ${resource}${sub}${a.name ? ' ' + a.name : ''}${ns}`;
}

function renderTimeline(s: SessionSummary | undefined, events: RecordEvent[], bodies: boolean): string {
  const out: string[] = [];
  const start = events.find((e) => e.type === 'session.start');
  if (!s || !start || start.type !== 'session.start') return 'This session has no readable start record.\n';
  out.push(`Session   ${s.id}  (${s.state})`);
  out.push(`User      ${s.user}${s.groups.length ? `  groups: ${s.groups.join(', ')}` : ''}  (${start.authMethod} from ${s.source})`);
  out.push(...agentHeader(start));
  out.push(`Cluster   ${s.cluster}`);
  out.push(`Command   ${s.command ?? clientName(s.userAgent)}${s.userAgent ? `   client: ${s.userAgent}` : ''}`);
  out.push(`Started   ${s.startedAt}${s.endedAt ? `   ended ${s.endedAt}` : ''}`);
  out.push(`Requests  ${s.requests}   bytes in ${humanBytes(s.bytesIn)}, out ${humanBytes(s.bytesOut)}${s.errors ? `   errors ${s.errors}` : ''}`);
  if (s.guardrails) out.push(`Policy    ${guardrailsCell(s.guardrails)}${s.guardrails.rules.length ? `   rules: ${s.guardrails.rules.join(', ')}` : ''}`);
  out.push(...mcpHeader(s.mcp));
  out.push('');
  const t0 = Date.parse(start.time);
  const requests = new Map<number, Extract<RecordEvent, { type: 'request' }>>();
  const chunks = new Map<number, { n: number; bytes: number }>();
  const rows: string[][] = [];
  for (const ev of events) {
    if (ev.type === 'request') requests.set(ev.seq, ev);
    else if (ev.type === 'response.chunk') {
      const c = chunks.get(ev.seq) ?? { n: 0, bytes: 0 };
      c.n++;
      c.bytes += ev.encoding === 'base64' ? Buffer.from(ev.data, 'base64').length : Buffer.byteLength(ev.data);
      chunks.set(ev.seq, c);
    } else if (ev.type === 'response') {
      const rq = requests.get(ev.seq);
      if (!rq) continue;
      const c = chunks.get(ev.seq);
      const notes = [
        describeStream(rq, ev, events) ?? '',
        policyNote(rq),
        c ? `${c.n} chunks streamed` : '',
        ev.body?.redacted ? 'body redacted (secret)' : '',
        ev.body?.truncated || ev.truncated ? 'truncated' : '',
        rq.headers['x-kubetape-stripped'] ? `stripped ${rq.headers['x-kubetape-stripped']}` : '',
        ev.error ?? '',
      ].filter(Boolean);
      rows.push([
        `+${((Date.parse(rq.time) - t0) / 1000).toFixed(3)}s`,
        String(ev.status),
        describeRequest(rq.attrs, rq.method, rq.uri),
        `${ev.durationMs}ms`,
        humanBytes(ev.bytesOut),
        notes.join('; '),
      ]);
      if (bodies) {
        if (rq.body) rows.push(['', '', `  > ${preview(rq.body)}`, '', '', '']);
        if (ev.body) rows.push(['', '', `  < ${preview(ev.body)}`, '', '', '']);
      }
      requests.delete(ev.seq);
    }
  }
  for (const rq of requests.values()) {
    rows.push([
      `+${((Date.parse(rq.time) - t0) / 1000).toFixed(3)}s`,
      '...',
      describeRequest(rq.attrs, rq.method, rq.uri),
      '',
      '',
      [describeStream(rq, undefined, events), 'no response recorded (in flight or interrupted)'].filter(Boolean).join('; '),
    ]);
  }
  out.push(table(['AT', 'CODE', 'REQUEST', 'TOOK', 'OUT', 'NOTES'], rows));
  return out.join('\n');
}

/** The guardrail decision on a request (REST or exec/attach/port-forward): rule, and the approval it involved. */
function policyNote(rq: Extract<RecordEvent, { type: 'request' }>): string {
  const p = rq.policy;
  if (!p) return '';
  const approval = p.approval ? (p.approval.grant ? `, approval ${p.approval.id} grant ${p.approval.grant}` : `, approval ${p.approval.id}`) : '';
  return `policy ${p.action} "${p.rule}" (rule ${p.index}${approval})`;
}

function preview(b: RecordedBody): string {
  if (b.redacted) return `[${b.redacted} redacted, ${b.size} bytes]`;
  const text = bodyText(b);
  return text.length > 400 ? text.slice(0, 400) + ` ... (${b.size} bytes)` : text;
}

/** A recorded body as text: base64 decoded, gzip inflated (partial streams included). */
export function bodyText(b: RecordedBody): string {
  if (b.redacted) return '';
  let buf = b.encoding === 'base64' ? Buffer.from(b.data, 'base64') : Buffer.from(b.data, 'utf8');
  if (b.contentEncoding === 'gzip') {
    try {
      buf = gunzipSync(buf, { finishFlush: zc.Z_SYNC_FLUSH });
    } catch {
      return `[gzip body, ${b.size} bytes, not decodable]`;
    }
  }
  return buf.toString('utf8');
}

function decodeEventBodies(ev: RecordEvent): RecordEvent & { bodyText?: string } {
  if ((ev.type === 'request' || ev.type === 'response') && ev.body?.contentEncoding) {
    return { ...ev, bodyText: bodyText(ev.body) };
  }
  return ev;
}

// `kubetape credential`: the kubectl exec-credential plugin. kubectl runs it
// (the stanza `kubeconfig rewrite --oidc-issuer` writes); it prints an
// ExecCredential holding a person's ID token (OIDC login), a machine's access
// token (--grant client-credentials), an agent's token acting for the person
// whose token it received (--grant token-exchange, RFC 8693), or the token a
// file holds now (--token-file). TRACEPARENT, TRACESTATE, BAGGAGE and KUBETAPE_CLIENT in its
// environment ride along in front of the token (credential-context.ts).
import { readFileSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { execCredential, parseExecInfo } from '../login/exec-credential.js';
import { getIdToken, type Grant, type IdToken } from '../login/credential.js';
import { getClientCredentialsToken, readTokenFile } from '../login/machine-credential.js';
import { exchangeToken, tokenType } from '../login/token-exchange.js';
import { withContext } from '../authenticate/credential-context.js';
import { defaultCacheDir } from '../login/token-cache.js';
import { expandHome } from '../config/config.js';
import { CliError } from './errors.js';

export interface CredentialFlags {
  issuer?: string;
  clientId?: string;
  clientSecret?: string;
  clientSecretFile?: string;
  tokenFile?: string;
  subjectTokenFile?: string;
  subjectTokenEnv?: string;
  subjectTokenType?: string;
  requestedTokenType?: string;
  /** false (--no-trace-context): print the token alone, whatever TRACEPARENT says. */
  traceContext?: boolean;
  resource?: string;
  audience?: string;
  user?: string;
  scope?: string[];
  certificateAuthority?: string;
  cacheDir?: string;
  grant?: string;
  listenPort?: number[];
  browser?: boolean;
  loginTimeout?: number;
}

function collect<T>(parse: (v: string) => T) {
  return (value: string, previous: T[] = []): T[] => [...previous, parse(value)];
}

function port(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliError(`--listen-port wants a port number, got "${v}"`);
  return n;
}

export async function runCredential(
  f: CredentialFlags,
  io: { env: NodeJS.ProcessEnv; stdout: { write(s: string): unknown }; stderr: { write(s: string): unknown } },
): Promise<void> {
  const grant = (f.grant ?? 'auto') as Grant | MachineGrant;
  if (!['auto', 'authcode', 'device', 'client-credentials', 'token-exchange'].includes(grant))
    throw new CliError(`--grant must be auto, authcode, device, client-credentials or token-exchange, got "${f.grant}"`);
  if (f.tokenFile && (f.issuer || f.clientId || f.grant === 'client-credentials' || f.grant === 'token-exchange'))
    throw new CliError('--token-file reads a token someone else renews; it takes no --issuer, --client-id or --grant');
  if (!f.tokenFile && (!f.issuer || !f.clientId)) throw new CliError('kubetape credential needs --issuer and --client-id (or --token-file)');
  if ((grant === 'client-credentials' || grant === 'token-exchange') && f.clientSecret)
    throw new CliError('--client-secret would put the secret in the process list and shell history; use --client-secret-file or KUBETAPE_CLIENT_SECRET');
  const subjectFlags = [f.subjectTokenFile, f.subjectTokenEnv, f.subjectTokenType, f.requestedTokenType].some((x) => x !== undefined);
  if (grant !== 'token-exchange' && subjectFlags)
    throw new CliError('--subject-token-file, --subject-token-env, --subject-token-type and --requested-token-type go with --grant token-exchange');
  let info;
  try {
    info = parseExecInfo(io.env['KUBERNETES_EXEC_INFO']);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  let ca: string | undefined;
  if (f.certificateAuthority) {
    try {
      ca = readFileSync(expandHome(f.certificateAuthority), 'utf8');
    } catch (err) {
      throw new CliError(`cannot read --certificate-authority ${f.certificateAuthority} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  const context =
    f.traceContext === false
      ? {}
      : {
          ...(io.env['TRACEPARENT'] ? { traceparent: io.env['TRACEPARENT'] } : {}),
          ...(io.env['TRACESTATE'] ? { tracestate: io.env['TRACESTATE'] } : {}),
          ...(io.env['BAGGAGE'] ? { baggage: io.env['BAGGAGE'] } : {}),
          ...(io.env['KUBETAPE_CLIENT'] ? { client: io.env['KUBETAPE_CLIENT'] } : {}),
        };
  try {
    const t = f.tokenFile
      ? readTokenFile(expandHome(f.tokenFile))
      : grant === 'token-exchange'
        ? await exchangeToken({
            issuer: f.issuer!,
            clientId: f.clientId!,
            clientSecret: clientSecret(f, io.env, grant),
            ...subjectToken(f, io.env),
            ...(f.requestedTokenType ? { requestedTokenType: tokenTypeFlag(f.requestedTokenType, '--requested-token-type') } : {}),
            ...(f.resource ? { resource: f.resource } : {}),
            ...(f.audience ? { audience: f.audience } : {}),
            scopes: f.scope ?? [],
            ...(ca ? { ca } : {}),
            cacheDir: f.cacheDir ? expandHome(f.cacheDir) : defaultCacheDir(),
          })
        : grant === 'client-credentials'
          ? await getClientCredentialsToken({
              issuer: f.issuer!,
              clientId: f.clientId!,
              clientSecret: clientSecret(f, io.env, grant),
              ...(f.resource ? { resource: f.resource } : {}),
              ...(f.audience ? { audience: f.audience } : {}),
              scopes: f.scope ?? [],
              ...(ca ? { ca } : {}),
              cacheDir: f.cacheDir ? expandHome(f.cacheDir) : defaultCacheDir(),
            })
          : await personToken(f, grant, ca, io);
    io.stdout.write(execCredential(info.apiVersion, withContext(t.token, context), t.expiresAt));
  } catch (err) {
    if (err instanceof CliError) throw err;
    throw new CliError((err as Error).message);
  }
}

/** The client secret: from --client-secret-file, else KUBETAPE_CLIENT_SECRET; never from the command line. */
function clientSecret(f: CredentialFlags, env: NodeJS.ProcessEnv, grant: MachineGrant): string {
  if (f.clientSecretFile) {
    let text: string;
    try {
      text = readFileSync(expandHome(f.clientSecretFile), 'utf8');
    } catch (err) {
      throw new CliError(`cannot read --client-secret-file ${f.clientSecretFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    const secret = text.replace(/\r?\n$/, '');
    if (!secret) throw new CliError(`--client-secret-file ${f.clientSecretFile} is empty`);
    return secret;
  }
  const fromEnv = env['KUBETAPE_CLIENT_SECRET'];
  if (fromEnv) return fromEnv;
  throw new CliError(`--grant ${grant} needs the client secret in --client-secret-file or KUBETAPE_CLIENT_SECRET`);
}

type MachineGrant = 'client-credentials' | 'token-exchange';

const MAX_SUBJECT_TOKEN_FILE_BYTES = 64 * 1024;

/** The person's token to exchange: from --subject-token-file or the variable --subject-token-env names; never the command line. */
function subjectToken(f: CredentialFlags, env: NodeJS.ProcessEnv): { subjectToken: string; subjectTokenType?: string } {
  if ((f.subjectTokenFile === undefined) === (f.subjectTokenEnv === undefined))
    throw new CliError("--grant token-exchange needs the person's token in exactly one of --subject-token-file or --subject-token-env");
  let token: string;
  if (f.subjectTokenFile !== undefined) {
    try {
      if (statSync(expandHome(f.subjectTokenFile)).size > MAX_SUBJECT_TOKEN_FILE_BYTES) throw new Error(`larger than ${MAX_SUBJECT_TOKEN_FILE_BYTES} bytes`);
      token = readFileSync(expandHome(f.subjectTokenFile), 'utf8').trim();
    } catch (err) {
      throw new CliError(`cannot read --subject-token-file ${f.subjectTokenFile} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    if (!token) throw new CliError(`--subject-token-file ${f.subjectTokenFile} is empty`);
  } else {
    const name = f.subjectTokenEnv!;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new CliError(`--subject-token-env wants an environment variable's name, got "${name.slice(0, 80)}"`);
    token = (env[name] ?? '').trim();
    if (!token) throw new CliError(`--subject-token-env ${name}: the environment variable ${name} is not set or empty`);
  }
  return { subjectToken: token, ...(f.subjectTokenType ? { subjectTokenType: tokenTypeFlag(f.subjectTokenType, '--subject-token-type') } : {}) };
}

function tokenTypeFlag(value: string, flag: string): string {
  try {
    return tokenType(value, flag);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
}

async function personToken(f: CredentialFlags, grant: Grant, ca: string | undefined, io: { stderr: { write(s: string): unknown } }): Promise<IdToken> {
  return getIdToken({
    issuer: f.issuer!,
    clientId: f.clientId!,
    user: f.user ?? '',
    ...(f.clientSecret ? { clientSecret: f.clientSecret } : {}),
    scopes: f.scope ?? [],
    ...(ca ? { ca } : {}),
    cacheDir: f.cacheDir ? expandHome(f.cacheDir) : defaultCacheDir(),
    grant,
    ports: f.listenPort && f.listenPort.length > 0 ? f.listenPort : [8000, 18000],
    browser: f.browser !== false,
    loginTimeoutMs: (f.loginTimeout ?? 300) * 1000,
    say: (line) => io.stderr.write(line + '\n'),
  });
}

export function registerCredentialCommand(program: Command): void {
  program
    .command('credential')
    .description(
      'kubectl exec-credential plugin: log in with OIDC (browser, device code, client credentials, token exchange) or read a token file, and print an ExecCredential',
    )
    .option('--issuer <url>', 'OIDC issuer URL')
    .option('--client-id <id>', 'OAuth client id (the audience kubetape accepts)')
    .option('--client-secret <secret>', 'client secret, for issuers that demand one of native clients (not with client-credentials)')
    .option('--client-secret-file <file>', 'client-credentials, token-exchange: the file holding the client secret (or set KUBETAPE_CLIENT_SECRET)')
    .option('--subject-token-file <file>', "token-exchange: the file holding the person's token to exchange")
    .option('--subject-token-env <name>', "token-exchange: the environment variable holding the person's token to exchange")
    .option('--subject-token-type <type>', 'token-exchange: access_token (default), id_token or jwt')
    .option('--requested-token-type <type>', 'token-exchange: the token type to ask for (access_token, id_token or jwt)')
    .option('--token-file <file>', 'print the token this file holds (a projected service-account token, a CI OIDC token), re-read every minute')
    .option('--no-trace-context', 'do not carry TRACEPARENT, TRACESTATE, BAGGAGE and KUBETAPE_CLIENT in front of the token')
    .option('--resource <uri>', 'client-credentials, token-exchange: the resource indicator (RFC 8707) to ask a token for')
    .option('--audience <aud>', 'client-credentials, token-exchange: the audience parameter, for issuers that take one (Auth0, Okta)')
    .option('--user <name>', 'keep a separate login per name (several accounts at one issuer)')
    .option('--scope <scope>', 'extra scope to ask for (repeatable); openid is always asked; add offline_access for refresh tokens', collect(String), [])
    .option('--certificate-authority <file>', "PEM bundle for the issuer's TLS certificate")
    .option('--cache-dir <dir>', 'token cache (default ~/.kube/cache/kubetape)')
    .option('--grant <grant>', 'auto (browser when one can open, else device code), authcode, device, client-credentials or token-exchange (machines)', 'auto')
    .option('--listen-port <port>', 'loopback port for the browser redirect, repeatable, tried in order (default 8000, then 18000; 0 = any)', collect(port), [])
    .option('--no-browser', 'do not start a browser; print the login URL')
    .option('--login-timeout <seconds>', 'give up on a login after this long (default 300)', (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new CliError(`--login-timeout wants seconds, got "${v}"`);
      return n;
    })
    .action(async (f: CredentialFlags) => runCredential(f, { env: process.env, stdout: process.stdout, stderr: process.stderr }));
}

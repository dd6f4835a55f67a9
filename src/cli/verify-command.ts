// `kubetape verify ID|--all`: recompute each recording's hash chain and check
// it against the store's own records (DynamoDB's index for the AWS store, the
// index file for the local one). `--all` walks everything the store holds,
// not only what its index names (the local store: every session file, every
// index line, the index's own chain and its checkpoints) and says how far back
// the evidence is anchored. Exit 0 when everything is intact; 2 when anything
// is not, naming each broken session, line, chunk or missing object.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { CliError } from './errors.js';
import { configForCli } from './cli-config.js';
import { resolveSession } from './stream-reading.js';
import { openReadableStore } from '../store/open-store.js';
import type { StoreVerifyReport, VerifyReport } from '../store/verify.js';

interface VerifyOptions {
  all?: boolean;
  json?: boolean;
  checkpointKey?: string;
  anchorFile?: string;
  dataDir?: string;
  config?: string;
}

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify [id]')
    .description('check that recordings are complete and unchanged (an id or a unique prefix, or --all)')
    .option('--all', 'verify every recorded session')
    .option('--json', 'print the reports as JSON (with --all: sessions, problems, notes, anchor)')
    .option('--checkpoint-key <file>', "the key the local store's checkpoints are signed with (default: recording.checkpointKeyFile of --config)")
    .option('--anchor-file <file>', "the local store's checkpoint anchor file (default: recording.checkpointAnchorFile of --config)")
    .option('--data-dir <dir>', 'kubetape data directory (default ~/.kubetape)')
    .option('--config <file>', 'kubetape config file (its dataDir and recording store)')
    .action(async (idArg: string | undefined, o: VerifyOptions) => {
      if (!idArg === !o.all) throw new CliError('give a session id or --all (not both)');
      const c = configForCli(o);
      if ((o.checkpointKey || o.anchorFile) && (c.recording.store ?? 'local') !== 'local')
        throw new CliError(`${o.checkpointKey ? '--checkpoint-key' : '--anchor-file'} is for the local store`);
      const recording = {
        ...c.recording,
        ...(o.checkpointKey ? { checkpointKeyFile: resolve(o.checkpointKey) } : {}),
        ...(o.anchorFile ? { checkpointAnchorFile: resolve(o.anchorFile) } : {}),
      };
      const store = openReadableStore({ dataDir: c.dataDir, recording });
      try {
        if (!store.verify) throw new CliError('the configured store cannot verify recordings');
        let report: StoreVerifyReport;
        try {
          if (o.all) {
            report = store.verifyAll ? await store.verifyAll() : await eachListed(store as Required<Pick<typeof store, 'verify' | 'listSessions'>>);
          } else {
            const r = await store.verify(await resolveSession(store, idArg!));
            report = { ok: r.ok, sessions: [r], problems: [], notes: [] };
          }
        } catch (e) {
          if (e instanceof CliError) throw e;
          throw new CliError((e as Error).message);
        }
        const { sessions, problems } = report;
        if (o.json) process.stdout.write(JSON.stringify(o.all ? report : sessions, null, 2) + '\n');
        else {
          for (const r of sessions) process.stdout.write(line(r));
          for (const p of problems) process.stdout.write(`${report.label ?? 'index'}  BROKEN  ${p}\n`);
          for (const n of report.notes) process.stdout.write(`note: ${n}\n`);
          if (o.all && report.anchor) process.stdout.write(`anchor: ${report.anchor}\n`);
        }
        const broken = sessions.filter((r) => !r.ok);
        if (broken.length > 0 || problems.length > 0) {
          const first = broken[0] ? `${broken[0].id}: ${broken[0].problem}` : problems[0];
          const what = [
            broken.length ? `${broken.length} of ${sessions.length} recording${sessions.length === 1 ? '' : 's'} failed verification` : '',
            problems.length ? `${problems.length} problem${problems.length === 1 ? '' : 's'} with the ${report.label ?? 'index'}` : '',
          ].filter(Boolean);
          const e = new CliError(`${what.join('; ')}; first: ${first}`);
          e.exitCode = 2;
          throw e;
        }
        if (!o.json && o.all) process.stdout.write(`all ${sessions.length} recordings intact\n`);
      } finally {
        await store.close();
      }
    });
}

/** A store without a whole-store check: verify what it lists. */
async function eachListed(store: { verify(id: string): Promise<VerifyReport>; listSessions(): Promise<{ id: string }[]> }): Promise<StoreVerifyReport> {
  const sessions: VerifyReport[] = [];
  for (const s of (await store.listSessions()).reverse()) sessions.push(await store.verify(s.id));
  return { ok: sessions.every((r) => r.ok), sessions, problems: [], notes: [] };
}

function line(r: VerifyReport): string {
  if (!r.ok) return `${r.id}  BROKEN  ${(r.problems ?? [r.problem]).join('; ')}\n`;
  const notes = r.notes.length ? `; ${r.notes.join('; ')}` : '';
  return `${r.id}  intact  ${r.state}, ${r.chunks} ${r.chunks === r.events ? 'lines' : 'chunks'}, ${r.events} events${notes}\n`;
}

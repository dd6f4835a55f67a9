// `kubetape verify ID|--all`: recompute each recording's hash chain and check
// it against the store's own records (DynamoDB's index for the AWS store, the
// index file for the local one). Exit 0 when everything is intact; 2 when
// anything is not, naming the first broken chunk, line or missing object.
import type { Command } from 'commander';
import { CliError } from './errors.js';
import { openStoreForReading } from './sessions-command.js';
import { resolveSession } from './stream-reading.js';
import type { VerifyReport } from '../store/verify.js';

interface VerifyOptions {
  all?: boolean;
  json?: boolean;
  dataDir?: string;
  config?: string;
}

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify [id]')
    .description('check that recordings are complete and unchanged (an id or a unique prefix, or --all)')
    .option('--all', 'verify every recorded session')
    .option('--json', 'print the reports as a JSON array')
    .option('--data-dir <dir>', 'kubetape data directory (default ~/.kubetape)')
    .option('--config <file>', 'kubetape config file (its dataDir and recording store)')
    .action(async (idArg: string | undefined, o: VerifyOptions) => {
      if (!idArg === !o.all) throw new CliError('give a session id or --all (not both)');
      const store = openStoreForReading(o);
      try {
        if (!store.verify) throw new CliError('the configured store cannot verify recordings');
        const ids = o.all ? (await store.listSessions()).map((s) => s.id).reverse() : [await resolveSession(store, idArg!)];
        const reports: VerifyReport[] = [];
        for (const id of ids) {
          const r = await store.verify(id);
          reports.push(r);
          if (!o.json) process.stdout.write(line(r));
        }
        if (o.json) process.stdout.write(JSON.stringify(reports, null, 2) + '\n');
        const broken = reports.filter((r) => !r.ok);
        if (broken.length > 0) {
          const e = new CliError(`${broken.length} of ${reports.length} recording${reports.length === 1 ? '' : 's'} failed verification; first: ${broken[0]!.id}: ${broken[0]!.problem}`);
          e.exitCode = 2;
          throw e;
        }
        if (!o.json) process.stdout.write(o.all ? `all ${reports.length} recordings intact\n` : '');
      } finally {
        await store.close();
      }
    });
}

function line(r: VerifyReport): string {
  if (!r.ok) return `${r.id}  BROKEN  ${r.problem}\n`;
  const notes = r.notes.length ? `; ${r.notes.join('; ')}` : '';
  return `${r.id}  intact  ${r.state}, ${r.chunks} ${r.chunks === r.events ? 'lines' : 'chunks'}, ${r.events} events${notes}\n`;
}

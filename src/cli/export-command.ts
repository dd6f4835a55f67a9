// `kubetape export ID --format asciicast`: a session's exec/attach as an
// asciicast v2 file (asciinema's format): a header line, then one JSON array
// per event, [seconds, "o", output], [seconds, "r", "WxH"], with --stdin
// [seconds, "i", input] for what was typed, with --markers [seconds, "m", line]
// per typed line. The conversion is console/asciicast.ts (the sessions API's too).
// `--format har`: the HTTP exchanges decoded inside its port-forwards as HAR 1.2 (har-export.ts).
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { CliError } from './errors.js';
import { harOf } from './har-export.js';
import { wholeNumber } from './replay-command.js';
import { openStoreForReading } from './sessions-command.js';
import { resolveSession, terminalEvents, warnUnlessVerified } from './stream-reading.js';
import { AsciicastWriter, castLines } from '../console/asciicast.js';

interface ExportOptions {
  format: string;
  seq?: number;
  stdin?: boolean;
  markers?: boolean;
  connection?: number;
  dataDir?: string;
  config?: string;
  server?: string;
  kubeconfig?: string;
  context?: string;
}

export function registerExportCommand(program: Command): void {
  program
    .command('export <id>')
    .description("write a session's exec/attach as a recording other tools play (an id or a unique prefix)")
    .requiredOption('--format <format>', 'output format: asciicast (asciinema v2), or har (HTTP decoded inside port-forwards, HAR 1.2)')
    .option('--connection <n>', 'har: only this port-forward connection', (v) => wholeNumber(v, '--connection'))
    .option('--seq <n>', 'only the request with this sequence number (see `sessions show`)', (v) => wholeNumber(v, '--seq'))
    .option('--stdin', 'add what was typed as "i" (input) events')
    .option('--markers', 'add an "m" marker for each line typed into a terminal (rebuilt from stdin)')
    .option('--data-dir <dir>', 'kubetape data directory (default ~/.kubetape)')
    .option('--config <file>', 'kubetape config file (for its dataDir)')
    .option('--server <url>', "read through this kubetape's sessions API as the kubeconfig context's user (no store access needed)")
    .option('--kubeconfig <file>', 'with --server: kubeconfig whose current context holds the CA and token')
    .option('--context <name>', 'with --server: kubeconfig context (default the current one)')
    .action(async (idArg: string, o: ExportOptions) => {
      if (o.format !== 'asciicast' && o.format !== 'har')
        throw new CliError(`--format ${JSON.stringify(o.format)} is not supported; use --format asciicast or har`);
      const store = openStoreForReading(o);
      const id = await resolveSession(store, idArg);
      await warnUnlessVerified(store, id);
      if (o.format === 'har') {
        const har = await harOf(store, id, {
          ...(o.seq !== undefined ? { seq: o.seq } : {}),
          ...(o.connection !== undefined ? { connection: o.connection } : {}),
          version: packageVersion(),
        });
        process.stdout.write(JSON.stringify(har, null, 2) + '\n');
        return;
      }
      const writer = new AsciicastWriter(id, { stdin: o.stdin === true, markers: o.markers === true }, castLines(line));
      for await (const ev of terminalEvents(store, id, o.seq)) await writer.add(ev);
      await writer.end();
    });
}

function line(text: string): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(text)) resolve();
    else process.stdout.once('drain', () => resolve());
  });
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

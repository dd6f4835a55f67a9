// Node options for the kubetape child of a bench, and only that child:
// KUBETAPE_BENCH_NODE_OPTIONS, plus a CPU profiler with --cpu-profile DIR.
// Node 20 refuses --cpu-prof in NODE_OPTIONS, so a preload drives the
// inspector itself.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The extra options, or undefined when there are none; `say` tells the user where a profile will go. */
export function kubetapeNodeOptions(cpuProfileDir: string | undefined, tmp: string, say: (line: string) => void): string | undefined {
  const opts = [process.env['KUBETAPE_BENCH_NODE_OPTIONS'] ?? ''];
  if (cpuProfileDir) {
    mkdirSync(cpuProfileDir, { recursive: true });
    const preload = join(tmp, 'cpu-profiler.mjs');
    writeFileSync(preload, cpuProfilerPreload(cpuProfileDir));
    opts.push(`--import=${JSON.stringify(pathToFileURL(preload).href)}`);
    say(`kubetape writes its CPU profile to ${cpuProfileDir} when it exits`);
  }
  const joined = opts.filter((o) => o.length > 0).join(' ');
  return joined || undefined;
}

/** Samples every 200 us from start to exit; the profile is written synchronously in 'exit' (an in-thread inspector session answers at once). */
function cpuProfilerPreload(dir: string): string {
  return `import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 200 });
session.post('Profiler.start');
process.on('exit', () => {
  session.post('Profiler.stop', (err, result) => {
    if (!err) writeFileSync(join(${JSON.stringify(dir)}, \`kubetape-\${process.pid}.cpuprofile\`), JSON.stringify(result.profile));
  });
});
`;
}

/**
 * Runs `start` (which spawns the kubetape child synchronously) with
 * NODE_OPTIONS extended by `extra`, restoring it right after so no other
 * child gets them.
 */
export function withKubetapeNodeOptions<T>(extra: string | undefined, start: () => T): T {
  if (!extra) return start();
  const saved = process.env['NODE_OPTIONS'];
  process.env['NODE_OPTIONS'] = saved ? `${saved} ${extra}` : extra;
  try {
    return start();
  } finally {
    if (saved === undefined) delete process.env['NODE_OPTIONS'];
    else process.env['NODE_OPTIONS'] = saved;
  }
}

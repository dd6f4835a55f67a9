// moto_server (the AWS emulator) for tests: on a free 127.0.0.1 port, ready
// when it answers, killed by its own pid at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './free-port.js';
import { request } from 'node:http';

export interface Moto {
  /** http://127.0.0.1:PORT */
  url: string;
  pid: number;
  /** Forget every AWS resource and credential. */
  reset(): Promise<void>;
  /** SIGSTOP: the backend hangs, as a stalled AWS endpoint would. */
  freeze(): void;
  /** SIGCONT. */
  thaw(): void;
  close(): Promise<void>;
}

export { freePort };

function post(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', timeout: 2000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export async function startMoto(): Promise<Moto> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`moto_server exited: ${stderr}`);
    try {
      if ((await post(`${url}/moto-api/reset`)) === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`moto_server did not start on ${url}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const pid = child.pid!;
  return {
    url,
    pid,
    reset: async () => void (await post(`${url}/moto-api/reset`)),
    freeze: () => process.kill(pid, 'SIGSTOP'),
    thaw: () => process.kill(pid, 'SIGCONT'),
    close: async () => {
      if (child.exitCode !== null) return;
      try {
        process.kill(pid, 'SIGCONT'); // a frozen process cannot act on SIGTERM
      } catch {
        // already gone
      }
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(t);
    },
  };
}

// A raw WebSocket exec client (v5.channel.k8s.io, binary framing) that
// counts what it puts on the wire, a small tmpfs for tests that fill a disk,
// and readers of what a session file holds, for the recording-limit tests.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { StreamHarness } from './streams.js';

export interface RawExec {
  ws: WebSocket;
  /** Sends one frame on `channel` (0 stdin, 4 resize, 255 close). */
  send(channel: number, data?: Buffer | string): void;
  /** Bytes of every frame sent so far as they went on the wire (header, mask key, channel byte, payload). */
  wireBytesSent(): number;
  /** Frames sent so far. */
  framesSent(): number;
  /** Messages received, by channel. */
  received(channel: number): Buffer;
  /** Resolves with the close code. */
  closed: Promise<number>;
}

/** Opens `command` in web-0 through kubetape, stdin on, as a client library would (token in the Authorization header). */
export function openRawExec(s: StreamHarness, command: string[]): Promise<RawExec> {
  const q = command.map((c) => `command=${encodeURIComponent(c)}`).join('&');
  const url = s.h.kt.url.replace(/^https:/, 'wss:') + `/api/v1/namespaces/default/pods/web-0/exec?${q}&stdin=true&stdout=true&stderr=true`;
  const ws = new WebSocket(url, ['v5.channel.k8s.io'], { ca: s.h.kt.ca, headers: { Authorization: `Bearer ${s.h.kt.localToken}` }, perMessageDeflate: false });
  const messages: Buffer[] = [];
  ws.on('message', (d: Buffer) => messages.push(Buffer.from(d)));
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  let wire = 0;
  let frames = 0;
  const raw: RawExec = {
    ws,
    send(channel, data = Buffer.alloc(0)) {
      const payload = Buffer.concat([Buffer.from([channel]), Buffer.from(data)]);
      // A client frame: 2 header bytes (+2 or +8 for the extended length), a 4-byte mask key, the payload.
      wire += 2 + (payload.length > 65535 ? 8 : payload.length > 125 ? 2 : 0) + 4 + payload.length;
      frames++;
      ws.send(payload);
    },
    wireBytesSent: () => wire,
    framesSent: () => frames,
    received: (channel) => Buffer.concat(messages.filter((m) => m[0] === channel).map((m) => m.subarray(1))),
    closed,
  };
  return new Promise((resolve, reject) => {
    ws.on('open', () => resolve(raw));
    ws.on('error', reject);
  });
}

/** Waits until `check` holds (polling), or fails naming `what`. */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export interface Tmpfs {
  dir: string;
  /** Writes a file until the filesystem is full (ENOSPC), to the last byte it takes. */
  fill(): string;
  unmount(): void;
}

/** A tmpfs of `size` (e.g. "2m") on a new directory; undefined (with why) when this machine cannot mount one. */
export function mountTmpfs(size: string): Tmpfs | string {
  const dir = mkdtempSync(join(tmpdir(), 'kt-tmpfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot mount a tmpfs here (${((err as { stderr?: Buffer }).stderr?.toString() || (err as Error).message).trim()}): the disk-full cases need a filesystem the test can fill`;
  }
  let fillers = 0;
  return {
    dir,
    fill() {
      const path = join(dir, `filler-${++fillers}`);
      const fd = openSync(path, 'w');
      try {
        for (const size of [64 * 1024, 4096, 512, 1]) {
          const chunk = Buffer.alloc(size, 0x66);
          for (;;) {
            try {
              if (writeSync(fd, chunk) < size) break;
            } catch (e) {
              if ((e as NodeJS.ErrnoException).code === 'ENOSPC') break;
              throw e;
            }
          }
        }
      } finally {
        closeSync(fd);
      }
      return path;
    },
    unmount() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** The session file of `id` under a data dir's recordings, and its raw lines. */
export function sessionLines(dataDir: string, id: string): { path: string; text: string; lines: string[] } {
  const root = join(dataDir, 'recordings', 'sessions');
  for (const day of readdirSync(root)) {
    const name = `${id}.ndjson`;
    if (readdirSync(join(root, day)).includes(name)) {
      const path = join(root, day, name);
      const text = readFileSync(path, 'utf8');
      return { path, text, lines: text.split('\n').slice(0, -1) };
    }
  }
  throw new Error(`no session file for ${id} in ${root}`);
}

/** GET the admin listener's /readyz: status and body. */
export async function readyz(s: StreamHarness): Promise<{ status: number; body: string }> {
  const r = await fetch(`${s.h.kt.adminUrl}/readyz`);
  return { status: r.status, body: await r.text() };
}

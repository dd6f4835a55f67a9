// The bytes of one forwarded connection, copied the way containerd does it:
// both directions at once; the client's EOF half-closes the target; once
// either direction has ended the other gets one second to finish, then the
// connection is done (and the kubelet closes the client's streams).
import type net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import type { PortForwardConnectionLog } from './session-log.js';

const GRACE_MS = 1000;

export function copyBothWays(fromClient: Readable, toClient: Writable, target: net.Socket, entry: PortForwardConnectionLog): Promise<void> {
  return new Promise<void>((resolve) => {
    let upDone = false;
    let downDone = false;
    let grace: NodeJS.Timeout | undefined;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(grace);
      fromClient.unpipe(target);
      target.unpipe(toClient);
      target.destroy();
      resolve();
    };
    const directionDone = (which: 'up' | 'down'): void => {
      if (which === 'up') upDone = true;
      else downDone = true;
      if (upDone && downDone) finish();
      else grace ??= setTimeout(finish, GRACE_MS);
    };

    fromClient.on('data', (c: Buffer) => (entry.bytesFromClient += c.length));
    fromClient.once('end', () => directionDone('up'));
    fromClient.once('close', () => directionDone('up'));
    fromClient.on('error', () => undefined);
    fromClient.pipe(target);

    target.on('data', (c: Buffer) => (entry.bytesToClient += c.length));
    target.once('end', () => directionDone('down'));
    target.once('close', () => directionDone('down'));
    toClient.on('error', () => undefined);
    toClient.once('close', () => finish());
    target.pipe(toClient, { end: false });
  });
}

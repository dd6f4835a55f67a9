// exec/attach streams over WebSocket: channels 0 stdin, 1 stdout, 2 stderr,
// 3 error/status, 4 resize (always readable, as the kubelet opens it).
import type WebSocket from 'ws';
import { ChannelSocket } from './websocket-channels.js';
import type { CommandFlags, CommandStreams } from './command-streams.js';
import { statusIsJson, V5, type WebSocketChoice } from './protocols.js';
import { encodeStatus, type StreamStatus } from './status.js';

const STDIN = 0;
const STDOUT = 1;
const STDERR = 2;
const ERROR = 3;
const RESIZE = 4;

export function websocketCommandStreams(ws: WebSocket, choice: WebSocketChoice, flags: CommandFlags): CommandStreams {
  const channels = new ChannelSocket(ws, { base64: choice.base64, closeSignal: choice.protocol === V5 });
  const stdin = flags.stdin ? channels.reader(STDIN) : null;
  const resize = channels.reader(RESIZE);
  // "Connection established": an empty message on the lowest writable channel.
  channels.send(flags.stdout ? STDOUT : flags.stderr ? STDERR : ERROR);
  const json = statusIsJson(choice.protocol);
  return {
    transport: 'websocket',
    protocol: choice.protocol,
    stdin,
    stdout: flags.stdout ? channels.writer(STDOUT) : null,
    stderr: flags.stderr ? channels.writer(STDERR) : null,
    resize,
    writeStatus(s: StreamStatus): void {
      const body = encodeStatus(s, json);
      if (body) channels.send(ERROR, body);
    },
    finish: () => channels.close(1000),
    closed: channels.closed,
    destroy: () => channels.terminate(),
  };
}

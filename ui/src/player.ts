// The terminal player for exec and attach. asciinema-player, bundled from
// node_modules: it plays asciicast v2, which kubetape already exports (the
// API's /cast is the same format as `kubetape export`), so what the browser
// plays is what the CLI exports; it is a maintained terminal emulator (a
// WebAssembly VT) that keeps escape sequences inside the terminal it draws
// (titles, OSC 52 clipboard writes and OSC 8 hyperlinks are not acted on),
// and it has what a reviewer needs: seek, markers, idle-gap compression,
// a keystroke overlay for stdin, speeds. The speed buttons (0.25x-8x), the
// typed-command list and the download around it are ours.
import * as AsciinemaPlayer from 'asciinema-player';
import { streamLines, sessionPath } from './api.js';
import { h, clear } from './dom.js';

export const SPEEDS = [0.25, 0.5, 1, 2, 4, 8];
const IDLE_TIME_LIMIT = 2;

export interface Cast {
  cols: number;
  rows: number;
  /** [milliseconds, code, data], markers left out. */
  events: [number, string, string][];
  markers: [number, string][];
  duration: number;
}

/**
 * asciicast v2 into what the player takes, a line at a time as the cast streams in (the
 * server sends its header first); markers ("m" events) become the player's markers.
 * Times are kept in milliseconds, as the player keeps them, so nothing is mapped again.
 */
export class CastReader {
  private header: { width?: number; height?: number } | undefined;
  /** [milliseconds, code, data], markers left out. */
  readonly events: [number, string, string][] = [];
  readonly markers: [number, string][] = [];

  line(l: string): void {
    if (!this.header) {
      this.header = JSON.parse(l) as { width?: number; height?: number };
      return;
    }
    const ev = JSON.parse(l) as [number, string, string];
    if (!Array.isArray(ev) || typeof ev[0] !== 'number' || typeof ev[1] !== 'string') return;
    const data = typeof ev[2] === 'string' ? ev[2] : String(ev[2]);
    if (ev[1] === 'm') this.markers.push([ev[0], data]);
    else this.events.push([ev[0] * 1000, ev[1], data]);
  }

  cast(): Cast {
    const h = this.header ?? {};
    const n = this.events.length;
    return { cols: h.width ?? 80, rows: h.height ?? 24, events: this.events, markers: this.markers, duration: n ? this.events[n - 1][0] / 1000 : 0 };
  }
}

export interface PlayerHandle {
  el: HTMLElement;
  seek(seconds: number): Promise<void>;
  dispose(): void;
}

/** The player for request `seq` of session `id` (without: all its exec/attach, one after the other), with its controls. */
export async function renderPlayer(box: HTMLElement, id: string, seq?: number): Promise<PlayerHandle> {
  const url = `${sessionPath(id)}/cast?${seq !== undefined ? `seq=${seq}&` : ''}stdin=true`;
  const t0 = performance.now();
  const reader = new CastReader();
  await streamLines(url, (l) => reader.line(l));
  const cast = reader.cast();
  const screen = h('div', { class: 'player-screen', data: { testid: 'player' } });
  const speedBar = h('div', { class: 'speeds', role: 'group', ariaLabel: 'speed' });
  const markerList = h('ol', { class: 'markers' });
  const seekInput = h('input', { type: 'number', class: 'seek', ariaLabel: 'seek to seconds', placeholder: 'seconds', value: '0' });
  const time = h('span', { class: 'time' });
  const download = h('a', { class: 'download' }, 'download .cast');
  download.href = url;
  download.download = `kubetape-${id}${seq !== undefined ? `-${seq}` : ''}.cast`;
  let speed = 1;
  let player: AsciinemaPlayer.Player | undefined;

  const make = (startAt: number, autoPlay: boolean) => {
    player?.dispose();
    clear(screen);
    // The player keeps times in milliseconds internally; a parser hands it that (CastReader read them so).
    const recording = { cols: cast.cols, rows: cast.rows, events: cast.events as AsciinemaPlayer.RecordingEvent[] };
    player = AsciinemaPlayer.create({ data: () => recording, parser: (d: unknown) => d as AsciinemaPlayer.Recording }, screen, {
      cols: cast.cols,
      rows: cast.rows,
      speed,
      idleTimeLimit: IDLE_TIME_LIMIT,
      startAt,
      autoPlay,
      preload: true,
      fit: 'width',
      markers: cast.markers,
      keystrokeOverlay: true,
      controls: true,
      terminalFontSize: 'small',
    });
  };

  const seek = async (seconds: number) => {
    if (!player) return;
    const s0 = performance.now();
    await player.pause();
    await player.seek(Math.max(0, seconds));
    time.textContent = `${player.getCurrentTime().toFixed(2)} s`;
    // Read by bench/console.ts: how long the seek took until the terminal was redrawn.
    box.dataset['seekMs'] = (performance.now() - s0).toFixed(1);
    box.dataset['seekedTo'] = String(seconds);
  };

  for (const s of SPEEDS) {
    const b = h('button', { type: 'button', class: s === 1 ? 'on' : '', data: { speed: String(s) } }, `${s}x`);
    b.addEventListener('click', () => {
      speed = s;
      for (const o of speedBar.querySelectorAll('button')) o.classList.toggle('on', o === b);
      const at = player?.getCurrentTime() ?? 0;
      make(at, true);
    });
    speedBar.append(b);
  }
  cast.markers.forEach(([t, label], i) => {
    const b = h('button', { type: 'button', class: 'marker', title: `${t.toFixed(2)} s` }, h('span', { class: 't' }, `${t.toFixed(1)}s`), ' ', label);
    b.addEventListener('click', () => void player?.seek({ marker: i }).then(() => player?.play()));
    markerList.append(h('li', null, b));
  });
  const go = h('button', { type: 'button', class: 'go' }, 'go');
  go.addEventListener('click', () => void seek(Number(seekInput.value) || 0));
  seekInput.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') void seek(Number(seekInput.value) || 0);
  });

  make(0, false);
  const opened = performance.now() - t0;
  box.dataset['openMs'] = opened.toFixed(1);
  box.replaceChildren(
    h('div', { class: 'player-controls' }, speedBar, h('label', null, 'seek ', seekInput), go, time, download),
    screen,
    cast.markers.length ? h('details', { class: 'typed' }, h('summary', null, `typed commands (${cast.markers.length})`), markerList) : '',
    h(
      'p',
      { class: 'hint' },
      `idle gaps longer than ${IDLE_TIME_LIMIT} s are compressed; what was typed shows as an overlay; ${cast.events.length} events, ${cast.duration.toFixed(1)} s`,
    ),
  );
  box.dataset['ready'] = 'true';
  return { el: screen, seek, dispose: () => player?.dispose() };
}

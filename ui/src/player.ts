// The terminal player for exec and attach. asciinema-player, bundled from
// node_modules: it plays asciicast v2, which kubetape already exports (the
// API's /cast is the same format as `kubetape export`, and is what the
// download link gives), here cut by the server into segments that each
// open on a snapshot of the screen (/player, see src/console/cast-segments.ts),
// so an hour-long exec opens on its first segment and a seek replays one
// segment. It is a maintained terminal emulator (a WebAssembly VT) that
// keeps escape sequences inside the terminal it draws (titles, OSC 52
// clipboard writes and OSC 8 hyperlinks are not acted on), and it has what
// a reviewer needs: seek, markers, a keystroke overlay for stdin, speeds.
// The speed buttons (0.25x-8x), the typed-command list and the download
// around it are ours.
import * as AsciinemaPlayer from 'asciinema-player';
import { getJson, sessionPath } from './api.js';
import { h, clear } from './dom.js';

export const SPEEDS = [0.25, 0.5, 1, 2, 4, 8];
const IDLE_TIME_LIMIT = 2;
/** How long the page holds its other reads back for the player to show its first screen. */
const READY_WAIT_MS = 5000;

/** The segmented cast's index (the server's cast-segments.ts): what the controls around the player need. */
interface PlayerIndex {
  duration: number;
  term: { cols: number; rows: number };
  /** Every typed command, [seconds, line] (the player's own `markers` may be thinned for its progress bar). */
  typed: [number, string][];
  segments: { start: number; url: string }[];
}

export interface PlayerHandle {
  el: HTMLElement;
  /** Settles once the player first shows its terminal (or after a few seconds, whatever happened). */
  ready: Promise<void>;
  seek(seconds: number): Promise<void>;
  dispose(): void;
}

/** The player for request `seq` of session `id` (without: all its exec/attach, one after the other), with its controls. */
export async function renderPlayer(box: HTMLElement, id: string, seq?: number): Promise<PlayerHandle> {
  const query = `${seq !== undefined ? `seq=${seq}&` : ''}stdin=true`;
  const url = `${sessionPath(id)}/cast?${query}`;
  // The player reads the cast cut into segments, each opening on a snapshot of the screen, so a seek
  // replays one segment and opening fetches only the first (the server compresses idle gaps for it).
  const indexUrl = `${sessionPath(id)}/player?${query}&idle=${IDLE_TIME_LIMIT}`;
  const t0 = performance.now();
  const index = await getJson<PlayerIndex>(indexUrl);
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
  let firstShown: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    firstShown = resolve;
    setTimeout(resolve, READY_WAIT_MS);
  });

  const make = (startAt: number, autoPlay: boolean) => {
    player?.dispose();
    clear(screen);
    delete box.dataset['ready'];
    const source = { url: indexUrl, format: 'segmented', fetchOpts: { credentials: 'same-origin', cache: 'no-store', redirect: 'error' } };
    const p = AsciinemaPlayer.create(source as AsciinemaPlayer.UrlSource, screen, {
      cols: index.term.cols,
      rows: index.term.rows,
      speed,
      startAt,
      autoPlay,
      preload: true,
      fit: 'width',
      keystrokeOverlay: true,
      controls: true,
      terminalFontSize: 'small',
    });
    player = p;
    // "metadata": the index and the segment to start in are loaded and the terminal drawn from its snapshot.
    (p.addEventListener as (name: string, f: () => void) => void)('metadata', () => {
      if (player !== p) return;
      box.dataset['openMs'] ??= (performance.now() - t0).toFixed(1);
      box.dataset['ready'] = 'true';
      firstShown();
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
  index.typed.forEach(([t, label]) => {
    const b = h('button', { type: 'button', class: 'marker', title: `${t.toFixed(2)} s` }, h('span', { class: 't' }, `${t.toFixed(1)}s`), ' ', label);
    b.addEventListener('click', () => void player?.seek(t).then(() => player?.play()));
    markerList.append(h('li', null, b));
  });
  const go = h('button', { type: 'button', class: 'go' }, 'go');
  go.addEventListener('click', () => void seek(Number(seekInput.value) || 0));
  seekInput.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter') void seek(Number(seekInput.value) || 0);
  });

  box.replaceChildren(
    h('div', { class: 'player-controls' }, speedBar, h('label', null, 'seek ', seekInput), go, time, download),
    screen,
    index.typed.length ? h('details', { class: 'typed' }, h('summary', null, `typed commands (${index.typed.length})`), markerList) : '',
    h(
      'p',
      { class: 'hint' },
      `idle gaps longer than ${IDLE_TIME_LIMIT} s are compressed; what was typed shows as an overlay; ${index.duration.toFixed(1)} s in ${index.segments.length} segment${index.segments.length === 1 ? '' : 's'}`,
    ),
  );
  make(0, false);
  return { el: screen, ready, seek, dispose: () => player?.dispose() };
}

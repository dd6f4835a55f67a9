// An asciicast cut into segments, each opening on a snapshot of the
// terminal as it stood there: asciinema-player's "segmented" source
// (version 1: an index, then one JSON document per segment, fetched as the
// player needs it). A seek then replays one segment from its snapshot, not
// the recording from its start, so an hour of output seeks as fast as a
// minute of it, and the page fetches only the part it shows.
//
// The snapshots come from a headless terminal (xterm.js's, with its
// serialize addon) fed the same output the player would be fed; what it
// writes back is plain VT text (SGR, cursor moves, modes) that the player's
// own terminal turns into the same screen. Idle gaps are compressed here,
// as the player would do it, since it does not do so for segmented sources.
import xtermHeadless from '@xterm/headless';
import xtermSerialize from '@xterm/addon-serialize';

const { Terminal } = xtermHeadless;
const { SerializeAddon } = xtermSerialize;

/** One asciicast v2 event: [seconds, code, data]. */
export type CastEvent = [number, string, string];

export interface CastHeader {
  width: number;
  height: number;
}

export interface SegmentOptions {
  /** Gaps between events longer than this many seconds are shortened to it. */
  idleTimeLimit: number;
  /** A segment is closed after this many events ... */
  maxEvents: number;
  /** ... or this much output (characters), whichever comes first. */
  maxOutput: number;
}

export const DEFAULT_SEGMENTS: SegmentOptions = { idleTimeLimit: 2, maxEvents: 2000, maxOutput: 256 * 1024 };

export interface Segment {
  snapshot: { cols: number; rows: number; init: string };
  events: CastEvent[];
}

/**
 * Markers drawn on the player's progress bar, at most: it draws each one and restyles it at every
 * tick, which at 2,000 markers costs half a second a frame, and beyond a few hundred they overlap.
 * Every typed command is still listed (the index's `typed`); the bar shows the first of each stretch.
 */
const MAX_BAR_MARKERS = 200;

export interface SegmentedCast {
  /** Seconds, after idle compression: the last event's time. */
  duration: number;
  cols: number;
  rows: number;
  /** Every marker (a typed command), [seconds, line]. */
  markers: [number, string][];
  /** Each segment's start (its first event's time), in seconds. */
  starts: number[];
  segments: Segment[];
  /** Characters held, for the cache's budget. */
  size: number;
}

/** The player's index document, with segment URLs made by `urlOf`. */
export function segmentIndex(c: SegmentedCast, urlOf: (i: number) => string): unknown {
  return {
    version: 1,
    duration: c.duration,
    term: { cols: c.cols, rows: c.rows },
    markers: barMarkers(c.markers, c.duration),
    // kubetape's own field (the player reads only the ones above): every typed command, for the list beside the player.
    typed: c.markers,
    segments: c.starts.map((start, i) => ({ start, url: urlOf(i) })),
  };
}

/** At most MAX_BAR_MARKERS markers, the first in each equal stretch of the recording. */
function barMarkers(all: [number, string][], duration: number): [number, string][] {
  if (all.length <= MAX_BAR_MARKERS || duration <= 0) return all;
  const out: [number, string][] = [];
  let lastBucket = -1;
  for (const m of all) {
    const bucket = Math.min(MAX_BAR_MARKERS - 1, Math.floor((m[0] / duration) * MAX_BAR_MARKERS));
    if (bucket === lastBucket) continue;
    lastBucket = bucket;
    out.push(m);
  }
  return out;
}

/**
 * Cuts `events` (asciicast order, times in seconds as written) into segments.
 * Events are compressed in whole milliseconds; a cut falls only where time
 * moves on, so every event of a segment is before the next one's start, as
 * the player requires.
 */
export async function segmentCast(header: CastHeader, events: Iterable<CastEvent>, o: SegmentOptions = DEFAULT_SEGMENTS): Promise<SegmentedCast> {
  const limitMs = Math.round(o.idleTimeLimit * 1000);
  const term = new Terminal({ cols: header.width, rows: header.height, scrollback: 0, allowProposedApi: true });
  const serializer = new SerializeAddon();
  term.loadAddon(serializer);
  const flush = (text: string) => new Promise<void>((resolve) => (text ? term.write(text, resolve) : resolve()));

  const segments: Segment[] = [];
  const starts: number[] = [];
  const markers: [number, string][] = [];
  let current: Segment = { snapshot: { cols: header.width, rows: header.height, init: '' }, events: [] };
  let currentOutput = 0;
  /** Output of the current segment not yet written to the headless terminal. */
  let unwritten = '';
  let lastMs = 0;
  let prevRawMs = 0;
  let shiftMs = 0;
  let size = 0;
  let cols = header.width;
  let rows = header.height;
  starts.push(0);
  try {
    for (const [t, code, data] of events) {
      const rawMs = Math.max(prevRawMs, Math.round(t * 1000));
      if (rawMs - prevRawMs > limitMs) shiftMs += rawMs - prevRawMs - limitMs;
      prevRawMs = rawMs;
      const ms = rawMs - shiftMs;
      if (code === 'm') {
        // Markers go in the index only: the player numbers marker events by the index's list, which is thinned.
        markers.push([ms / 1000, data]);
        continue;
      }
      if ((current.events.length >= o.maxEvents || currentOutput >= o.maxOutput) && ms > lastMs) {
        await flush(unwritten);
        unwritten = '';
        segments.push(current);
        current = { snapshot: { cols, rows, init: serializer.serialize({ scrollback: 0 }) }, events: [] };
        size += current.snapshot.init.length;
        currentOutput = 0;
        starts.push(ms / 1000);
      }
      lastMs = ms;
      current.events.push([ms / 1000, code, data]);
      size += data.length + 16;
      if (code === 'o') {
        unwritten += data;
        currentOutput += data.length;
      } else if (code === 'r') {
        const m = /^(\d+)x(\d+)$/.exec(data);
        if (m) {
          await flush(unwritten);
          unwritten = '';
          cols = Number(m[1]);
          rows = Number(m[2]);
          term.resize(cols, rows);
        }
      }
    }
  } finally {
    term.dispose();
  }
  // The player wants every segment to hold an event; a recording without any gets one empty output.
  if (current.events.length === 0) current.events.push([lastMs / 1000, 'o', '']);
  const last = segments[segments.length - 1];
  if (last && starts[starts.length - 1] >= lastMs / 1000) {
    // Cut at the very last instant: a segment may not start at the end, so this one joins the one before.
    last.events.push(...current.events);
    starts.pop();
  } else {
    segments.push(current);
  }
  const duration = lastMs / 1000;
  // A line typed after the last output is marked at the end (the player refuses markers past it).
  const inRange = markers.map(([t, label]): [number, string] => [Math.min(t, duration), label]);
  return { duration, cols: header.width, rows: header.height, markers: inRange, starts, segments, size };
}

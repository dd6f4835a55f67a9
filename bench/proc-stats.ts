// Resident memory and CPU time of another process, from /proc (Linux only).
// The peak (VmHWM) is what a streamed 20 MB list is judged on: a proxy that
// buffers the body shows up there even if it frees the buffer right after.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';

export interface MemorySample {
  /** Current resident set, bytes. */
  rss: number;
  /** Peak resident set since start or since the last resetPeak, bytes. */
  hwm: number;
}

export function readMemory(pid: number): MemorySample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: statusKb(status, 'VmRSS') * 1024, hwm: statusKb(status, 'VmHWM') * 1024 };
}

/**
 * Resets the peak to the current resident set (clear_refs "5", Linux >= 4.0),
 * so an earlier phase's peak does not hide or inflate this one's. Returns
 * false when the kernel or permissions refuse; the peak then dates from start.
 */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/**
 * The process doing the work under `pid`: `pid` itself, or its deepest only
 * descendant when a launcher (such as a kubectl version dispatcher) runs the
 * real program as a child instead of exec'ing it.
 */
export function servingProcess(pid: number): number {
  let current = pid;
  for (let depth = 0; depth < 5; depth++) {
    const kids = childrenOf(current);
    if (kids.length !== 1) return current;
    current = kids[0]!;
  }
  return current;
}

/** User + system CPU time the process has used so far, seconds. */
export function cpuSeconds(pid: number): number {
  const fields = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  // utime and stime are fields 14 and 15 of stat(5), in clock ticks: 100 per second on Linux.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Fields of /proc/PID/stat from the 3rd (state) on; comm may hold spaces and parentheses. */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function childrenOf(pid: number): number[] {
  const kids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(statFields(readFileSync(`/proc/${entry}/stat`, 'utf8'))[1]) === pid) kids.push(Number(entry));
    } catch {
      // the process went away while we looked
    }
  }
  return kids;
}

function statusKb(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!m) throw new Error(`/proc status has no ${field}`);
  return Number(m[1]);
}

// Which process a pid names, robustly enough to survive pid reuse: the pid,
// the process's start time (field 22 of /proc/<pid>/stat, clock ticks since
// boot) and the boot id. A pid that is gone, a start time that differs or a
// boot id that differs all mean "that process is no longer running", even
// when some other process now has the same pid. Without /proc (not Linux)
// only the pid can be checked.
import { readFileSync } from 'node:fs';

export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/<pid>/stat, when /proc is there. */
  startTime?: string;
  /** /proc/sys/kernel/random/boot_id, when there. */
  bootId?: string;
}

/** Field 22 (starttime) of /proc/<pid>/stat; undefined when it cannot be read. */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // Field 2 (comm) is in parentheses and may hold spaces and ')': fields 3.. follow the last ')'.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const value = rest[22 - 3];
  return value && /^\d+$/.test(value) ? value : undefined;
}

/**
 * Field 3 (state) of /proc/<pid>/stat: "Z" is a zombie (killed or exited, not
 * yet reaped by its parent: kill(pid, 0) still succeeds and its start time
 * still matches), "X" is dead. Undefined when it cannot be read.
 */
export function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] || undefined;
  } catch {
    return undefined;
  }
}

let bootIdCache: string | null | undefined;
export function bootId(): string | undefined {
  if (bootIdCache === undefined) {
    try {
      bootIdCache = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || null;
    } catch {
      bootIdCache = null;
    }
  }
  return bootIdCache ?? undefined;
}

/** This process. */
export function currentProcess(): ProcessIdentity {
  const startTime = processStartTime(process.pid);
  const boot = bootId();
  return { pid: process.pid, ...(startTime ? { startTime } : {}), ...(boot ? { bootId: boot } : {}) };
}

/** Whether the process `p` names still runs (not merely some process with its pid). */
export function isRunning(p: ProcessIdentity): boolean {
  if (!Number.isInteger(p.pid) || p.pid <= 0) return false;
  const boot = bootId();
  if (p.bootId && boot && p.bootId !== boot) return false; // the machine restarted since
  try {
    process.kill(p.pid, 0);
  } catch (e) {
    // EPERM: it exists, it is someone else's.
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (p.startTime) {
    const now = processStartTime(p.pid);
    if (now !== undefined && now !== p.startTime) return false; // the pid was reused
  }
  const state = processState(p.pid);
  if (state === 'Z' || state === 'X') return false; // killed (kill -9), its parent has not reaped it yet
  return true;
}

/** Whether `p` is this very process. */
export function isCurrentProcess(p: ProcessIdentity): boolean {
  if (p.pid !== process.pid) return false;
  const me = currentProcess();
  return !p.startTime || !me.startTime || p.startTime === me.startTime;
}

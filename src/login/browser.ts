// Opening the login page in the user's browser, when there is one: $BROWSER,
// else the platform's opener (xdg-open needs a display on Linux). Returns
// false when no browser can be opened, so the caller prints the URL or
// switches to the device flow.
import { spawn } from 'node:child_process';

export function canOpenBrowser(env: NodeJS.ProcessEnv = process.env, platform = process.platform): boolean {
  if (env['BROWSER'] === 'none') return false;
  if (env['BROWSER']) return true;
  if (platform === 'darwin' || platform === 'win32') return true;
  return Boolean(env['DISPLAY'] || env['WAYLAND_DISPLAY']);
}

export function openBrowser(url: string, env: NodeJS.ProcessEnv = process.env, platform = process.platform): boolean {
  if (!canOpenBrowser(env, platform)) return false;
  const [cmd, args] = env['BROWSER']
    ? [env['BROWSER'], [url]]
    : platform === 'darwin'
      ? ['open', [url]]
      : platform === 'win32'
        ? ['cmd', ['/c', 'start', '""', url.replace(/&/g, '^&')]]
        : ['xdg-open', [url]];
  try {
    const child = spawn(cmd, args, { stdio: 'ignore', detached: true });
    child.on('error', () => undefined);
    child.unref();
    return true;
  } catch {
    return false;
  }
}

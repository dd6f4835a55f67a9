// A pseudo-terminal without native addons: python3 runs this script as
//   python3 -c PTY_SCRIPT <first-resize-wait-seconds> <command> [args...]
// fd 0 → the terminal's input, the terminal's output → fd 1,
// fd 3 ← resize requests as JSON lines {"Width":W,"Height":H} (TIOCSWINSZ on
// the master, so the kernel delivers SIGWINCH and `stty size` sees it),
// fd 2 → control lines: {"started":true} or {"error":"ENOENT","message":...}.
// The terminal starts with the first size that arrives on fd 3 (waiting
// briefly for it, as kubectl sends it first), else 80x24. Exit status is the
// command's (128+N when killed by signal N); 127 when it could not start.
// EOF on fd 3 means the parent died: the command is killed, nothing lingers.
export const PTY_SCRIPT = String.raw`
import errno, fcntl, json, os, select, signal, struct, sys, termios, time

wait_first = float(sys.argv[1])
argv = sys.argv[2:]
RESIZE = 3

def control(obj):
    os.write(2, (json.dumps(obj) + '\n').encode())

def parse_sizes(buf):
    sizes = []
    while b'\n' in buf:
        line, buf = buf.split(b'\n', 1)
        try:
            s = json.loads(line)
            sizes.append((int(s['Width']), int(s['Height'])))
        except Exception:
            pass
    return sizes, buf

def set_size(fd, w, h):
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack('HHHH', h, w, 0, 0))

resize_buf = b''
first = None
deadline = time.monotonic() + wait_first
while first is None:
    left = deadline - time.monotonic()
    if left <= 0:
        break
    r, _, _ = select.select([RESIZE], [], [], left)
    if not r:
        break
    data = os.read(RESIZE, 4096)
    if not data:
        sys.exit(1)  # whoever started us is gone
    resize_buf += data
    sizes, resize_buf = parse_sizes(resize_buf)
    if sizes:
        first = sizes[-1]

master, slave = os.openpty()
w, h = first or (80, 24)
set_size(slave, w, h)
report_r, report_w = os.pipe()
pid = os.fork()
if pid == 0:
    try:
        os.close(master)
        os.close(report_r)
        os.close(RESIZE)
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(slave, fd)
        if slave > 2:
            os.close(slave)
        # Python ignores these; exec would keep them ignored.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        signal.signal(signal.SIGXFSZ, signal.SIG_DFL)
        os.execvp(argv[0], argv)
    except OSError as e:
        os.write(report_w, json.dumps({'error': errno.errorcode.get(e.errno, 'EIO'), 'message': e.strerror}).encode())
    os._exit(127)

os.close(slave)
os.close(report_w)
report = b''
while True:
    chunk = os.read(report_r, 4096)
    if not chunk:
        break
    report += chunk
os.close(report_r)
if report:
    os.waitpid(pid, 0)
    control(json.loads(report))
    sys.exit(127)
control({'started': True})

fcntl.fcntl(master, fcntl.F_SETFL, fcntl.fcntl(master, fcntl.F_GETFL) | os.O_NONBLOCK)
readers = [master, 0, RESIZE]
pending = b''
status = None
while True:
    want_read = [fd for fd in readers if fd != 0 or len(pending) < 65536]
    r, wr, _ = select.select(want_read, [master] if pending else [], [], 0.1)
    got_output = False
    if master in r:
        try:
            data = os.read(master, 65536)
        except BlockingIOError:
            data = None
        except OSError:
            data = b''
        if data == b'':
            break
        if data:
            got_output = True
            view = memoryview(data)
            while view:
                view = view[os.write(1, view):]
    if master in wr and pending:
        try:
            pending = pending[os.write(master, pending):]
        except BlockingIOError:
            pass
        except OSError:
            pending = b''
    if 0 in r:
        data = os.read(0, 65536)
        if data:
            pending += data
        else:
            readers.remove(0)
    if RESIZE in r:
        data = os.read(RESIZE, 4096)
        if not data:
            # The resize pipe lives as long as whoever started us: it is gone,
            # so hang up the terminal (SIGHUP) and make sure the command ends.
            os.close(master)
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
            os.waitpid(pid, 0)
            sys.exit(129)
        else:
            resize_buf += data
            sizes, resize_buf = parse_sizes(resize_buf)
            for w, h in sizes:
                set_size(master, w, h)
    if status is None:
        done, st = os.waitpid(pid, os.WNOHANG)
        if done:
            status = st
    if status is not None and not got_output:
        break

if status is None:
    _, status = os.waitpid(pid, 0)
code = os.waitstatus_to_exitcode(status)
sys.exit(128 - code if code < 0 else code)
`;

/**
 * The probe a compute check runs as a job: a Python script (python3 is on every tier's path: the sandbox
 * binds the host's read-only /usr) that attempts what a hostile job would and prints one line per attempt,
 * `VERIFY_PROBE {"probe": ..., "admitted": true|false, "detail": ...}`. Network attempts are connects
 * only (no byte is sent); limits are tested just past the job's own request and released at once.
 */

export interface ProbeTargets {
  /** Host files to read. */
  files: string[];
  /** Directories to list (the platform's home, when the operator names it). */
  dirs: string[];
  /** host:port pairs to connect to. */
  connects: string[];
  /** Bytes to allocate (above the job's memory request), processes to start, bytes to write. */
  memoryBytes: number;
  pids: number;
  diskBytes: number;
  /** A tenant path of another tenant, asked through the job's own API relay with its own token. */
  otherTenantPath: string;
}

export const probeScript = `
import json, os, socket, sys, time, urllib.request
T = json.loads(os.environ['VERIFY_TARGETS'])
def report(probe, admitted, detail):
    print('VERIFY_PROBE ' + json.dumps({'probe': probe, 'admitted': bool(admitted), 'detail': str(detail)[:300]}), flush=True)
for f in T['files']:
    try:
        with open(f, 'rb') as h: data = h.read(64)
        report('read ' + f, True, '%d bytes read' % len(data))
    except Exception as e: report('read ' + f, False, type(e).__name__ + ': ' + str(e))
for d in T['dirs']:
    try:
        names = os.listdir(d)
        report('list ' + d, True, '%d entries: %s' % (len(names), ','.join(sorted(names)[:8])))
    except Exception as e: report('list ' + d, False, type(e).__name__ + ': ' + str(e))
try:
    me = os.getpid(); seen = []
    for p in os.listdir('/proc'):
        if not p.isdigit(): continue
        try:
            with open('/proc/%s/cmdline' % p, 'rb') as h: cmd = h.read(200).replace(b'\\0', b' ').decode(errors='replace')
        except Exception: continue
        seen.append((p, cmd))
    with open('/proc/1/cmdline', 'rb') as h: init = h.read(200).replace(b'\\0', b' ').decode(errors='replace')
    # A job in its own PID namespace sees its own init (bwrap) as PID 1 and a handful of its own processes.
    foreign = [c for p, c in seen if p != '1' and 'bwrap' not in c and 'RELAY' not in c and "require('node:net')" not in c and 'VERIFY_TARGETS' not in c and 'python3 -c' not in c]
    hostview = 'bwrap' not in init or len(seen) > 16
    report('see host processes', hostview, '%d processes visible; PID 1: %s; others: %s' % (len(seen), init[:60], ' | '.join(c[:60] for c in foreign[:3])))
except Exception as e: report('see host processes', False, e)
for target in T['connects']:
    host, port = target.rsplit(':', 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM); s.settimeout(2)
    try:
        s.connect((host, int(port))); report('connect ' + target, True, 'connected')
    except Exception as e: report('connect ' + target, False, type(e).__name__ + ': ' + str(e))
    finally: s.close()
try:
    os.setuid(0); report('setuid(0)', True, 'uid now %d' % os.getuid())
except Exception as e: report('setuid(0)', False, type(e).__name__ + ': ' + str(e))
try:
    with open('/proc/self/status') as h: status = dict(l.split(':', 1) for l in h.read().splitlines() if ':' in l)
    capeff = int(status.get('CapEff', '0').strip(), 16)
    report('hold capabilities', capeff != 0, 'CapEff=%s NoNewPrivs=%s uid=%d' % (status.get('CapEff', '?').strip(), status.get('NoNewPrivs', '?').strip(), os.getuid()))
except Exception as e: report('hold capabilities', False, e)
try:
    token = os.environ.get('MLFLOW_TRACKING_TOKEN'); base = os.environ.get('MLFLOW_TRACKING_URI') or os.environ.get('BULKHEAD_API_URL')
    req = urllib.request.Request(base + T['otherTenantPath'], headers={'authorization': 'Bearer ' + token})
    try:
        with urllib.request.urlopen(req, timeout=5) as r: report('job token on another tenant', r.status < 300, 'HTTP %d' % r.status)
    except urllib.error.HTTPError as e: report('job token on another tenant', e.code < 300, 'HTTP %d' % e.code)
    print('VERIFY_JOB_TOKEN ' + token, flush=True)
except Exception as e: report('job token on another tenant', False, type(e).__name__ + ': ' + str(e))
print('VERIFY_PHASE pids', flush=True)
try:
    kids = 0
    for i in range(T['pids']):
        os.posix_spawn('/bin/sleep', ['sleep', '3'], {})
        kids += 1
    report('start %d processes' % T['pids'], True, '%d started' % kids)
except Exception as e: report('start %d processes' % T['pids'], False, '%d started, then %s' % (kids, type(e).__name__ + ': ' + str(e)))
deadline = time.time() + 10
try:
    while time.time() < deadline:
        if os.waitpid(-1, os.WNOHANG) == (0, 0): time.sleep(0.1)
except ChildProcessError: pass
print('VERIFY_PHASE disk', flush=True)
path = os.path.join(os.environ.get('BULKHEAD_WORKSPACE', '.'), 'verify-disk')
try:
    written = 0; chunk = b'\\0' * (1 << 20)
    with open(path, 'wb') as h:
        while written < T['diskBytes']:
            h.write(chunk); written += len(chunk)
        h.flush()
    report('write %d MiB' % (T['diskBytes'] >> 20), True, '%d bytes written' % written)
except Exception as e: report('write %d MiB' % (T['diskBytes'] >> 20), False, '%d bytes, then %s' % (written, type(e).__name__ + ': ' + str(e)))
finally:
    try: os.remove(path)
    except Exception: pass
# Last: exceeding memory may end the job (oom_killed), which is the expected answer.
print('VERIFY_MEMORY_START', flush=True)
try:
    block = bytearray(T['memoryBytes'])
    for i in range(0, len(block), 4096): block[i] = 1
    report('allocate %d MiB' % (T['memoryBytes'] >> 20), True, 'allocated and touched')
except MemoryError as e: report('allocate %d MiB' % (T['memoryBytes'] >> 20), False, 'MemoryError')
print('VERIFY_DONE', flush=True)
`;

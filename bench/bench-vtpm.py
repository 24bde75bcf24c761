#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench-vtpm.py: qemu-vtpm against swtpm 0.7.1 on the same disk, in one run,
# over one raw TCP data connection per server (no process per command):
# NV_Increment round trip (state persisted every time), GetRandom round
# trip, and start-up to the first answered command.  Prints the figures
# and their ratios; asserts nothing about time.  The protocol client is the
# tests' (tests/qemu-iotests/vtpm_client.py).
#
#   bench-vtpm.py BUILD_DIR [N]

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                '..', 'tests', 'qemu-iotests'))
import vtpm_client  # noqa: E402

WAIT = 20.0
NV_INDEX = 0x01500020

# TPM_RS_PW session with an empty password (the owner's auth is empty).
PW_SESSION = (9).to_bytes(4, 'big') + (0x40000009).to_bytes(4, 'big') + \
    b'\x00\x00' + b'\x01' + b'\x00\x00'


def tpm_cmd(tag, cc, body):
    size = 10 + len(body)
    return tag.to_bytes(2, 'big') + size.to_bytes(4, 'big') + \
        cc.to_bytes(4, 'big') + body


GETRANDOM = tpm_cmd(0x8001, 0x17b, (32).to_bytes(2, 'big'))
# NV_DefineSpace(owner, auth="", counter index: OWNERWRITE|OWNERREAD|NT=1)
NV_PUBLIC = NV_INDEX.to_bytes(4, 'big') + (0x000b).to_bytes(2, 'big') + \
    (0x00020012).to_bytes(4, 'big') + b'\x00\x00' + (8).to_bytes(2, 'big')
NV_DEFINE = tpm_cmd(0x8002, 0x12a,
                    (0x40000001).to_bytes(4, 'big') + PW_SESSION +
                    b'\x00\x00' + len(NV_PUBLIC).to_bytes(2, 'big') +
                    NV_PUBLIC)
NV_INCREMENT = tpm_cmd(0x8002, 0x134,
                       (0x40000001).to_bytes(4, 'big') +
                       NV_INDEX.to_bytes(4, 'big') + PW_SESSION)


def roundtrip(s, cmd):
    rsp = vtpm_client.tpm_roundtrip(s, cmd)
    if len(rsp) < 10 or len(rsp) != int.from_bytes(rsp[2:6], 'big'):
        raise IOError('server closed the connection')
    return int.from_bytes(rsp[6:10], 'big'), rsp


def connect(port, deadline):
    """Connect as soon as the server listens (start-up is measured)."""
    while True:
        try:
            return vtpm_client.connect('tcp:%d' % port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.0005)


class Server:
    """One TPM server process on a TCP port pair."""

    def __init__(self, name, argv_fn, prepare):
        self.name = name
        self.argv_fn = argv_fn
        self.prepare = prepare
        self.proc = None

    def start(self):
        self.port = vtpm_client.free_port()
        self.prepare()
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv_fn(self.port),
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        s = connect(self.port, t0 + WAIT)
        rc, _ = roundtrip(s, GETRANDOM)
        t1 = time.monotonic()
        if rc != 0:
            raise RuntimeError('%s: GetRandom failed 0x%x' % (self.name, rc))
        return s, t1 - t0

    def stop(self, s):
        s.close()
        self.proc.terminate()
        try:
            self.proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def timed(s, cmd, name):
    t0 = time.perf_counter()
    rc, _ = roundtrip(s, cmd)
    dt = time.perf_counter() - t0
    if rc != 0:
        raise RuntimeError('%s: command failed 0x%x' % (name, rc))
    return dt


BURST = 10


def DIV_ROUND_UP(a, b):
    return (a + b - 1) // b


def measure(servers, n):
    """Interleaved: round i runs on every server before round i+1, so
    load from elsewhere on the machine hits all of them alike, in an order
    that rotates from round to round."""
    res = [dict(startup=[], getrandom=[], nv_increment=[]) for _ in servers]
    for _ in range(7):
        for srv, r in zip(servers, res):
            s, dt = srv.start()
            r['startup'].append(dt)
            srv.stop(s)
    socks = []
    for srv in servers:
        s, _ = srv.start()
        rc, _ = roundtrip(s, NV_DEFINE)
        if rc != 0:
            raise RuntimeError('%s: NV_DefineSpace 0x%x' % (srv.name, rc))
        socks.append(s)
    # A round trip's latency depends on which server answered the command
    # before it (scheduler wake-ups on two cores), so a server is measured
    # in short bursts, each command following one of its own, and the
    # bursts' order rotates from round to round.
    trio = list(zip(servers, socks, res))
    for key, cmd in (('getrandom', GETRANDOM),
                     ('nv_increment', NV_INCREMENT)):
        for i in range(DIV_ROUND_UP(n, BURST)):
            k = i % len(trio)
            for srv, s, r in trio[k:] + trio[:k]:
                timed(s, cmd, srv.name)   # the burst's warm-up, not counted
                for _ in range(BURST):
                    r[key].append(timed(s, cmd, srv.name))
    for srv, s in zip(servers, socks):
        srv.stop(s)
    return [{k: statistics.median(v) for k, v in r.items()} for r in res]


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else 'build'
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 500
    vtpm = os.path.join(build, 'qemu-vtpm')
    qemu_img = os.path.join(build, 'qemu-img')
    # the same disk for everyone: one scratch directory
    work = tempfile.mkdtemp(prefix='bench-vtpm-',
                            dir=os.environ.get('BENCH_DIR', '/var/tmp'))
    img = os.path.join(work, 'nvram.raw')
    sdir = os.path.join(work, 'swtpm-dir')
    lin = os.path.join(work, 'swtpm-linear.img')
    flags = 'not-need-init,startup-clear'

    def prep_ours():
        if os.path.exists(img):
            os.unlink(img)
        subprocess.run([qemu_img, 'create', '-f', 'raw', img, '1M'],
                       check=True, stdout=subprocess.DEVNULL)

    def prep_dir():
        shutil.rmtree(sdir, ignore_errors=True)
        os.mkdir(sdir)

    def prep_lin():
        if os.path.exists(lin):
            os.unlink(lin)
        open(lin, 'wb').close()

    def argv(prog, *state):
        """The same command line for every server but its state."""
        return lambda p: [prog, 'socket', '--tpm2', *state,
                          '--server', 'type=tcp,port=%d' % p,
                          '--ctrl', 'type=tcp,port=%d' % (p + 1),
                          '--flags', flags]

    servers = [
        Server('qemu-vtpm (raw image, flush per commit)',
               argv(vtpm, '--nvram', 'file=%s,format=raw' % img), prep_ours),
        Server('swtpm 0.7.1 dir backend',
               argv('swtpm', '--tpmstate', 'dir=%s' % sdir), prep_dir),
        Server('swtpm 0.7.1 linear-file backend',
               argv('swtpm', '--tpmstate', 'backend-uri=file://%s' % lin),
               prep_lin),
    ]
    print('bench-vtpm: %d round trips each (interleaved), median; scratch on %s'
          % (n, work))
    try:
        results = measure(servers, n)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = [('NV_Increment round trip', 'nv_increment'),
            ('GetRandom round trip', 'getrandom'),
            ('start-up to first answer', 'startup')]
    print()
    print('%-28s %14s %14s %14s' % ('', 'qemu-vtpm', 'swtpm dir',
                                    'swtpm linear'))
    for label, key in rows:
        print('%-28s %12.1fus %12.1fus %12.1fus' %
              ((label,) + tuple(r[key] * 1e6 for r in results)))
    ours, sdir_r, lin_r = results
    print()
    print('ratios (qemu-vtpm / swtpm; goal in brackets):')
    print('  NV_Increment vs swtpm dir:    %.3fx  [<= 0.1x]' %
          (ours['nv_increment'] / sdir_r['nv_increment']))
    print('  NV_Increment vs swtpm linear: %.3fx  [<= 1.0x]' %
          (ours['nv_increment'] / lin_r['nv_increment']))
    print('  GetRandom vs swtpm dir:       %.3fx  [<= 1.1x]' %
          (ours['getrandom'] / sdir_r['getrandom']))
    print('  start-up vs swtpm dir:        %.3fx' %
          (ours['startup'] / sdir_r['startup']))


if __name__ == '__main__':
    main()

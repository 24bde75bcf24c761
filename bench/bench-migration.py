#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# bench-migration.py: live migration downtime of a VM whose Linux guest
# counts through its TPM (the test guest, tests/guest/), qemu-vtpm against
# swtpm 0.7.1 in the same run with the same guest and the same QEMU 7.2:
#
#   ours:  two qemu-vtpm daemons on one shared qcow2 NVRAM image, the
#          destination started with --migration incoming (it validates the
#          store at start-up and takes the image at SET_STATEBLOB);
#   swtpm: two swtpm 0.7.1 daemons, each with its own state directory
#          (0.7.1 cannot share one).
#
# Each round boots the guest on the source, waits until it has counted a
# few values, migrates it live (return-path on) and reads QEMU's own
# figure, query-migrate's "downtime" (ms).  Rounds alternate between the
# two pairs.  Prints the medians and their ratio; asserts nothing on time.
#
#   bench-migration.py BUILD_DIR [ROUNDS]

import glob
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), '..'))
QEMU = shutil.which('qemu-system-x86_64')
SWTPM = shutil.which('swtpm')
WAIT = 600.0  # a bound for hung peers, not a measurement


def wait_for(what, pred, timeout=WAIT):
    end = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > end:
            raise RuntimeError('timed out waiting for ' + what)
        time.sleep(0.05)


class QMP:
    def __init__(self, path):
        wait_for('QMP socket ' + path, lambda: os.path.exists(path))
        self.s = socket.socket(socket.AF_UNIX)
        self.s.connect(path)
        self.f = self.s.makefile('rw')
        self.f.readline()  # greeting
        self.cmd('qmp_capabilities')

    def cmd(self, name, args=None):
        msg = {'execute': name}
        if args is not None:
            msg['arguments'] = args
        self.f.write(json.dumps(msg) + '\n')
        self.f.flush()
        while True:
            r = json.loads(self.f.readline())
            if 'return' in r:
                return r['return']
            if 'error' in r:
                raise RuntimeError('%s: %s' % (name, r['error']['desc']))

    def close(self):
        self.s.close()


def last_count(console):
    try:
        with open(console, 'rb') as f:
            vals = re.findall(rb'^tpm-counter: (\d+)', f.read(), re.M)
    except FileNotFoundError:
        return -1
    return int(vals[-1]) if vals else -1


class Round:
    """One migration: two daemons, two QEMUs, in a scratch directory."""

    def __init__(self, work, kind, build, kernel, initrd):
        self.w = os.path.join(work, kind)
        os.makedirs(self.w)
        self.kind, self.build = kind, build
        self.kernel, self.initrd = kernel, initrd
        self.procs = []

    def path(self, name):
        return os.path.join(self.w, name)

    def daemon(self, name, incoming):
        ctrl, pid = self.path(name + '.ctrl'), self.path(name + '.pid')
        if self.kind == 'ours':
            cmd = [os.path.join(self.build, 'qemu-vtpm'), 'socket',
                   '--nvram', 'file=%s,format=qcow2' % self.path('nvram.qcow2')]
            if incoming:
                cmd += ['--migration', 'incoming']
        else:
            state = self.path(name + '.state')
            os.makedirs(state)
            cmd = [SWTPM, 'socket', '--tpm2', '--tpmstate', 'dir=' + state]
        cmd += ['--ctrl', 'type=unixio,path=' + ctrl, '--terminate',
                '--pid', 'file=' + pid]
        self.procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        wait_for(name + ' daemon', lambda: os.path.exists(pid))
        return ctrl

    def qemu(self, name, ctrl, incoming):
        qmp = self.path(name + '.qmp')
        cmd = [QEMU, '-S', '-nodefaults', '-display', 'none',
               '-M', 'q35,accel=tcg', '-m', '256',
               '-kernel', self.kernel, '-initrd', self.initrd,
               '-append', 'console=ttyS0 quiet panic=-1 tpmcount=0',
               '-no-reboot', '-serial', 'file:' + self.path(name + '.con'),
               '-chardev', 'socket,id=chrtpm,path=' + ctrl,
               '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm',
               '-device', 'tpm-tis,tpmdev=tpm0',
               '-qmp', 'unix:%s,server=on,wait=off' % qmp]
        if incoming:
            cmd += ['-incoming', 'defer']
        self.procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                           stderr=subprocess.DEVNULL))
        return QMP(qmp)

    def run(self):
        if self.kind == 'ours':
            subprocess.run([os.path.join(self.build, 'qemu-img'), 'create',
                            '-q', '-f', 'qcow2', self.path('nvram.qcow2'),
                            '1M'], check=True)
        src = self.qemu('src', self.daemon('a', False), False)
        dst = self.qemu('dst', self.daemon('b', True), True)
        try:
            cap = {'capabilities': [{'capability': 'return-path',
                                     'state': True}]}
            src.cmd('migrate-set-capabilities', cap)
            dst.cmd('migrate-set-capabilities', cap)
            src.cmd('cont')
            con = self.path('src.con')
            wait_for('the guest to count', lambda: last_count(con) >= 3)
            uri = 'unix:' + self.path('mig')
            dst.cmd('migrate-incoming', {'uri': uri})
            src.cmd('migrate', {'uri': uri})
            st = {}

            def ended():
                st.update(src.cmd('query-migrate'))
                return st.get('status') in ('completed', 'failed')
            wait_for('the migration', ended)
            if st['status'] != 'completed':
                raise RuntimeError('migration %s' % st['status'])
            return st['downtime'], st['total-time']
        finally:
            for q in (src, dst):
                try:
                    q.cmd('quit')
                except (OSError, RuntimeError, ValueError):
                    pass
                q.close()
            for p in self.procs:
                try:
                    p.wait(timeout=WAIT)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                            os.path.join(SRC, 'build'))
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    kernels = sorted(glob.glob('/boot/vmlinuz-*'))
    if not QEMU or not SWTPM or not kernels:
        print('bench-migration: needs qemu-system-x86_64, swtpm and a '
              'kernel in /boot (scripts/install-deps.sh)')
        return 1
    initrd = os.path.join(build, 'tests', 'guest', 'initrd.gz')
    subprocess.run([os.path.join(SRC, 'tests', 'guest',
                                 'build-initramfs.sh'), initrd], check=True)
    res = {'ours': [], 'swtpm': []}
    work = tempfile.mkdtemp(prefix='bench-migration.')
    try:
        for i in range(rounds):
            for kind in ('swtpm', 'ours'):
                d = os.path.join(work, str(i))
                os.makedirs(d, exist_ok=True)
                down, total = Round(d, kind, build, kernels[-1],
                                    initrd).run()
                res[kind].append(down)
                print('round %d %-5s downtime %4d ms  total %5d ms'
                      % (i + 1, kind, down, total))
                sys.stdout.flush()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ours, theirs = (statistics.median(res[k]) for k in ('ours', 'swtpm'))
    print('migration downtime (median of %d, ms): qemu-vtpm %.0f, '
          'swtpm 0.7.1 %.0f' % (rounds, ours, theirs))
    print('ratio qemu-vtpm/swtpm: %.2fx (goal <= 1.0x)'
          % (ours / theirs if theirs else float('inf')))
    return 0


if __name__ == '__main__':
    sys.exit(main())

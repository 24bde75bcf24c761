#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# qmp.py: a tiny QMP client for iotests.  Connects to a QEMU monitor socket
# (retrying until it appears, bounded), negotiates capabilities and sends
# commands, printing each reply as one JSON line.
#
#   qmp.py SOCK [--timeout SECS] [--pid PID] greet
#   qmp.py SOCK [--timeout SECS] CMD ['{"arg": ...}'] [CMD [ARGS]]...

import json
import os
import socket
import sys
import time


def alive(pid):
    if pid is None:
        return True
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(') ')[-1][0] != 'Z'
    except OSError:
        return False


class Qmp:
    def __init__(self, path, timeout, pid):
        end = time.monotonic() + timeout
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.settimeout(max(0.1, end - time.monotonic()))
                s.connect(path)
                break
            except OSError:
                s.close()
                if not alive(pid):
                    raise SystemExit('qmp.py: QEMU (pid %d) exited' % pid)
                if time.monotonic() > end:
                    raise SystemExit('qmp.py: no QMP socket %s after %ss' %
                                     (path, timeout))
                time.sleep(0.01)
        self.sock = s
        self.f = s.makefile('rwb')
        self.greeting = self.recv()
        if 'QMP' not in self.greeting:
            raise SystemExit('qmp.py: no QMP greeting')
        self.cmd('qmp_capabilities')

    def recv(self):
        line = self.f.readline()
        if not line:
            raise SystemExit('qmp.py: connection closed')
        return json.loads(line)

    def cmd(self, name, args=None):
        msg = {'execute': name}
        if args:
            msg['arguments'] = args
        self.f.write(json.dumps(msg).encode() + b'\n')
        self.f.flush()
        while True:
            r = self.recv()
            if 'event' in r:
                continue
            return r


def main(argv):
    path = argv[1]
    rest = argv[2:]
    timeout, pid = 20.0, None
    while rest and rest[0].startswith('--'):
        if rest[0] == '--timeout':
            timeout = float(rest[1])
        elif rest[0] == '--pid':
            pid = int(rest[1])
        rest = rest[2:]
    q = Qmp(path, timeout, pid)
    if rest == ['greet']:
        return 0
    rc = 0
    while rest:
        name = rest.pop(0)
        args = None
        if rest and rest[0].startswith('{'):
            args = json.loads(rest.pop(0))
        r = q.cmd(name, args)
        print(json.dumps(r, sort_keys=True))
        if 'error' in r:
            rc = 1
        if name == 'quit':
            break
    return rc


if __name__ == '__main__':
    sys.exit(main(sys.argv))

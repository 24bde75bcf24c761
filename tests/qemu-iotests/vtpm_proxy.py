#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vtpm_proxy.py: a man in the middle on a vTPM control channel, for the
# migration failure tests.  It listens on LISTEN (a UNIX socket; QEMU's
# -chardev connects to it), connects to the daemon's control socket CTRL,
# and forwards every request and reply, SCM_RIGHTS fds included (the data
# channel of CMD_SET_DATAFD rides along with the request), frame by frame:
# it knows each request's size as QEMU 7.2 sends it.  One SET_STATEBLOB
# may be altered on its way:
#
#   vtpm_proxy.py LISTEN CTRL LOG [ACTION]
#     pass              forward everything unchanged (the default)
#     flip:TYPE:OFF     flip every bit of the blob's byte at OFF (from the
#                       end if negative) in the SET_STATEBLOB of TYPE
#     truncate:TYPE:N   drop the blob's last N bytes (and say so in the
#                       request's length field)
#     hold:TYPE:N       send the request's header and the blob's first N
#                       bytes, write "held" to LOG and wait until the file
#                       LOG.go exists, then send the rest
#
# LOG gets one line per request ("STOP -> 00000000", "SET_STATEBLOB type 1,
# 2345 bytes, truncated by 16 -> 00000003"), "client hung up" / "daemon
# hung up" at the end.  Every wait is bounded (VTPM_PROXY_TIMEOUT, seconds).

import array
import os
import select
import socket
import sys
import time

TIMEOUT = int(os.environ.get('VTPM_PROXY_TIMEOUT', '900'))

NAMES = {1: 'GET_CAPABILITY', 2: 'INIT', 3: 'SHUTDOWN',
         4: 'GET_TPMESTABLISHED', 5: 'SET_LOCALITY', 6: 'HASH_START',
         7: 'HASH_DATA', 8: 'HASH_END', 9: 'CANCEL_TPM_CMD',
         10: 'STORE_VOLATILE', 11: 'RESET_TPMESTABLISHED',
         12: 'GET_STATEBLOB', 13: 'SET_STATEBLOB', 14: 'STOP',
         15: 'GET_CONFIG', 16: 'SET_DATAFD', 17: 'SET_BUFFERSIZE',
         18: 'GET_INFO', 19: 'LOCK_STORAGE'}
# request body sizes as QEMU 7.2 sends them (SET_STATEBLOB: its header)
BODY = {2: 4, 5: 4, 11: 4, 12: 12, 13: 12, 17: 4, 18: 16, 19: 4}
SET_STATEBLOB = 13


class Proxy:
    def __init__(self, log, action):
        self.log = open(log, 'a', buffering=1)
        self.go = log + '.go'
        self.action = action.split(':')
        self.buf = b''
        self.fds = []
        self.pending = None     # the request whose reply we wait for
        self.reply = b''

    def say(self, line):
        self.log.write(line + '\n')

    def request(self):
        """A complete request from self.buf, or None."""
        if len(self.buf) < 4:
            return None
        code = int.from_bytes(self.buf[:4], 'big')
        need = 4 + BODY.get(code, 0)
        if code == SET_STATEBLOB and len(self.buf) >= need:
            need += int.from_bytes(self.buf[12:16], 'big')
        if len(self.buf) < need:
            return None
        req, self.buf = self.buf[:need], self.buf[need:]
        return code, req

    def alter(self, req):
        """The SET_STATEBLOB as it goes on, a note, and a hold point."""
        kind = self.action[0]
        btype = int.from_bytes(req[8:12], 'big')
        blob = bytearray(req[16:])
        note = 'SET_STATEBLOB type %d, %d bytes' % (btype, len(blob))
        if kind == 'pass' or int(self.action[1]) != btype:
            return bytes(req), note, None
        arg = int(self.action[2])
        if kind == 'flip':
            blob[arg] ^= 0xff
            note += ', byte %d flipped' % arg
        elif kind == 'truncate':
            blob = blob[:len(blob) - arg]
            note += ', truncated by %d' % arg
        elif kind == 'hold':
            return bytes(req), note + ', held after %d' % arg, 16 + arg
        hdr = req[:12] + len(blob).to_bytes(4, 'big')
        return hdr + bytes(blob), note, None

    def forward(self, code, req, dst):
        note = NAMES.get(code, 'command 0x%x' % code)
        hold = None
        if code == SET_STATEBLOB:
            req, note, hold = self.alter(req)
        fds, self.fds = self.fds, []
        anc = []
        if fds:
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                    array.array('i', fds))]
        first = req if hold is None else req[:hold]
        dst.sendmsg([first], anc)
        for fd in fds:
            os.close(fd)
        if hold is not None:
            self.say(note.replace(', held', ': held'))
            self.say('held')
            deadline = time.monotonic() + TIMEOUT
            while not os.path.exists(self.go):
                if time.monotonic() > deadline:
                    raise SystemExit('vtpm_proxy: never released')
                time.sleep(0.05)
            dst.sendall(req[hold:])
        self.pending = note

    def got_reply(self, data):
        if self.pending is None:
            return
        self.reply += data
        if len(self.reply) >= 4:
            self.say('%s -> %s' % (self.pending, self.reply[:4].hex()))
            self.pending = None
            self.reply = b''

    def run(self, client, daemon):
        client.settimeout(None)
        daemon.settimeout(None)
        while True:
            r, _, _ = select.select([client, daemon], [], [], TIMEOUT)
            if not r:
                raise SystemExit('vtpm_proxy: idle for too long')
            if client in r:
                msg, anc, _, _ = client.recvmsg(
                    65536, socket.CMSG_SPACE(16 * 4))
                for level, typ, data in anc:
                    if level == socket.SOL_SOCKET and \
                       typ == socket.SCM_RIGHTS:
                        a = array.array('i')
                        a.frombytes(data[:len(data) - len(data) % 4])
                        self.fds.extend(a)
                if not msg:
                    self.say('client hung up')
                    return
                self.buf += msg
                while True:
                    req = self.request()
                    if req is None:
                        break
                    try:
                        self.forward(req[0], req[1], daemon)
                    except OSError:
                        self.say('daemon hung up')
                        return
            if daemon in r:
                try:
                    data = daemon.recv(65536)
                except OSError:
                    data = b''
                if not data:
                    self.say('daemon hung up')
                    return
                self.got_reply(data)
                client.sendall(data)


def main(argv):
    listen, ctrl, log = argv[1], argv[2], argv[3]
    action = argv[4] if len(argv) > 4 else 'pass'
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(listen)
    srv.listen(1)
    p = Proxy(log, action)
    p.say('listening')
    srv.settimeout(TIMEOUT)
    client, _ = srv.accept()
    srv.close()
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    daemon.settimeout(TIMEOUT)
    daemon.connect(ctrl)
    p.run(client, daemon)
    # closing both ends tells each side the other is gone
    client.close()
    daemon.close()


if __name__ == '__main__':
    main(sys.argv)

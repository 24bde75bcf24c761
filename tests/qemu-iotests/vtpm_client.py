#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
#
# vtpm_client.py: speak swtpm's control and data protocol byte by byte, as
# the tests need it (bodies of the exact sizes each real client sends, fd
# passing, raw TPM commands).  Every wait is bounded.
#
#   vtpm_client.py free-port
#   vtpm_client.py ctrl ADDR HEX            one request, print the reply hex
#   vtpm_client.py data ADDR HEX            one TPM command, print the reply
#   vtpm_client.py datafd CTRL HEX [HEX..]  SET_DATAFD with a socketpair,
#                                           then the commands on it
# ADDR is a UNIX socket path or tcp:PORT.

import array
import socket
import sys

TIMEOUT = 20


def connect(addr):
    if addr.startswith('tcp:'):
        s = socket.create_connection(('127.0.0.1', int(addr[4:])), TIMEOUT)
    else:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(TIMEOUT)
        s.connect(addr)
    s.settimeout(TIMEOUT)
    return s


def recv_exact(s, n):
    buf = b''
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def tpm_roundtrip(s, cmd):
    s.sendall(cmd)
    hdr = recv_exact(s, 10)
    if len(hdr) < 10:
        return hdr
    size = int.from_bytes(hdr[2:6], 'big')
    return hdr + recv_exact(s, size - 10)


def free_port():
    for _ in range(100):
        a = socket.socket()
        a.bind(('127.0.0.1', 0))
        port = a.getsockname()[1]
        b = socket.socket()
        try:
            b.bind(('127.0.0.1', port + 1))
        except OSError:
            a.close()
            continue
        a.close()
        b.close()
        return port
    raise SystemExit('no free port pair')


def main(argv):
    what = argv[1]
    if what == 'free-port':
        print(free_port())
    elif what == 'ctrl':
        s = connect(argv[2])
        s.sendall(bytes.fromhex(argv[3]))
        # one reply arrives in one write: a single read gets all of it
        print(s.recv(65536).hex())
    elif what == 'data':
        s = connect(argv[2])
        print(tpm_roundtrip(s, bytes.fromhex(argv[3])).hex())
    elif what == 'datafd':
        s = connect(argv[2])
        mine, theirs = socket.socketpair()
        mine.settimeout(TIMEOUT)
        fds = array.array('i', [theirs.fileno()])
        s.sendmsg([bytes.fromhex('00000010')],
                  [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
        print('SET_DATAFD ->', s.recv(64).hex())
        theirs.close()
        for h in argv[3:]:
            print(tpm_roundtrip(mine, bytes.fromhex(h)).hex())
    else:
        raise SystemExit('unknown command ' + what)


if __name__ == '__main__':
    main(sys.argv)

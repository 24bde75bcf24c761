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
#   vtpm_client.py send-close ADDR HEX      send, close our side, print any reply
#   vtpm_client.py session CTRL STEP...     one control connection; STEP is
#       setfd (SET_DATAFD with a new socketpair), ctrl:HEX (a request),
#       tpm:HEX (a TPM command on the last socketpair), hdr:HEX (the
#       reply's first 10 bytes only: for replies with random bytes),
#       cmdhdr:HEX (a command in command-header mode)
#   vtpm_client.py trickle ADDR HEX N       send HEX, then N zero bytes one
#       every 0.5 s; print when the daemon drops us
#   vtpm_client.py stall ADDR HEX           send HEX over and over, never
#       read; print "stalled" once the daemon stops taking it, and when it
#       drops us
#   vtpm_client.py idle ADDR HEX            one TPM command, then stay idle;
#       print when the daemon closes the connection
#   vtpm_client.py eof-after ADDR HEX       one TPM command; does the daemon
#       close the connection after the answer?
#   vtpm_client.py try ADDR HEX             send HEX, print the reply's first
#       10 bytes, or that the daemon closed the connection (refused us)
#   vtpm_client.py send-hold ADDR HEX       send HEX (e.g. a request cut
#       short), print "sent", then hold the connection until the daemon
#       closes it (or dies), and print that
#   vtpm_client.py nv-increments ADDR INDEX STOPFILE MAX
#       TPM2_NV_Increment of counter INDEX (owner auth, empty password) on
#       one connection, over and over, as fast as the daemon answers; one
#       line per acknowledged increment (its count); stops when STOPFILE
#       exists or after MAX, or at the first failure (printed)
#   vtpm_client.py nv-counter ADDR INDEX    TPM2_NV_Read the counter INDEX,
#       print its value
# ADDR is a UNIX socket path or tcp:PORT.  These misbehaving clients (for
# tests of the daemon's deadlines) print their progress and run until the
# daemon drops them or they are killed.

import array
import os
import select
import socket
import sys

# Bounds a failure only: a TPM command (an RSA key generation under load)
# may take many seconds.
TIMEOUT = int(os.environ.get('VTPM_CLIENT_TIMEOUT', '90'))


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


def say(*args):
    print(*args, flush=True)


def wait_closed(s):
    """Block until the daemon closes the connection."""
    s.settimeout(None)
    try:
        while s.recv(4096):
            pass
    except OSError:
        pass


def trickle(addr, head, n):
    s = connect(addr)
    s.sendall(head)
    say('started')
    s.setblocking(False)
    for _ in range(n):
        r, _, _ = select.select([s], [], [], 0.5)
        if r:
            try:
                if not s.recv(4096):
                    break
            except OSError:
                break
            continue
        try:
            s.send(b'\0')
        except OSError:
            break
    else:
        say('sent it all')
        wait_closed(s)
    say('dropped by the daemon')


def stall(addr, cmd):
    s = connect(addr)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.setblocking(False)
    blob = cmd * 256
    said = False
    while True:
        try:
            s.send(blob)
            continue
        except BlockingIOError:
            pass
        except OSError:
            break
        # no room: has the daemon stopped taking our commands?
        _, w, _ = select.select([], [s], [], 2)
        if not w and not said:
            say('stalled')
            said = True
    say('dropped by the daemon')


def nv_cmd(cc, index, params=b''):
    """A TPM2 command on the owner hierarchy and NV @index, password auth."""
    body = (0x40000001).to_bytes(4, 'big') + index.to_bytes(4, 'big')
    # TPM_RS_PW, empty nonce, continueSession, empty password
    auth = bytes.fromhex('40000009' '0000' '01' '0000')
    body += len(auth).to_bytes(4, 'big') + auth + params
    return (bytes.fromhex('8002') + (10 + len(body)).to_bytes(4, 'big') +
            cc.to_bytes(4, 'big') + body)


def nv_increments(addr, index, stopfile, most):
    s = connect(addr)
    cmd = nv_cmd(0x134, index)
    n = 0
    while n < most and not os.path.exists(stopfile):
        r = tpm_roundtrip(s, cmd)
        if len(r) < 10 or r[6:10] != bytes(4):
            say('increment failed:', r[:10].hex() or 'connection closed')
            return
        n += 1
        say(n)
    say('stopped after', n)


def nv_counter(addr, index):
    s = connect(addr)
    r = tpm_roundtrip(s, nv_cmd(0x14e, index, bytes.fromhex('00080000')))
    if len(r) < 24 or r[6:10] != bytes(4):
        say('NV_Read failed:', r[:10].hex() or 'connection closed')
        return
    say(int.from_bytes(r[16:24], 'big'))


def main(argv):
    what = argv[1]
    if what == 'free-port':
        print(free_port())
    elif what == 'ctrl':
        s = connect(argv[2])
        s.sendall(bytes.fromhex(argv[3]))
        # one reply arrives in one write: a single read gets all of it
        print(s.recv(65536).hex())
    elif what == 'send-close':
        s = connect(argv[2])
        s.sendall(bytes.fromhex(argv[3]))
        s.shutdown(socket.SHUT_WR)
        print('reply:', s.recv(64).hex() or 'none (hung up)')
    elif what == 'trickle':
        trickle(argv[2], bytes.fromhex(argv[3]), int(argv[4]))
    elif what == 'stall':
        stall(argv[2], bytes.fromhex(argv[3]))
    elif what == 'idle':
        s = connect(argv[2])
        say('answer:', tpm_roundtrip(s, bytes.fromhex(argv[3]))[:10].hex())
        wait_closed(s)
        say('closed by the daemon')
    elif what == 'try':
        try:
            s = connect(argv[2])
            s.sendall(bytes.fromhex(argv[3]))
            r = s.recv(10)
        except (BrokenPipeError, ConnectionResetError):
            r = b''
        say(r.hex() if r else 'closed by the daemon')
    elif what == 'eof-after':
        s = connect(argv[2])
        say('answer:', tpm_roundtrip(s, bytes.fromhex(argv[3]))[:10].hex())
        # How long to wait for the close that should not come (only this
        # wait: the command itself may take as long as TIMEOUT allows).
        s.settimeout(float(os.environ.get('VTPM_CLIENT_EOF_WAIT', TIMEOUT)))
        try:
            say('closed after the answer' if not s.recv(64)
                else 'more data after the answer')
        except socket.timeout:
            say('still open after the answer')
    elif what == 'send-hold':
        s = connect(argv[2])
        s.sendall(bytes.fromhex(argv[3]))
        say('sent')
        wait_closed(s)
        say('closed by the daemon')
    elif what == 'nv-increments':
        nv_increments(argv[2], int(argv[3], 0), argv[4], int(argv[5]))
    elif what == 'nv-counter':
        nv_counter(argv[2], int(argv[3], 0))
    elif what == 'data':
        s = connect(argv[2])
        print(tpm_roundtrip(s, bytes.fromhex(argv[3])).hex())
    elif what == 'session':
        s = connect(argv[2])
        pairs = []
        for step in argv[3:]:
            if step == 'setfd':
                mine, theirs = socket.socketpair()
                mine.settimeout(TIMEOUT)
                fds = array.array('i', [theirs.fileno()])
                s.sendmsg([bytes.fromhex('00000010')],
                          [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
                theirs.close()
                r = s.recv(64)
                if r == bytes(4):
                    pairs.append(mine)
                print('setfd ->', r.hex())
            elif step.startswith('ctrl:'):
                s.sendall(bytes.fromhex(step[5:]))
                print(step, '->', s.recv(65536).hex())
            elif step.startswith('cmdhdr:'):
                # command-header mode: size u32, response, 4-byte trailer
                p = pairs[-1]
                p.sendall(bytes.fromhex(step[7:]))
                size = int.from_bytes(recv_exact(p, 4), 'big')
                r = recv_exact(p, size)
                print(step, '-> size', size, 'response', r[:10].hex(),
                      'trailer', recv_exact(p, 4).hex())
            elif step.startswith('tpm:') or step.startswith('hdr:'):
                r = tpm_roundtrip(pairs[-1], bytes.fromhex(step[4:]))
                if step.startswith('hdr:'):
                    r = r[:10]
                print(step, '->', r.hex())
            else:
                raise SystemExit('unknown step ' + step)
    else:
        raise SystemExit('unknown command ' + what)


if __name__ == '__main__':
    main(sys.argv)

#!/usr/bin/python3
# broker-auth.t -- mqspec-broker's users: the password file and the
# `mqspec-broker passwd` tool (PBKDF2 entries, mode 0600, replace, delete,
# stdin), the CONNACK codes for a wrong password (0x86 / 4) and for an
# anonymous client where none is allowed (0x87 / 5), allow_anonymous, plain
# `user` lines, a malformed file, and session ownership: another user's
# CONNECT for a client id is refused as not authorized and leaves the owner's
# connection and session alone. Raw sockets, loopback only. About 1 s.
import os, re, socket, stat, struct, subprocess, sys, tempfile, time

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
B = os.environ.get('BROKER', 'build/mqspec-broker')
if not os.access(B, os.X_OK):
    print('1..0 # SKIP %s not built' % B); sys.exit(0)
n = 0
failed = False
def ok(c, d, detail=''):
    global n, failed
    n += 1
    print('%s %d - %s' % ('ok' if c else 'not ok', n, d))
    if not c:
        failed = True
        if detail:
            print('#   %s' % detail)
    return c

tmp = tempfile.mkdtemp()
pw = os.path.join(tmp, 'passwd')

def passwd(*args, stdin=None):
    return subprocess.run([B, 'passwd'] + list(args), input=stdin, capture_output=True, text=True)

# ---- the tool ----
r1 = passwd('-b', '-i', '1000', pw, 'alice', 'secret-a')
r2 = passwd('-i', '1000', pw, 'bob', stdin='secret-b\n')
r3 = passwd('-b', '-i', '1000', '--sha256', pw, 'carol', 'c')
lines = open(pw).read().splitlines()
ok(r1.returncode == r2.returncode == r3.returncode == 0 and len(lines) == 3,
   'passwd -b, passwd with the password on stdin, --sha256: three entries', str(lines))
ok(re.fullmatch(r'alice:\$pbkdf2-sha512\$1000\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{88}', lines[0]) is not None
   and lines[2].startswith('carol:$pbkdf2-sha256$1000$') and 'secret' not in open(pw).read(),
   'entries are NAME:$pbkdf2-sha512$ITER$SALT$HASH, no password in clear', lines[0])
ok(stat.S_IMODE(os.stat(pw).st_mode) == 0o600, 'the file is mode 0600')
salt_before = lines[0].split('$')[3]
passwd('-b', '-i', '1000', pw, 'alice', 'secret-a')
lines = open(pw).read().splitlines()
ok(len(lines) == 3 and lines[0].startswith('alice:') and lines[0].split('$')[3] != salt_before,
   'a second passwd for alice replaces her line in place, with a new salt')
rd = passwd('-D', pw, 'carol')
rn = passwd('-D', pw, 'nobody')
ok(rd.returncode == 0 and len(open(pw).read().splitlines()) == 2 and rn.returncode != 0
   and sorted(os.listdir(tmp)) == ['passwd'],
   '-D deletes a user, an unknown one is an error, no temporary file is left')
rb = passwd('-b', pw, 'bad:name', 'x')
ok(rb.returncode == 2, 'a user name with ":" is refused (exit 2)')

# ---- the broker ----
def start(*args, config=None):
    argv = [B, '-p', '0'] + list(args)
    if config is not None:
        cf = os.path.join(tmp, 'conf%d' % time.monotonic_ns())
        open(cf, 'w').write(config)
        argv += ['-c', cf]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.match(r'listening \S+ (\d+)', line)
    if not m:
        p.kill(); p.wait()
        return p, None
    return p, int(m.group(1))

def stop(p):
    p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill(); p.wait()

def s_utf8(s):
    b = s.encode()
    return struct.pack('>H', len(b)) + b

def rlen(n):
    out = b''
    while True:
        d = n % 128; n //= 128
        out += bytes([d | (0x80 if n else 0)])
        if not n:
            return out

def connect(port, cid, v5=True, user=None, password=None, clean=True, sei=0):
    flags = (0x02 if clean else 0) | (0x80 if user is not None else 0) | (0x40 if password is not None else 0)
    vh = s_utf8('MQTT') + bytes([5 if v5 else 4, flags]) + struct.pack('>H', 60)
    if v5:
        props = b'\x11' + struct.pack('>I', sei) if sei else b''
        vh += rlen(len(props)) + props
    pl = s_utf8(cid)
    if user is not None:
        pl += s_utf8(user)
    if password is not None:
        pl += s_utf8(password)
    body = vh + pl
    s = socket.create_connection(('127.0.0.1', port), timeout=5)
    s.sendall(b'\x10' + rlen(len(body)) + body)
    return s

def connack(s):
    """(session_present, reason) or None when closed without CONNACK."""
    try:
        h = s.recv(2)
        if len(h) < 2 or h[0] != 0x20:
            return None
        rest = b''
        while len(rest) < h[1]:
            chunk = s.recv(h[1] - len(rest))
            if not chunk:
                return None
            rest += chunk
        return rest[0] & 1, rest[1]
    except OSError:
        return None

def try_connect(port, cid, **kw):
    s = connect(port, cid, **kw)
    r = connack(s)
    s.close()
    return r

def alive(s):
    try:
        s.sendall(b'\xc0\x00')
        return s.recv(2) == b'\xd0\x00'
    except OSError:
        return False

p, port = start('--password-file', pw)
ok(port is not None, 'the broker starts with the password file')
if port:
    ok(try_connect(port, 'a1', user='alice', password='secret-a') == (0, 0), 'alice, right password: CONNACK 0x00')
    ok(try_connect(port, 'a2', user='bob', password='secret-b', v5=False) == (0, 0),
       'bob (password given on stdin), 3.1.1: return code 0')
    ok(try_connect(port, 'a3', user='alice', password='wrong') == (0, 0x86), 'wrong password, 5.0: 0x86')
    ok(try_connect(port, 'a4', user='nobody', password='x') == (0, 0x86), 'unknown user, 5.0: 0x86')
    ok(try_connect(port, 'a5', user='alice') == (0, 0x86), 'user name without password, 5.0: 0x86')
    ok(try_connect(port, 'a6', user='alice', password='wrong', v5=False) == (0, 4), 'wrong password, 3.1.1: 4')
    ok(try_connect(port, 'a7') == (0, 0x87), 'anonymous where users exist, 5.0: 0x87 Not authorized')
    ok(try_connect(port, 'a8', v5=False) == (0, 5), 'anonymous where users exist, 3.1.1: 5')

    # ---- ownership ----
    owner = connect(port, 'shared', user='alice', password='secret-a', clean=True, sei=300)
    ok(connack(owner) == (0, 0), 'alice creates the session of client id "shared"')
    ok(try_connect(port, 'shared', user='bob', password='secret-b', clean=False, sei=300) == (0, 0x87),
       "bob's CONNECT for alice's client id: 0x87 Not authorized")
    ok(try_connect(port, 'shared', user='bob', password='secret-b', clean=True, v5=False) == (0, 5),
       'bob, 3.1.1, Clean Session 1: return code 5 (cannot discard it either)')
    ok(alive(owner), "alice's connection is untouched (PINGREQ answered)")
    owner.sendall(b'\xe0\x00')
    owner.close()
    ok(try_connect(port, 'shared', user='bob', password='secret-b', clean=False, sei=300) == (0, 0x87),
       "bob cannot resume alice's offline session")
    ok(try_connect(port, 'shared', user='alice', password='secret-a', clean=False, sei=0) == (1, 0),
       'alice resumes it: Session Present 1')
    stop(p)

p, port = start('--password-file', pw, config='allow_anonymous true\nuser dave plain-d\n')
if ok(port is not None, 'allow_anonymous true and a plain user line'):
    ok(try_connect(port, 'b1') == (0, 0), 'anonymous accepted with allow_anonymous true')
    ok(try_connect(port, 'b2', user='dave', password='plain-d') == (0, 0)
       and try_connect(port, 'b3', user='dave', password='nope') == (0, 0x86),
       'a plain `user` line still works, and still refuses a wrong password')
    anon = connect(port, 'mine', clean=True, sei=300)
    connack(anon)
    ok(try_connect(port, 'mine', user='alice', password='secret-a', clean=False, sei=300) == (0, 0x87)
       and alive(anon), "a user cannot take over an anonymous client's session")
    anon.close()
    stop(p)

open(os.path.join(tmp, 'bad'), 'w').write('eve:$pbkdf2-sha512$1000$notbase64$topsecret\n')
r = subprocess.run([B, '-p', '0', '--password-file', os.path.join(tmp, 'bad')], capture_output=True, text=True, timeout=10)
ok(r.returncode == 2 and ':1:' in r.stderr and 'topsecret' not in r.stderr,
   'a malformed password file line: exit 2, the line is named, its contents are not printed', r.stderr.strip())

for f in os.listdir(tmp):
    os.unlink(os.path.join(tmp, f))
os.rmdir(tmp)
print('1..%d' % n)
sys.exit(1 if failed else 0)

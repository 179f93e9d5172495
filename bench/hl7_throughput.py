#!/usr/bin/env python3
"""HL7 ingestion throughput (usage: bench/hl7_throughput.py PORTAL_BIN MESSAGES CONNECTIONS): N CBC ORU^R01 messages (unique control id, placer and filler numbers)
over C MLLP connections to a `portal serve` on the embedded default; prints messages/s."""
import os, shutil, socket, subprocess, sys, tempfile, time, threading
binary, n, conns = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fixture = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'hl7', 'tests', 'fixtures', 'oru_r01_v251_cbc.hl7'), 'rb').read()
def free():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p
http, mllp = free(), free()
d = tempfile.mkdtemp()
env = dict(os.environ, PORTAL_BIND=f'127.0.0.1:{http}', PORTAL_MLLP_BIND=f'127.0.0.1:{mllp}',
           PORTAL_DATA_DIR=d, RUST_LOG='warn', NOTIFY_WORKER='false')
proc = subprocess.Popen([binary, 'serve'], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
for _ in range(300):
    try: socket.create_connection(('127.0.0.1', mllp), 0.2).close(); break
    except OSError: time.sleep(0.1)
def msg(i):
    m = fixture.replace(b'LAB20260301-0001', b'AB%07d' % i).replace(b'LAB-77120', b'AB-%07d' % i).replace(b'ORD-448812', b'ABO-%07d' % i)
    return b'\x0b' + m + b'\x1c\x0d'
codes = {}; lock = threading.Lock()
def worker(k):
    s = socket.create_connection(('127.0.0.1', mllp))
    for i in range(k, n, conns):
        s.sendall(msg(i)); buf = b''
        while not buf.endswith(b'\x1c\x0d'): buf += s.recv(65536)
        code = buf.split(b'MSA|')[1][:2].decode()
        with lock: codes[code] = codes.get(code, 0) + 1
    s.close()
t0 = time.time(); ts = [threading.Thread(target=worker, args=(k,)) for k in range(conns)]
[t.start() for t in ts]; [t.join() for t in ts]; dt = time.time() - t0
proc.terminate(); proc.wait(); shutil.rmtree(d, ignore_errors=True)
print(f'{binary}: {n} messages over {conns} connections in {dt:.1f} s = {n/dt:.0f}/s; ACKs {codes}')

"""The course's socket clients, written from the classic wire formats in the style of the course notes (plain
`socket`, `struct.pack('i', ...)`, `recv(1024)` loops), run against `porter serve --classic` by the test suite.

    python3 course_clients.py echo PORT
    python3 course_clients.py exec PORT
    python3 course_clients.py ftp PORT NAME MD5
    python3 course_clients.py udp PORT
    python3 course_clients.py http PORT
    python3 course_clients.py chat PORT EXPECTED_LINE

Each prints what it checked and exits 0, or prints the difference and exits 1.
"""
import hashlib
import socket
import struct
import sys

HOST = '127.0.0.1'


def fail(message):
    print('FAIL', message)
    sys.exit(1)


def echo(port):
    # Several clients at once: the course's server served one at a time.
    clients = []
    for i in range(3):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.connect((HOST, port))
        clients.append(client)
    for i, client in enumerate(clients):
        msg = 'hello, porter %d' % i
        client.send(msg.encode('utf-8'))
        data = client.recv(1024)
        if data != msg.upper().encode('utf-8'):
            fail('echo answered %r' % data)
    for client in clients:
        client.close()
    print('echo ok')


def run_command(client, cmd):
    client.send(cmd.encode('utf-8'))
    header = b''
    while len(header) < 4:
        header += client.recv(4 - len(header))
    total_size = struct.unpack('i', header)[0]
    recv_size = 0
    recv_data = b''
    while recv_size < total_size:
        data = client.recv(1024)
        recv_data += data
        recv_size += len(data)
    return recv_data


def exec_(port):
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect((HOST, port))
    # Output far larger than one recv(1024): the length header keeps replies apart (no "sticky packets").
    out = run_command(client, 'seq 1 20000')
    expected = ''.join('%d\n' % i for i in range(1, 20001)).encode('utf-8')
    if out != expected:
        fail('seq: %d bytes, expected %d' % (len(out), len(expected)))
    out = run_command(client, 'echo out; echo err >&2')
    if out != b'out\nerr\n':
        fail('streams: %r' % out)
    out = run_command(client, 'printf "\\000\\377binary"')
    if out != b'\x00\xffbinary':
        fail('binary: %r' % out)
    client.close()
    print('exec ok')


def ftp(port, name, expected_md5):
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect((HOST, port))
    client.send(('get %s' % name).encode('utf-8'))
    file_size = int(client.recv(1024).decode('utf-8'))
    client.send(b'ok')
    recv_size = 0
    file_data = b''
    while recv_size < file_size:
        data = client.recv(min(1024, file_size - recv_size))
        file_data += data
        recv_size += len(data)
    server_md5 = b''
    while len(server_md5) < 32:
        server_md5 += client.recv(32 - len(server_md5))
    local_md5 = hashlib.md5(file_data).hexdigest()
    if server_md5.decode('utf-8') != local_md5 or local_md5 != expected_md5:
        fail('md5 %s, server %s, expected %s' % (local_md5, server_md5, expected_md5))
    # A second request on the same connection, for a name outside the root: the server closes the connection.
    client.send(b'get ../../etc/passwd')
    if client.recv(1024) != b'':
        fail('a name outside the root was answered')
    client.close()
    print('ftp ok, %d bytes, md5 %s' % (file_size, local_md5))


def udp(port):
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(5)
    client.sendto(b'udp hello', (HOST, port))
    data, addr = client.recvfrom(1024)
    if data != b'UDP HELLO':
        fail('udp answered %r' % data)
    print('udp ok')


def http(port):
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect((HOST, port))
    client.send(b'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n')
    data = b''
    while b'Hello, World' not in data:
        chunk = client.recv(1024)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    if lines[0] != 'HTTP/1.1 200 OK' or body != b'Hello, World':
        fail('http answered %r' % data)
    if 'content-length: 12' not in [line.lower() for line in lines]:
        fail('no Content-Length: %r' % lines)
    client.close()
    print('http ok')


def chat(port, expected):
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    client.connect((HOST, port))
    print('connected', flush=True)
    data = b''
    while expected.encode('utf-8') not in data:
        chunk = client.recv(1024)
        if not chunk:
            fail('closed before %r; got %r' % (expected, data))
        data += chunk
    client.send(b'hi from the course client')
    client.close()
    print('chat ok')


if __name__ == '__main__':
    kind, port = sys.argv[1], int(sys.argv[2])
    if kind == 'echo':
        echo(port)
    elif kind == 'exec':
        exec_(port)
    elif kind == 'ftp':
        ftp(port, sys.argv[3], sys.argv[4])
    elif kind == 'udp':
        udp(port)
    elif kind == 'http':
        http(port)
    elif kind == 'chat':
        chat(port, sys.argv[3])
    else:
        fail('unknown client %s' % kind)

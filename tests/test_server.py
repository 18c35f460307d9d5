"""The HTTP server: every documented error answer (server/README.md), fuzzed bodies, reCAPTCHA against a stub, CORS, gunicorn under load."""
import concurrent.futures as cf, http.server, io, json, os, random, socket, subprocess, sys, threading, time, urllib.parse, urllib.request
import re
import pytest
from PIL import Image
from conftest import ROOT, BIN, make_tiny_model
from deep_t2i.data_anime import HAIRS, EYES

sys.path.insert(0, str(ROOT / 'server'))
from app import create_app, ConfigError, ImageStore

@pytest.fixture(scope='module')
def model_dir(tmp_path_factory): return make_tiny_model(tmp_path_factory.mktemp('srv_model'))

@pytest.fixture(scope='module')
def client(model_dir, tmp_path_factory):
    app = create_app({'anime': str(model_dir), 'birds': str(tmp_path_factory.mktemp('none') / 'missing')},
                     {'IMAGE_DIR': str(tmp_path_factory.mktemp('imgs')), 'MAX_IMAGES': '5'})
    return app.test_client()

def post(c, route, body, **kw):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return c.post(route, data=data, content_type=kw.pop('content_type', 'application/json'), **kw)

def test_generate_returns_url_and_image(client):
    r = post(client, '/anime_heads', {'cap': 'blue hair red eyes', 'seed': 1})
    assert r.status_code == 200 and r.mimetype == 'text/plain'
    url = r.get_data(as_text=True)
    assert url.startswith('http://localhost/images/') and url.endswith('.jpg')
    img = client.get(url.replace('http://localhost', ''))
    assert img.status_code == 200 and img.mimetype == 'image/jpeg'
    assert Image.open(io.BytesIO(img.data)).size == (64, 64)

def test_png_accept_and_seed(client):
    a = post(client, '/anime_heads', {'cap': 'blue hair red eyes', 'seed': 7}, headers={'Accept': 'image/png'})
    b = post(client, '/anime_heads', {'cap': 'blue hair red eyes', 'seed': 7}, headers={'Accept': 'image/png'})
    c = post(client, '/anime_heads', {'cap': 'blue hair red eyes', 'seed': 8}, headers={'Accept': 'image/png'})
    assert a.mimetype == 'image/png' and a.data == b.data and a.data != c.data

@pytest.mark.parametrize('body,status,words', [
    (b'{"cap": ', 400, 'JSON'), ([1, 2], 400, 'object'), ({}, 400, 'missing'), ({'cap': ''}, 400, 'empty'),
    ({'cap': '   '}, 400, 'empty'), ({'cap': 5}, 400, 'string'), ({'cap': 'x' * 600}, 400, 'at most'),
    ({'cap': 'teal hair red eyes'}, 400, 'blonde'), ({'cap': 'blue hair red eyes', 'seed': -1}, 400, 'seed'),
    ({'cap': 'blue hair red eyes', 'seed': 'one'}, 400, 'seed'), ({'cap': 'blue hair red eyes', 'seed': True}, 400, 'seed'),
    ({'cap': 'blue hair red eyes', 'seed': 2**40}, 400, 'seed')])
def test_bad_requests(client, body, status, words):
    r = post(client, '/anime_heads', body)
    assert r.status_code == status and words in r.get_json()['error']

def test_other_error_rows(client):
    r = client.post('/anime_heads', data='cap=blue', content_type='application/x-www-form-urlencoded')
    assert r.status_code == 415 and 'application/json' in r.get_json()['error']
    r = client.get('/anime_heads'); assert r.status_code == 405 and 'GET' in r.get_json()['error']
    assert set(r.headers['Allow'].replace(' ', '').split(',')) >= {'POST', 'OPTIONS'}          # a 405 says what is allowed
    r = post(client, '/anime_heads', {'cap': 'a' * 20000}); assert r.status_code == 413 and 'error' in r.get_json()
    r = post(client, '/birds', {'cap': 'a red bird'}); assert r.status_code == 503 and 'not ready' in r.get_json()['error']
    r = client.get('/images/../../etc/passwd'); assert r.status_code == 404
    r = client.get('/images/' + 'a' * 32 + '.jpg'); assert r.status_code == 404 and 'error' in r.get_json()

def test_options_cors_and_healthz(client):
    r = client.options('/anime_heads')
    assert r.status_code == 204 and r.headers['Access-Control-Allow-Origin'] == '*' and 'POST' in r.headers['Access-Control-Allow-Methods']
    r = client.get('/healthz'); h = r.get_json()
    assert r.status_code == 503 and h['status'] == 'unavailable'                # a configured model is not ready
    assert h['models']['anime']['loaded'] and h['models']['anime']['img_size'] == 64 and not h['models']['birds']['loaded']
    text = r.get_data(as_text=True)
    assert 'missing' not in text and '/' not in text.replace('\\/', '') and 'Error' not in text   # no paths, no exception texts

def test_origins_configurable(model_dir, tmp_path):
    c = create_app({'anime': str(model_dir)}, {'ALLOWED_ORIGINS': 'https://ok.example', 'IMAGE_DIR': str(tmp_path)}).test_client()
    assert c.options('/anime_heads', headers={'Origin': 'https://ok.example'}).headers['Access-Control-Allow-Origin'] == 'https://ok.example'
    assert 'Access-Control-Allow-Origin' not in c.options('/anime_heads', headers={'Origin': 'https://evil.example'}).headers

def test_image_folder_is_bounded(client):
    store = client.application.extensions['deep_t2i']['store']
    for s in range(8): post(client, '/anime_heads', {'cap': 'red hair blue eyes', 'seed': s})
    assert len(list(store.dir.glob('*.jpg'))) <= 5

def test_demo_page_lists_tags(client):
    html = client.get('/').get_data(as_text=True)
    assert all(f'<option value="{h}">' in html for h in HAIRS) and all(f'<option value="{e}">' in html for e in EYES)

def test_fuzzed_bodies_never_500(client):
    rng = random.Random(0)
    bodies = [bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 300))) for _ in range(40)]
    bodies += [b'[' * 5000 + b']' * 5000, b'{"cap": "' + ('é' * 3000).encode() + b'"}', b'{"cap": null}', b'{"cap": ["a"]}',
               b'{"cap": {"x": 1}}', b'{"cap": "\\ud800"}', b'{"cap": "blue hair red eyes", "seed": 1e400}', b'\xff\xfe', b'{"cap": "\x00"}',
               json.dumps({'cap': '\U0001F600 hair red eyes'}).encode(), json.dumps({'cap': 'blue hair red eyes', 'token': 'x' * 100}).encode()]
    for b in bodies:
        for route in ('/anime_heads', '/birds'):
            r = post(client, route, b)
            assert r.status_code < 500 or r.status_code == 503, (b[:50], r.status_code, r.data[:200])
            assert r.status_code == 200 or 'error' in r.get_json()

class _Stub(http.server.BaseHTTPRequestHandler):
    "A reCAPTCHA verify endpoint: token 'good' succeeds; tokens named after a field return that field's odd value."
    seen = []
    def do_POST(self):
        body = urllib.parse.parse_qs(self.rfile.read(int(self.headers['Content-Length'])).decode())
        _Stub.seen.append(body)
        token, ok = body['response'][0], body['secret'][0] == 's3cret'
        res = {'success': ok and token.startswith('good'), 'hostname': 'demo.example', 'action': 'generate', 'score': 0.9}
        if token == 'string-false': res['success'] = 'false'             # a truthy string is not success
        if token == 'good-other-host': res['hostname'] = 'evil.example'
        if token == 'good-low-score': res['score'] = 0.1
        self.send_response(200); self.end_headers(); self.wfile.write(json.dumps(res).encode())
    def log_message(self, *a): pass

def test_recaptcha_against_stub(model_dir, tmp_path, capsys):
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Stub)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        c = create_app({'anime': str(model_dir)}, {'RECAPTCHA_SECRET': 's3cret', 'IMAGE_DIR': str(tmp_path),
                        'RECAPTCHA_VERIFY_URL': f'http://127.0.0.1:{srv.server_port}/verify'}).test_client()
        assert post(c, '/anime_heads', {'cap': 'blue hair red eyes'}).status_code == 403
        assert post(c, '/anime_heads', {'cap': 'blue hair red eyes', 'token': 'bad'}).status_code == 403
        assert post(c, '/anime_heads', {'cap': 'blue hair red eyes', 'token': 'good'}).status_code == 200
        assert post(c, '/anime_heads', {'cap': 'blue hair red eyes', 'token': 'string-false'}).status_code == 403
        strict = create_app({'anime': str(model_dir)}, {'RECAPTCHA_SECRET': 's3cret', 'IMAGE_DIR': str(tmp_path), 'RECAPTCHA_HOSTNAME': 'demo.example',
                            'RECAPTCHA_MIN_SCORE': '0.5', 'RECAPTCHA_ACTION': 'generate', 'RECAPTCHA_SITE_KEY': 'site-key-123',
                            'RECAPTCHA_VERIFY_URL': f'http://127.0.0.1:{srv.server_port}/verify'}).test_client()
        assert post(strict, '/anime_heads', {'cap': 'blue hair red eyes', 'token': 'good'}).status_code == 200
        assert post(strict, '/anime_heads', {'cap': 'blue hair red eyes', 'token': 'good-other-host'}).status_code == 403
        assert post(strict, '/anime_heads', {'cap': 'blue hair red eyes', 'token': 'good-low-score'}).status_code == 403
        v3 = create_app({'anime': str(model_dir)}, {'RECAPTCHA_SECRET': 's3cret', 'IMAGE_DIR': str(tmp_path), 'RECAPTCHA_SITE_KEY': 'k',
                        'RECAPTCHA_VERIFY_URL': f'http://127.0.0.1:{srv.server_port}/verify'}).test_client()
        assert post(v3, '/anime_heads', {'cap': 'blue hair red eyes', 'token': 'good-low-score'}).status_code == 403   # v3: 0.5 by default
        assert post(v3, '/anime_heads', {'cap': 'blue hair red eyes', 'token': 'good'}).status_code == 200
        page = strict.get('/').get_data(as_text=True)
        assert 'render=site-key-123' in page and 'const SITE_KEY = "site-key-123"' in page     # the page can send tokens
        _Stub.seen.clear()
        post(c, '/anime_heads', {'cap': 'blue hair red eyes', 'token': 'good'}, headers={'X-Forwarded-For': '6.6.6.6'})
        assert _Stub.seen[-1]['remoteip'] == ['127.0.0.1']                  # a spoofed X-Forwarded-For is not believed
    finally: srv.shutdown()
    out = capsys.readouterr()
    assert 's3cret' not in out.out + out.err                              # the secret is never printed

def _free_port():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p

def test_gunicorn_two_workers_under_load(model_dir, tmp_path):
    port = _free_port()
    env = {**os.environ, 'DEEP_T2I_MODEL_ANIME': str(model_dir), 'DEEP_T2I_MODEL_BIRDS': '',
           'GUNICORN_WORKERS': '2', 'GUNICORN_THREADS': '2', 'IMAGE_DIR': str(tmp_path / 'img')}
    env.pop('RECAPTCHA_SECRET', None)
    p = subprocess.Popen([str(BIN / 'gunicorn'), '-c', 'gunicorn.conf.py', '--bind', f'127.0.0.1:{port}', 'app:create_app()'],
                         cwd=ROOT / 'server', env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        base = f'http://127.0.0.1:{port}'
        for _ in range(200):
            try: urllib.request.urlopen(base + '/healthz', timeout=1); break
            except Exception: time.sleep(0.2)
        def one(i):
            if i % 10 == 9: body = b'{"cap": "teal hair"}'                        # some bad requests mixed in
            else: body = json.dumps({'cap': f'{HAIRS[i % 12]} hair {EYES[i % 10]} eyes', 'seed': i}).encode()
            req = urllib.request.Request(base + '/anime_heads', data=body, headers={'Content-Type': 'application/json'})
            try:
                with urllib.request.urlopen(req, timeout=60) as r: return r.status, r.read().decode()
            except urllib.error.HTTPError as e: return e.code, e.read().decode()
        with cf.ThreadPoolExecutor(8) as ex: res = list(ex.map(one, range(200)))
        assert all(s == 200 for i, (s, _) in enumerate(res) if i % 10 != 9)
        assert all(s == 400 for i, (s, _) in enumerate(res) if i % 10 == 9)
        s, url = res[0]
        with urllib.request.urlopen(url, timeout=10) as r: assert r.headers['Content-Type'] == 'image/jpeg'
        assert urllib.request.urlopen(base + '/healthz', timeout=5).status == 200   # workers still alive
    finally:
        p.terminate(); out = p.communicate(timeout=30)[0].decode()
    assert 'Traceback' not in out


def test_empty_recaptcha_secret_is_a_startup_error(model_dir, tmp_path):
    with pytest.raises(ConfigError, match='RECAPTCHA_SECRET'):
        create_app({'anime': str(model_dir)}, {'RECAPTCHA_SECRET': '', 'IMAGE_DIR': str(tmp_path)})
    with pytest.raises(ConfigError, match='DEEP_T2I_MODELS'):
        create_app(None, {'DEEP_T2I_MODELS': 'no-equals-sign', 'IMAGE_DIR': str(tmp_path)})
    for key, bad in (('MAX_BODY_BYTES', 'lots'), ('MAX_IMAGES', '0'), ('TRUSTED_PROXIES', 'two'), ('RECAPTCHA_MIN_SCORE', 'high')):
        with pytest.raises(ConfigError, match=key): create_app({'anime': str(model_dir)}, {key: bad, 'IMAGE_DIR': str(tmp_path)})

def test_forwarded_headers_trusted_only_when_configured(model_dir, tmp_path):
    spoof = {'X-Forwarded-Host': 'evil.example', 'X-Forwarded-Proto': 'javascript', 'X-Forwarded-For': '6.6.6.6'}
    c = create_app({'anime': str(model_dir)}, {'IMAGE_DIR': str(tmp_path)}).test_client()
    url = post(c, '/anime_heads', {'cap': 'blue hair red eyes'}, headers=spoof).get_data(as_text=True)
    assert url.startswith('http://localhost/images/')                        # no proxy configured: the headers are ignored
    trusting = create_app({'anime': str(model_dir)}, {'IMAGE_DIR': str(tmp_path), 'TRUSTED_PROXIES': '1'}).test_client()
    url = post(trusting, '/anime_heads', {'cap': 'blue hair red eyes'}, headers={'X-Forwarded-Host': 'app.example', 'X-Forwarded-Proto': 'https'}).get_data(as_text=True)
    assert url.startswith('https://app.example/images/')                     # one trusted hop (the operator's proxy)
    fixed = create_app({'anime': str(model_dir)}, {'IMAGE_DIR': str(tmp_path), 'PUBLIC_URL': 'https://t2i.example/'}).test_client()
    r = post(fixed, '/anime_heads', {'cap': 'blue hair red eyes'}, headers={**spoof, 'Host': 'evil.example'})
    assert r.get_data(as_text=True).startswith('https://t2i.example/images/') and r.headers['Cache-Control'] == 'no-store'
    hosts = create_app({'anime': str(model_dir)}, {'IMAGE_DIR': str(tmp_path), 'ALLOWED_HOSTS': 't2i.example'}).test_client()
    assert post(hosts, '/anime_heads', {'cap': 'blue hair red eyes'}, headers={'Host': 'evil.example'}).status_code == 400
    assert post(hosts, '/anime_heads', {'cap': 'blue hair red eyes'}, headers={'Host': 't2i.example'}).get_data(as_text=True).startswith('http://t2i.example/images/')

def test_image_names_must_match_whole(client):
    store = client.application.extensions['deep_t2i']['store']
    (store.dir / ('a' * 32 + '.jpg\n')).write_bytes(b'not a picture')
    r = client.get('/images/' + 'a' * 32 + '.jpg%0A')
    assert r.status_code == 404 and 'error' in r.get_json()

def _put_many(folder, n, errors):
    import traceback
    from PIL import Image
    store, img = ImageStore(folder, 5), Image.new('RGB', (8, 8))
    for _ in range(n):
        try: store.put(img)
        except Exception: errors.put(traceback.format_exc())

def test_image_pruning_is_race_free_across_processes(tmp_path):
    "Two worker processes saving and pruning the same folder: no save fails because the other removed a file first."
    import multiprocessing as mp
    ctx = mp.get_context('fork'); errors = ctx.Queue()
    procs = [ctx.Process(target=_put_many, args=(tmp_path, 400, errors)) for _ in range(2)]
    for p in procs: p.start()
    for p in procs: p.join(120)
    found = []
    while not errors.empty(): found.append(errors.get())
    assert not found, found[0]
    assert len(list(tmp_path.glob('*.jpg'))) <= 5 + 2

def test_serve_any_model(model_dir, tmp_path):
    birds = make_tiny_model(tmp_path / 'b', 'birds', width=0.0625, min_ch=8)
    c = create_app(None, {'DEEP_T2I_MODEL_ANIME': str(model_dir), 'DEEP_T2I_MODEL_BIRDS': '', 'IMAGE_DIR': str(tmp_path / 'img'),
                          'DEEP_T2I_MODELS': f'mine={birds}, tags={model_dir}'}).test_client()
    r = post(c, '/generate/mine', {'cap': 'a red bird with a blue crown', 'seed': 1}, headers={'Accept': 'image/png'})
    assert r.status_code == 200 and Image.open(io.BytesIO(r.data)).size == (256, 256)
    assert post(c, '/generate/tags', {'cap': 'teal hair red eyes'}).status_code == 400     # the model's own caption rules
    r = post(c, '/generate/nope', {'cap': 'x'}); assert r.status_code == 404 and 'nope' in r.get_json()['error']
    r = post(c, '/birds', {'cap': 'a red bird'}); assert r.status_code == 404                  # birds not served here
    h = c.get('/healthz'); assert h.status_code == 200
    assert h.get_json()['models']['mine'] == {'loaded': True, 'task': 'birds', 'img_size': 256, 'input': 'caption'}
    page = c.get('/').get_data(as_text=True)
    assert 'data-name="mine"' in page and 'data-name="tags" data-tags="1"' in page and 'id="m-tags-hair"' in page

def test_dockerfile_and_dockerignore():
    docker = (ROOT / 'server' / 'Dockerfile').read_text()
    base = [l for l in docker.splitlines() if l.startswith('FROM ')][0]
    assert re.search(r':\d+\.\d+\.\d+', base), base                             # the base image is pinned
    user = [l for l in docker.splitlines() if l.startswith('USER ')]
    assert user and user[-1].split()[1] not in ('root', '0')                 # runs as a non-root user
    assert 'requirements.txt' not in docker.replace('server/requirements.txt', '')   # not the development requirements
    runtime = (ROOT / 'server' / 'requirements.txt').read_text().lower()
    assert not any(t in runtime for t in ('pytest', 'nbdev', 'selenium', 'fastai', 'jupyter'))
    ignore = (ROOT / '.dockerignore').read_text().split()
    assert {'.git', '.venv', 'runs', 'data'} <= set(ignore)

# --- gunicorn itself, over raw sockets -------------------------------------------------------------------------

@pytest.fixture(scope='module')
def live(model_dir, tmp_path_factory):
    "gunicorn with the shipped settings (one worker), the tiny anime model; yields the port."
    port, tmp = _free_port(), tmp_path_factory.mktemp('live')
    env = {**os.environ, 'DEEP_T2I_MODEL_ANIME': str(model_dir), 'DEEP_T2I_MODEL_BIRDS': '', 'IMAGE_DIR': str(tmp / 'img'),
           'GUNICORN_WORKERS': '1', 'GUNICORN_READ_TIMEOUT': '3', 'DEEP_T2I_MODELS': f'mine={model_dir}'}
    env.pop('GUNICORN_THREADS', None); env.pop('RECAPTCHA_SECRET', None)
    p = subprocess.Popen([str(BIN / 'gunicorn'), '-c', 'gunicorn.conf.py', '--bind', f'127.0.0.1:{port}', 'app:create_app()'],
                         cwd=ROOT / 'server', env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for _ in range(300):
        try: urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=1); break
        except Exception: time.sleep(0.2)
    yield port
    p.terminate(); out = p.communicate(timeout=30)[0].decode()
    assert 'Traceback' not in out, out[-3000:]

def raw(port, data:bytes, timeout=10):
    "Send raw bytes; (status code, body) of the answer."
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as s:
        s.sendall(data); buf = b''
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk: break
                buf += chunk
                if b'\r\n\r\n' in buf:
                    head, _, body = buf.partition(b'\r\n\r\n')
                    n = re.search(rb'(?i)content-length: *(\d+)', head)
                    if n and len(body) >= int(n.group(1)): break
        except socket.timeout: pass
    head, _, body = buf.partition(b'\r\n\r\n')
    return int(head.split()[1]), body

CHUNKED = b'POST /anime_heads HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n'

@pytest.mark.parametrize('body,status', [(b'ZZ\r\n{}\r\n0\r\n\r\n', 400),                  # a chunk size that is not hex
                                         (b'2\r\n{}XX0\r\n\r\n', 400),                     # a chunk without its CRLF
                                         (b''.join(b'1000\r\n' + b' ' * 4096 + b'\r\n' for _ in range(15)) + b'0\r\n\r\n', 413)])  # 60 KB
def test_malformed_or_large_chunked_bodies(live, body, status):
    code, answer = raw(live, CHUNKED + body)
    assert code == status and 'error' in json.loads(answer)

def test_slow_clients_do_not_block_the_server(live):
    "Four clients that send half a request and stall: /healthz still answers within 2 s."
    slow = [socket.create_connection(('127.0.0.1', live)) for _ in range(4)]
    try:
        for i, s in enumerate(slow):
            s.sendall(b'POST /anime_heads HTTP/1.1\r\nHost: t\r\n' if i % 2 else
                      b'POST /anime_heads HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"cap"')
        time.sleep(0.5)
        t0 = time.time()
        with urllib.request.urlopen(f'http://127.0.0.1:{live}/healthz', timeout=10) as r: assert r.status == 200
        assert time.time() - t0 < 2
    finally:
        for s in slow: s.close()

def test_make_serve_with_own_export(live):
    "As the README says: DEEP_T2I_MODELS=mine=PATH, then POST /generate/mine through gunicorn."
    req = urllib.request.Request(f'http://127.0.0.1:{live}/generate/mine', data=json.dumps({'cap': 'red hair blue eyes', 'seed': 3}).encode(),
                                 headers={'Content-Type': 'application/json', 'Accept': 'image/png'})
    with urllib.request.urlopen(req, timeout=30) as r: assert r.status == 200 and Image.open(io.BytesIO(r.read())).size == (64, 64)
    h = json.loads(urllib.request.urlopen(f'http://127.0.0.1:{live}/healthz', timeout=5).read())
    assert set(h['models']) == {'anime', 'mine'} and h['status'] == 'ok'

def test_keep_alive_connection_survives_many_requests(live):
    "One client connection reused for 1,100 requests (as a load balancer does): every answer is 200."
    import http.client
    conn = http.client.HTTPConnection('127.0.0.1', live, timeout=10)
    codes = []
    for _ in range(1100):
        conn.request('GET', '/healthz'); r = conn.getresponse(); r.read(); codes.append(r.status)
    conn.close()
    assert set(codes) == {200}, sorted(set(codes))

def test_stalled_client_is_disconnected(live):
    "A client that stops halfway through its headers loses its connection after the read timeout (3 s here)."
    with socket.create_connection(('127.0.0.1', live), timeout=15) as s:
        s.sendall(b'POST /anime_heads HTTP/1.1\r\nHost: t\r\n')
        t0 = time.time()
        try: data = s.recv(1024)
        except ConnectionResetError: data = b''
        assert time.time() - t0 < 10 and not data.startswith(b'HTTP/1.1 2')       # closed by the server, no answer of success

"""The HTTP server: every documented error answer (server/README.md), fuzzed bodies, reCAPTCHA against a stub, CORS, gunicorn under load."""
import concurrent.futures as cf, http.server, io, json, os, random, socket, subprocess, sys, threading, time, urllib.request
import pytest
from PIL import Image
from conftest import ROOT, BIN, make_tiny_model
from deep_t2i.data_anime import HAIRS, EYES

sys.path.insert(0, str(ROOT / 'server'))
from app import create_app

@pytest.fixture(scope='module')
def model_dir(tmp_path_factory): return make_tiny_model(tmp_path_factory.mktemp('srv_model'))

@pytest.fixture(scope='module')
def client(model_dir, tmp_path_factory):
    app = create_app({'anime': str(model_dir), 'birds': str(tmp_path_factory.mktemp('none') / 'missing')},
                     {'IMAGE_DIR': str(tmp_path_factory.mktemp('imgs')), 'MAX_IMAGES': '5', 'RECAPTCHA_SECRET': ''})
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
    r = post(client, '/anime_heads', {'cap': 'a' * 20000}); assert r.status_code == 413 and 'error' in r.get_json()
    r = post(client, '/birds', {'cap': 'a red bird'}); assert r.status_code == 503 and 'not ready' in r.get_json()['error']
    r = client.get('/images/../../etc/passwd'); assert r.status_code == 404
    r = client.get('/images/' + 'a' * 32 + '.jpg'); assert r.status_code == 404 and 'error' in r.get_json()

def test_options_cors_and_healthz(client):
    r = client.options('/anime_heads')
    assert r.status_code == 204 and r.headers['Access-Control-Allow-Origin'] == '*' and 'POST' in r.headers['Access-Control-Allow-Methods']
    h = client.get('/healthz').get_json()
    assert h['models']['anime']['loaded'] and h['models']['anime']['img_size'] == 64 and not h['models']['birds']['loaded']

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
    def do_POST(self):
        body = self.rfile.read(int(self.headers['Content-Length'])).decode()
        ok = 'response=good' in body and 'secret=s3cret' in body
        self.send_response(200); self.end_headers(); self.wfile.write(json.dumps({'success': ok}).encode())
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
    finally: srv.shutdown()
    out = capsys.readouterr()
    assert 's3cret' not in out.out + out.err                              # the secret is never printed

def _free_port():
    s = socket.socket(); s.bind(('127.0.0.1', 0)); p = s.getsockname()[1]; s.close(); return p

def test_gunicorn_two_workers_under_load(model_dir, tmp_path):
    port = _free_port()
    env = {**os.environ, 'DEEP_T2I_MODEL_ANIME': str(model_dir), 'DEEP_T2I_MODEL_BIRDS': str(tmp_path / 'none'),
           'GUNICORN_WORKERS': '2', 'GUNICORN_THREADS': '2', 'IMAGE_DIR': str(tmp_path / 'img'), 'RECAPTCHA_SECRET': 'not-logged'}
    p = subprocess.Popen([str(BIN / 'gunicorn'), '-c', 'gunicorn.conf.py', '--bind', f'127.0.0.1:{port}', 'app:create_app()'],
                         cwd=ROOT / 'server', env={**env, 'RECAPTCHA_SECRET': ''}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
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

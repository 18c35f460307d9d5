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

def _gunicorn(settings:dict):
    "gunicorn with the shipped settings plus `settings` on a free port (shipped thread count, no token check unless given); (process, port) once it answers."
    port, env = _free_port(), {**os.environ, **settings}
    for key in ('RECAPTCHA_SECRET', 'GUNICORN_THREADS'):
        if key not in settings: env.pop(key, None)
    p = subprocess.Popen([str(BIN / 'gunicorn'), '-c', 'gunicorn.conf.py', '--bind', f'127.0.0.1:{port}', 'app:create_app()'],
                         cwd=ROOT / 'server', env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    for _ in range(300):
        try: urllib.request.urlopen(f'http://127.0.0.1:{port}/healthz', timeout=1); break
        except urllib.error.HTTPError: break                                  # it answers (503: a model not ready)
        except Exception: time.sleep(0.2)
    return p, port

def _stop(p)->str:
    "Stop gunicorn; its output."
    p.terminate(); return p.communicate(timeout=30)[0].decode()

def test_gunicorn_two_workers_under_load(model_dir, tmp_path):
    """Two workers. An export that appears after start-up is served by both at their next request, without a restart
    (each worker used to keep its start-up failure). Through gunicorn too, no answer redirects to the client's Host,
    and a local peer's X-Forwarded-Proto is not believed without TRUSTED_PROXIES. Then 200 requests, 8 at a time."""
    import http.client
    late = tmp_path / 'late'
    p, port = _gunicorn({'DEEP_T2I_MODEL_ANIME': str(model_dir), 'DEEP_T2I_MODEL_BIRDS': '', 'DEEP_T2I_MODELS': f'late={late}',
                         'GUNICORN_WORKERS': '2', 'GUNICORN_THREADS': '2', 'IMAGE_DIR': str(tmp_path / 'img'), 'TRUSTED_PROXIES': '0'})
    def call(method, path, body=None, **headers):
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
        try:
            conn.request(method, path, body=body, headers={'Content-Type': 'application/json', **headers}); r = conn.getresponse()
            return r.status, r.headers, r.read()
        finally: conn.close()
    cap = json.dumps({'cap': 'red hair blue eyes', 'seed': 2})
    try:
        assert {call('GET', '/healthz')[0] for _ in range(6)} == {503}
        s, h, _ = call('POST', '/generate/late', cap); assert s == 503 and h['Retry-After']
        make_tiny_model(tmp_path / 'staging'); os.rename(tmp_path / 'staging', late)
        deadline = time.time() + 60                                          # each worker loads it in the background once a request sees it
        while time.time() < deadline and {call('GET', '/healthz')[0] for _ in range(8)} != {200}: time.sleep(0.2)
        assert {call('GET', '/healthz')[0] for _ in range(8)} == {200}
        assert {call('POST', '/generate/late', cap, Accept='image/png')[0] for _ in range(4)} == {200}
        for method, path in (('GET', '/images//x'), ('POST', '/generate//anime')):
            s, h, body = call(method, path, cap, Host='evil.example')
            assert s == 404 and 'Location' not in h and 'error' in json.loads(body), (path, s)
        s, _, url = call('POST', '/anime_heads', cap, **{'X-Forwarded-Proto': 'https'})
        assert s == 200 and url.decode().startswith(f'http://127.0.0.1:{port}/images/')
        def one(i):
            if i % 10 == 9: body = '{"cap": "teal hair"}'                         # some bad requests mixed in
            else: body = json.dumps({'cap': f'{HAIRS[i % 12]} hair {EYES[i % 10]} eyes', 'seed': i})
            s, _, answer = call('POST', '/anime_heads', body)
            return s, answer.decode()
        with cf.ThreadPoolExecutor(8) as ex: res = list(ex.map(one, range(200)))
        assert all(s == 200 for i, (s, _) in enumerate(res) if i % 10 != 9)
        assert all(s == 400 for i, (s, _) in enumerate(res) if i % 10 == 9)
        s, url = res[0]
        with urllib.request.urlopen(url, timeout=10) as r: assert r.headers['Content-Type'] == 'image/jpeg'
        assert call('GET', '/healthz')[0] == 200                                  # workers still alive
    finally: out = _stop(p)
    assert 'Traceback' not in out, out[-3000:]


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
    assert h.get_json()['models']['mine'] == {'loaded': True, 'optional': False, 'task': 'birds', 'img_size': 256, 'input': 'caption'}
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

def test_no_redirect_names_the_clients_host(model_dir, tmp_path):
    "Doubled slashes are 404 JSON and a trailing slash is ignored: Werkzeug's 308 would name a host the client chose."
    c = create_app({'anime': str(model_dir)}, {'IMAGE_DIR': str(tmp_path), 'PUBLIC_URL': 'https://t2i.example', 'TRUSTED_PROXIES': '1'}).test_client()
    for method, path, status in (('GET', '/images//x', 404), ('POST', '/generate//anime', 404), ('POST', '/anime_heads/', 415), ('GET', '/healthz/', 200)):
        r = c.open(path, method=method, headers={'Host': 'evil.example', 'X-Forwarded-Host': 'evil.example'})
        assert r.status_code == status and 'Location' not in r.headers and r.is_json, (method, path, r.status_code)

def test_model_that_appears_later_is_loaded_with_backoff(model_dir, tmp_path):
    "A missing model is retried when its files appear (next request), else after a doubling delay, never on every request."
    late = tmp_path / 'late'
    c = create_app({'anime': str(model_dir), 'late': str(late)}, {'IMAGE_DIR': str(tmp_path / 'img')}).test_client()
    slot = c.application.extensions['deep_t2i']['slots']['late']
    for _ in range(5): assert c.get('/healthz').status_code == 503
    r = post(c, '/generate/late', {'cap': 'red hair blue eyes'})
    assert r.status_code == 503 and 1 <= int(r.headers['Retry-After']) <= 2
    assert slot.tries == 1                                                    # start-up only: no retry on every request
    slot.next_try = 0                                                         # the delay has passed
    assert c.get('/healthz').status_code == 503; slot.loader.join(60)        # the retry runs in the background
    assert slot.tries == 2 and slot.delay == 8                                # 2 s, then 4 s, then 8 s
    assert c.get('/healthz').status_code == 503 and slot.tries == 2
    make_tiny_model(tmp_path / 'staging'); os.rename(tmp_path / 'staging', late)        # the export appears at once
    assert c.get('/healthz').status_code == 503; slot.loader.join(60)
    h = c.get('/healthz')
    assert h.status_code == 200 and h.get_json()['models']['late']['loaded'] and slot.tries == 3
    assert post(c, '/generate/late', {'cap': 'red hair blue eyes'}, headers={'Accept': 'image/png'}).status_code == 200

def test_a_slow_load_does_not_hold_requests(model_dir, tmp_path, monkeypatch):
    "A retry that takes long (a big export, or compiling) runs in a background thread: requests meanwhile get their 503 at once, one load at a time."
    import threading, time
    import deep_t2i.inference as inf
    late = tmp_path / 'late'
    c = create_app({'anime': str(model_dir), 'late': str(late)}, {'IMAGE_DIR': str(tmp_path / 'img')}).test_client()
    slot = c.application.extensions['deep_t2i']['slots']['late']
    make_tiny_model(late)
    gate, real = threading.Event(), inf.load_model
    monkeypatch.setattr(inf, 'load_model', lambda *a, **kw: (gate.wait(60), real(*a, **kw))[1])
    t0 = time.monotonic()
    for _ in range(3):
        r = post(c, '/generate/late', {'cap': 'red hair blue eyes'})
        assert r.status_code == 503 and r.headers['Retry-After'] == '1'
    assert time.monotonic() - t0 < 5                                          # answered while the load waits...
    for _ in range(200):
        if slot.tries == 2: break
        time.sleep(0.05)
    assert slot.tries == 2 and slot.loader.is_alive()                        # ...one load, not three
    gate.set(); slot.loader.join(60)
    assert post(c, '/generate/late', {'cap': 'red hair blue eyes'}, headers={'Accept': 'image/png'}).status_code == 200

def test_each_model_name_is_served_once(tmp_path):
    "A name listed twice, or a bundled name while DEEP_T2I_MODEL_<NAME> serves it, stops start-up like other bad entries."
    for models, extra, words in (('mine=/a,mine=/b', {}, "'mine' is listed twice"),
                                 ('anime=/a', {}, "set DEEP_T2I_MODEL_ANIME=PATH"),
                                 ('birds=/b', {'DEEP_T2I_MODEL_BIRDS': '/x'}, "already served by DEEP_T2I_MODEL_BIRDS")):
        with pytest.raises(ConfigError, match=re.escape(words)):
            create_app(None, {'DEEP_T2I_MODELS': models, 'IMAGE_DIR': str(tmp_path), **extra})
    app = create_app(None, {'DEEP_T2I_MODELS': f'anime={tmp_path / "a"}', 'DEEP_T2I_MODEL_ANIME': '', 'DEEP_T2I_MODEL_BIRDS': '', 'IMAGE_DIR': str(tmp_path)})
    assert list(app.extensions['deep_t2i']['slots']) == ['anime']            # a freed name may be given another model
    with pytest.raises(ConfigError, match='DEEP_T2I_OPTIONAL_MODELS names nope'):
        create_app({}, {'DEEP_T2I_OPTIONAL_MODELS': 'nope', 'IMAGE_DIR': str(tmp_path)})

def test_optional_model_leaves_the_instance_healthy(model_dir, tmp_path):
    "An optional model that is not loaded: /healthz 200 'degraded' and says which; the page shows it, with no live button."
    c = create_app({'anime': str(model_dir), 'birds': str(tmp_path / 'none'), 'late': str(tmp_path / 'none')},
                   {'IMAGE_DIR': str(tmp_path / 'img'), 'DEEP_T2I_OPTIONAL_MODELS': 'birds, late'}).test_client()
    h = c.get('/healthz'); j = h.get_json()
    assert h.status_code == 200 and j['status'] == 'degraded'
    assert j['models']['anime']['loaded'] and j['models']['birds'] == {'loaded': False, 'optional': True} == j['models']['late']
    page = c.get('/').get_data(as_text=True)
    assert '<button id="anime-go" >' in page and '<button id="birds-go" disabled>' in page and '<button id="m-late-go" disabled>' in page
    assert 'data-name="late" data-tags="0" data-ready="0"' in page and page.count('not ready on this server') == 2

@pytest.mark.parametrize('accept,png', [(None, False), ('*/*', False), ('image/png', True), ('image/png;q=0', False), ('image/*', True),
                                        ('image/png;q=0, */*', False), ('text/plain;q=0.5, image/png', True), ('image/png;q=0.5, text/plain', False),
                                        ('IMAGE/PNG', True), ('text/html, image/png;q=0.9', True)])
def test_png_by_accept_q_values(client, accept, png):
    r = post(client, '/anime_heads', {'cap': 'blue hair red eyes', 'seed': 1}, headers={'Accept': accept} if accept else {})
    assert r.status_code == 200 and r.mimetype == ('image/png' if png else 'text/plain') and 'Accept' in r.headers['Vary']

def test_host_and_scheme_checks(model_dir, tmp_path):
    "A malformed Host, an unlisted host or port, or a scheme other than http(s) gets 400 JSON; URLs use the listed host."
    url = lambda c, **h: post(c, '/anime_heads', {'cap': 'blue hair red eyes'}, headers=h)
    plain = create_app({'anime': str(model_dir)}, {'IMAGE_DIR': str(tmp_path)}).test_client()
    for host in ('a b', 'a/b', 'évil.example', 'x:0', 'x:99999', 'x:y'):
        r = url(plain, Host=host); assert r.status_code == 400 and 'Host' in r.get_json()['error'], host
    assert plain.get('/healthz', headers={'Host': 'a b'}).status_code == 400
    assert url(plain, Host='[::1]:8080').get_data(as_text=True).startswith('http://[::1]:8080/images/')
    hosts = create_app({'anime': str(model_dir)}, {'IMAGE_DIR': str(tmp_path), 'ALLOWED_HOSTS': 'T2I.example, localhost:8080'}).test_client()
    assert url(hosts, Host='t2i.EXAMPLE').get_data(as_text=True).startswith('http://t2i.example/images/')    # host names ignore case
    assert url(hosts, Host='t2i.example:80').get_data(as_text=True).startswith('http://t2i.example/images/')  # the default port
    assert url(hosts, Host='localhost:8080').get_data(as_text=True).startswith('http://localhost:8080/images/')
    for host in ('t2i.example:6666', 'localhost', 'localhost:9090', 'evil.example'):
        assert url(hosts, Host=host).status_code == 400, host                                          # the port is checked too
    proxied = create_app({'anime': str(model_dir)}, {'IMAGE_DIR': str(tmp_path), 'TRUSTED_PROXIES': '1'}).test_client()
    for proto in ('javascript', 'data', 'HTTPS '):
        r = url(proxied, **{'X-Forwarded-Proto': proto}); assert r.status_code == 400 and 'X-Forwarded-Proto' in r.get_json()['error']
    r = url(proxied, **{'X-Forwarded-Host': 'a b'}); assert r.status_code == 400
    with pytest.raises(ConfigError, match='ALLOWED_HOSTS'): create_app({}, {'IMAGE_DIR': str(tmp_path), 'ALLOWED_HOSTS': 'https://t2i.example'})

def test_host_checked_by_the_app_itself(model_dir, tmp_path, monkeypatch):
    "An older Werkzeug (before 3.1.7) passes any Host on: the app's own check still refuses one that would bend the image URL."
    import werkzeug.sansio.utils as wu
    monkeypatch.setattr(wu, 'host_is_trusted', lambda hostname, trusted_list=None: True)      # no character check, as before 3.1.7
    c = create_app({'anime': str(model_dir)}, {'IMAGE_DIR': str(tmp_path)}).test_client()
    for host in ('evil.example/x?', 'a b', 'evil.example#', 'evil.example@x'):
        r = post(c, '/anime_heads', {'cap': 'blue hair red eyes'}, headers={'Host': host})
        assert r.status_code == 400 and 'Host' in r.get_json()['error'], (host, r.status_code)
    assert post(c, '/anime_heads', {'cap': 'blue hair red eyes'}, headers={'Host': 't2i.example:8080'}).get_data(as_text=True).startswith('http://t2i.example:8080/images/')

def test_allowed_hosts_wildcard_is_refused(tmp_path):
    "Werkzeug's TRUSTED_HOSTS read '.example.com' as every subdomain; ALLOWED_HOSTS has no wildcards, so it stops start-up rather than refusing every request."
    for h in ('.t2i.example', 't2i.example.'):
        with pytest.raises(ConfigError, match='no wildcards'): create_app({}, {'IMAGE_DIR': str(tmp_path), 'ALLOWED_HOSTS': h})

def test_options_unknown_model_and_nosniff(client):
    assert client.options('/generate/unknown').status_code == 404
    assert client.options('/generate/anime').status_code == 204
    url = post(client, '/anime_heads', {'cap': 'blue hair red eyes'}).get_data(as_text=True)
    for r in (client.get(url.replace('http://localhost', '')), client.get('/healthz'), client.get('/nope')):
        assert r.headers['X-Content-Type-Options'] == 'nosniff'

def test_image_pruned_during_the_request_is_never_a_500(client, monkeypatch):
    "Another worker prunes the image right after the file check Werkzeug makes before sending it: 404 or the image."
    store = client.application.extensions['deep_t2i']['store']
    name = store.put(Image.new('RGB', (8, 8)))
    isfile = os.path.isfile
    def check_then_prune(p):
        found = isfile(p); (store.dir / name).unlink(missing_ok=True); return found
    monkeypatch.setattr(os.path, 'isfile', check_then_prune)
    r = client.get('/images/' + name)
    assert r.status_code == 200 or (r.status_code == 404 and 'error' in r.get_json()), r.status_code

def test_image_pruned_just_before_it_is_opened_is_a_404(client, monkeypatch):
    "The image is pruned between the name check and the open (the race the single open leaves): a 404 JSON, never a 500 or a stale image."
    store = client.application.extensions['deep_t2i']['store']
    name = store.put(Image.new('RGB', (8, 8)))
    real_open = os.open
    def prune_then_open(path, *a, **k):
        if str(path).endswith(name): (store.dir / name).unlink(missing_ok=True)
        return real_open(path, *a, **k)
    monkeypatch.setattr(os, 'open', prune_then_open)
    r = client.get('/images/' + name)
    assert r.status_code == 404 and 'error' in r.get_json()

def test_default_image_folder_is_private(model_dir, tmp_path, monkeypatch):
    "<temp>/deep_t2i_images-<uid>, mode 700; a link, another user's folder or one open to others there stops start-up."
    import tempfile
    monkeypatch.setattr(tempfile, 'tempdir', str(tmp_path))
    d = tmp_path / f'deep_t2i_images-{os.getuid()}'
    app = create_app({'anime': str(model_dir)}, {'IMAGE_DIR': ''})
    assert app.extensions['deep_t2i']['store'].dir == d and d.stat().st_mode & 0o777 == 0o700
    d.rmdir(); (tmp_path / 'planted').mkdir(); d.symlink_to(tmp_path / 'planted')
    with pytest.raises(ConfigError, match=f'{re.escape(str(d))} is a link'): create_app({}, {'IMAGE_DIR': ''})
    d.unlink(); d.mkdir(mode=0o700); d.chmod(0o755)
    with pytest.raises(ConfigError, match='open to other users'): create_app({}, {'IMAGE_DIR': ''})
    if os.getuid() == 0:                                                      # only root can give a folder away
        d.chmod(0o700); os.chown(d, 65534, 65534)
        with pytest.raises(ConfigError, match='belongs to user id 65534'): create_app({}, {'IMAGE_DIR': ''})

# --- gunicorn itself, over raw sockets -------------------------------------------------------------------------

@pytest.fixture(scope='module')
def live(model_dir, tmp_path_factory):
    "gunicorn with the shipped settings (one worker), the tiny anime model; yields the port."
    tmp = tmp_path_factory.mktemp('live')
    p, port = _gunicorn({'DEEP_T2I_MODEL_ANIME': str(model_dir), 'DEEP_T2I_MODEL_BIRDS': '', 'IMAGE_DIR': str(tmp / 'img'),
                         'GUNICORN_WORKERS': '1', 'GUNICORN_READ_TIMEOUT': '3', 'DEEP_T2I_MODELS': f'mine={model_dir}'})
    yield port
    out = _stop(p)
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

def test_unknown_words_are_named(tmp_path):
    "Words the model never saw: named beside the answer (a header on text and PNG answers, `warnings` in a JSON one); none, no header."
    m = make_tiny_model(tmp_path / 'm', 'captions', width=0.0625, min_ch=8)
    c = create_app({'mine': str(m)}, {'IMAGE_DIR': str(tmp_path / 'img')}).test_client()
    r = post(c, '/generate/mine', {'cap': 'a zzz bird qqq', 'seed': 1})
    assert r.status_code == 200 and r.mimetype == 'text/plain'
    assert json.loads(r.headers['X-Deep-T2I-Warnings']) == ['words the model never saw in training (read as <unk>): zzz, qqq']
    r = post(c, '/generate/mine', {'cap': 'a zzz bird', 'seed': 1}, headers={'Accept': 'application/json'})
    j = r.get_json()
    assert r.status_code == 200 and j['url'].endswith('.jpg') and 'zzz' in j['warnings'][0]
    r = post(c, '/generate/mine', {'cap': 'a red bird', 'seed': 1}, headers={'Accept': 'application/json'})
    assert r.get_json()['warnings'] == [] and 'X-Deep-T2I-Warnings' not in r.headers
    r = post(c, '/generate/mine', {'cap': 'a qqq bird', 'seed': 1}, headers={'Accept': 'image/png'})
    assert r.mimetype == 'image/png' and 'qqq' in json.loads(r.headers['X-Deep-T2I-Warnings'])[0]

def test_compile_setting_warms_up_at_start(model_dir, tmp_path, monkeypatch):
    "DEEP_T2I_COMPILE=1: each model is compiled and draws once while the app is created, before any request (torch.compile replaced by a stand-in: compiling for real takes minutes)."
    import torch
    calls = []
    def fake_compile(g):
        def run(*x): calls.append(len(x[0])); return g(*x)
        return run
    monkeypatch.setattr(torch, 'compile', fake_compile)
    monkeypatch.delenv('DEEP_T2I_COMPILE', raising=False)
    app = create_app({'anime': str(model_dir)}, {'IMAGE_DIR': str(tmp_path), 'DEEP_T2I_COMPILE': '1'})
    assert calls == [1]                                                      # the warm-up, at start-up
    r = post(app.test_client(), '/anime_heads', {'cap': 'blue hair red eyes', 'seed': 1})
    assert r.status_code == 200 and calls == [1, 1]                          # requests draw with the compiled generator
    create_app({'anime': str(model_dir)}, {'IMAGE_DIR': str(tmp_path)})
    assert calls == [1, 1]                                                   # off by default
    with pytest.raises(ConfigError, match='DEEP_T2I_COMPILE'):
        create_app({'anime': str(model_dir)}, {'IMAGE_DIR': str(tmp_path), 'DEEP_T2I_COMPILE': 'yes'})

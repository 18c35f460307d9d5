"""deep_t2i HTTP server: POST a caption, get a generated image (Flask app factory, run by gunicorn).

Routes (the HTTP interface documented in server/README.md):
  POST /anime_heads, POST /birds    JSON {"cap": "...", "token": "...", "seed": 0} -> 200 text/plain URL of the JPEG
                                     (with `Accept: image/png`: the PNG bytes)
  POST /generate/<name>             the same for any served model (DEEP_T2I_MODELS); an unknown name is 404
  OPTIONS on all of them            204 with CORS headers
  GET /images/<name>.jpg            a generated image
  GET /healthz                      200 JSON with the served models when all are ready, else 503 (no paths, no errors)
  GET /                             the demo page
Errors are JSON {"error": "..."} with 400/403/404/405/408/413/415/503; user input never causes a 500.

Settings (environment): DEEP_T2I_MODEL_ANIME / DEEP_T2I_MODEL_BIRDS (bundled name or export path; default the bundled
models; empty: not served), DEEP_T2I_MODELS ("name=path,name2=path2"), RECAPTCHA_SECRET (turns the token check on;
set but empty is an error), RECAPTCHA_SITE_KEY (the demo page sends tokens), RECAPTCHA_HOSTNAME, RECAPTCHA_ACTION,
RECAPTCHA_MIN_SCORE, RECAPTCHA_VERIFY_URL, TRUSTED_PROXIES (hops whose X-Forwarded-* headers are trusted; default 0),
PUBLIC_URL (base of the image URLs), ALLOWED_HOSTS (Host headers accepted), ALLOWED_ORIGINS (comma separated, default *), IMAGE_DIR, MAX_IMAGES (default 500),
MAX_BODY_BYTES (default 16384), TORCH_NUM_THREADS.
"""
from __future__ import annotations
import html, io, json, logging, os, re, tempfile, threading, urllib.parse, urllib.request, uuid
from pathlib import Path
from flask import Flask, Response, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException

log = logging.getLogger('deep_t2i.server')
ROUTES = {'anime_heads': 'anime', 'birds': 'birds'}       # the original's routes -> the served model of that name
NAME_RE = re.compile(r'[0-9a-f]{32}\.jpg')                # generated image names (checked with fullmatch)
MODEL_NAME_RE = re.compile(r'[A-Za-z0-9_-]{1,40}')
MAX_SEED = 2**32 - 1


class ApiError(Exception):
    def __init__(self, status:int, msg:str): super().__init__(msg); self.status, self.msg = status, msg


class ConfigError(Exception):
    "A server setting that cannot work: raised at start-up, before any request."


class ModelSlot:
    "One model, loaded once per worker; generation serialised by a lock (bounded memory, thread safe)."
    def __init__(self, name:str, source:str, task:str=None):
        self.name, self.source, self.task, self.model, self.lock = name, source, task, None, threading.Lock()
    def load(self):
        try:
            from deep_t2i.inference import load_model
            self.model = load_model(self.source)
            if self.task and self.model.cfg.task != self.task: raise ValueError(f"{self.source} is a {self.model.cfg.task} model, not {self.task}")
        except Exception as e:                             # the reason goes to the log only
            self.model = None
            log.warning("model %r not loaded from %s: %s: %s", self.name, self.source, type(e).__name__, e)
        return self
    @property
    def tags(self): return self.model is not None and getattr(self.model.tok, 'kind', '') == 'anime'
    def info(self):
        d = {'loaded': self.model is not None}
        if self.model is not None: d.update(task=self.model.cfg.task, img_size=self.model.img_size, input='tags' if self.tags else 'caption')
        return d


class ImageStore:
    "Generated JPEGs in a folder bounded to `max_images` files (oldest removed); safe with several processes pruning at once."
    def __init__(self, folder, max_images:int):
        self.dir, self.max, self.lock = Path(folder), max_images, threading.Lock()
        self.dir.mkdir(parents=True, exist_ok=True)
    def put(self, img)->str:
        name = uuid.uuid4().hex + '.jpg'
        buf = io.BytesIO(); img.save(buf, 'JPEG', quality=92)
        tmp = self.dir / f'.{name}.tmp'
        tmp.write_bytes(buf.getvalue()); os.replace(tmp, self.dir / name)
        with self.lock:
            try: self.prune()
            except OSError as e: log.warning("could not prune %s: %s", self.dir, e)   # the image is saved: answer anyway
        return name
    def prune(self):
        "Remove the oldest images beyond the bound; files another process removes meanwhile are skipped, not errors."
        files = []
        with os.scandir(self.dir) as it:
            for e in it:
                if not e.name.endswith('.jpg'): continue
                try: files.append((e.stat().st_mtime, e.path))
                except FileNotFoundError: pass
        files.sort()
        for _, path in files[:max(len(files) - self.max, 0)]:
            try: os.unlink(path)
            except FileNotFoundError: pass


class TokenCheck:
    "reCAPTCHA verification: success must be true, and hostname / action / score match where configured."
    def __init__(self, env:dict):
        secret = env.get('RECAPTCHA_SECRET')
        if secret is not None and not secret.strip():
            raise ConfigError("RECAPTCHA_SECRET is set but empty: set the secret, or unset the variable to turn the token check off")
        self.secret, self.site_key = secret or None, env.get('RECAPTCHA_SITE_KEY') or None
        self.url = env.get('RECAPTCHA_VERIFY_URL', 'https://www.google.com/recaptcha/api/siteverify')
        self.hostname, self.action = env.get('RECAPTCHA_HOSTNAME') or None, env.get('RECAPTCHA_ACTION') or None
        # reCAPTCHA v3 (what the demo page uses) answers success for bots too: only the score tells them apart
        try: self.min_score = float(env['RECAPTCHA_MIN_SCORE']) if env.get('RECAPTCHA_MIN_SCORE') else (0.5 if self.site_key else None)
        except ValueError: raise ConfigError(f"RECAPTCHA_MIN_SCORE must be a number, got {env['RECAPTCHA_MIN_SCORE']!r}")
        if self.secret and not self.site_key:
            log.warning("RECAPTCHA_SECRET is set without RECAPTCHA_SITE_KEY: the demo page cannot send tokens, so it will get 403s")
    def __call__(self, token, remote_ip:str=None):
        if not self.secret: return
        if not isinstance(token, str) or not token: raise ApiError(403, "missing reCAPTCHA token: send it as \"token\"")
        if len(token) > 4096: raise ApiError(403, "reCAPTCHA token check failed: reload the page and try again")
        data = urllib.parse.urlencode({'secret': self.secret, 'response': token, **({'remoteip': remote_ip} if remote_ip else {})}).encode()
        try:
            with urllib.request.urlopen(urllib.request.Request(self.url, data=data), timeout=5) as r: res = json.loads(r.read())
        except Exception:
            raise ApiError(503, "could not reach the reCAPTCHA verify service: try again later")
        if not isinstance(res, dict): res = {}
        score = res.get('score')
        ok = (res.get('success') is True
              and (self.hostname is None or res.get('hostname') == self.hostname)
              and (self.action is None or res.get('action') == self.action)
              and (self.min_score is None or (isinstance(score, (int, float)) and not isinstance(score, bool) and score >= self.min_score)))
        if not ok: raise ApiError(403, "reCAPTCHA token check failed: reload the page and try again")


def read_body(max_bytes:int)->bytes:
    "The raw request body, at most `max_bytes` whether sent with Content-Length or chunked; else an ApiError."
    n = request.content_length
    if n is not None and n > max_bytes: raise ApiError(413, f"request body is {n} bytes: at most {max_bytes}")
    stream = request.environ.get('wsgi.input')
    if stream is None: return b''
    try: raw = stream.read(n) if n is not None else stream.read(max_bytes + 1)   # chunked: read one byte past the limit to see it
    except TimeoutError: raise ApiError(408, "the request body did not arrive in time")
    except Exception:                                     # gunicorn's InvalidChunkSize, ChunkMissingTerminator, NoMoreData, ...
        raise ApiError(400, "malformed request body: bad chunked encoding, or the body ended early")
    if len(raw) > max_bytes: raise ApiError(413, f"request body is over {max_bytes} bytes: at most {max_bytes}")
    return raw


def parse_body(max_bytes:int)->dict:
    "The JSON object of the request, or an ApiError saying what is wrong."
    ctype = (request.mimetype or '').lower()
    if ctype != 'application/json': raise ApiError(415, f"send JSON with Content-Type: application/json (got {ctype or 'none'})")
    raw = read_body(max_bytes)
    try: body = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, ValueError, RecursionError): raise ApiError(400, "body is not valid UTF-8 JSON")
    if not isinstance(body, dict): raise ApiError(400, 'body must be a JSON object like {"cap": "blue hair red eyes"}')
    return body


def check_request(body:dict)->tuple:
    "(caption, seed) from the body, or an ApiError."
    from deep_t2i.core import UsageError
    from deep_t2i.inference import check_caption
    if body.get('cap') is None: raise ApiError(400, 'missing "cap": the caption to draw')
    try: cap = check_caption(body['cap'])                      # the library's own caption rules and messages
    except UsageError as e: raise ApiError(400, f'"cap": {e}')
    seed = body.get('seed')
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        raise ApiError(400, f'"seed" must be an integer from 0 to {MAX_SEED}')
    return cap, seed


def model_sources(env:dict)->dict:
    "{served name: (source, task or None)} from DEEP_T2I_MODEL_ANIME/_BIRDS and DEEP_T2I_MODELS."
    out = {}
    for task in ('anime', 'birds'):
        src = env.get(f'DEEP_T2I_MODEL_{task.upper()}', task)
        if src: out[task] = (src, task)
    for item in (env.get('DEEP_T2I_MODELS') or '').split(','):
        if not item.strip(): continue
        name, sep, src = item.partition('=')
        name, src = name.strip(), src.strip()
        if not sep or not src or not MODEL_NAME_RE.fullmatch(name):
            raise ConfigError(f"DEEP_T2I_MODELS: {item.strip()!r} is not name=path (names: letters, digits, - and _)")
        out[name] = (src, name if name in ('anime', 'birds') else None)     # /anime_heads and /birds keep their task check
    return out


def create_app(models:dict=None, # {served name: model source}; 'anime' and 'birds' also get the original routes; default from the environment
               settings:dict=None)->Flask:
    "The Flask app; models are loaded here, once per worker. Bad settings raise `ConfigError` (the server does not start)."
    env = {**os.environ, **(settings or {})}
    app = Flask(__name__, static_folder=None)
    def number(key, default, least=1):
        try: v = int(env.get(key) or default)
        except ValueError: raise ConfigError(f"{key} must be a whole number, got {env[key]!r}")
        if v < least: raise ConfigError(f"{key} must be at least {least}, got {v}")
        return v
    hops = number('TRUSTED_PROXIES', 0, least=0)
    if hops > 0:                                          # only then do X-Forwarded-* headers mean anything
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops)
    public_url = (env.get('PUBLIC_URL') or '').rstrip('/') or None
    if public_url and not re.fullmatch(r'https?://[A-Za-z0-9.-]+(:\d+)?(/[A-Za-z0-9._~/-]*)?', public_url):
        raise ConfigError(f"PUBLIC_URL must look like https://host[:port][/path], got {public_url!r}")
    max_bytes, max_images = number('MAX_BODY_BYTES', 16384), number('MAX_IMAGES', 500)
    if env.get('TORCH_NUM_THREADS'):
        import torch; torch.set_num_threads(number('TORCH_NUM_THREADS', 1))
    hosts = [h.strip() for h in (env.get('ALLOWED_HOSTS') or '').split(',') if h.strip()]
    if hosts: app.config['TRUSTED_HOSTS'] = hosts          # other Host headers get 400: URLs are built from allowed hosts only
    elif not public_url: log.warning("neither PUBLIC_URL nor ALLOWED_HOSTS is set: image URLs follow each request's Host header; set one in production")
    check_token = TokenCheck(env)
    origins = [o.strip() for o in env.get('ALLOWED_ORIGINS', '*').split(',') if o.strip()]
    store = ImageStore(env.get('IMAGE_DIR') or Path(tempfile.gettempdir()) / 'deep_t2i_images', max_images)
    sources = ({n: (str(s), n if n in ('anime', 'birds') else None) for n, s in models.items()} if models is not None else model_sources(env))
    slots = {n: ModelSlot(n, src, task).load() for n, (src, task) in sources.items()}
    app.extensions['deep_t2i'] = dict(slots=slots, store=store)

    def cors(resp):
        origin = request.headers.get('Origin')
        if '*' in origins: resp.headers['Access-Control-Allow-Origin'] = '*'
        elif origin in origins: resp.headers['Access-Control-Allow-Origin'], resp.headers['Vary'] = origin, 'Origin'
        resp.headers['Access-Control-Allow-Methods'] = 'POST, OPTIONS'
        resp.headers['Access-Control-Allow-Headers'] = 'Content-Type, Accept'
        resp.headers['Access-Control-Max-Age'] = '3600'
        return resp
    app.after_request(cors)

    @app.errorhandler(ApiError)
    def api_error(e):
        resp = jsonify(error=e.msg); resp.status_code = e.status
        return resp

    @app.errorhandler(HTTPException)
    def http_error(e):
        msgs = {404: "no such route or image", 405: f"method {request.method} is not allowed here",
                413: f"request body too large: at most {max_bytes} bytes"}
        resp = jsonify(error=msgs.get(e.code, e.description)); resp.status_code = e.code
        if e.code == 405 and getattr(e, 'valid_methods', None): resp.headers['Allow'] = ', '.join(e.valid_methods)
        return resp

    @app.errorhandler(Exception)
    def internal(e):
        log.exception("internal error")
        return jsonify(error="internal error: the request was not processed"), 500

    def generate(name:str):
        if request.method == 'OPTIONS': return Response(status=204)
        slot = slots.get(name)
        if slot is None: raise ApiError(404, f"this server does not serve a model named {name!r}: GET /healthz lists them")
        body = parse_body(max_bytes)
        check_token(body.get('token'), request.remote_addr)
        cap, seed = check_request(body)
        if slot.model is None: raise ApiError(503, f"the {name} model is not ready on this server")
        from deep_t2i.core import UsageError
        try:
            with slot.lock: img, = slot.model.generate(cap, seed=seed)
        except UsageError as e: raise ApiError(400, str(e))
        if 'image/png' in (request.headers.get('Accept') or ''):
            buf = io.BytesIO(); img.save(buf, 'PNG')
            return Response(buf.getvalue(), mimetype='image/png')
        image = store.put(img)
        resp = Response((public_url + '/' if public_url else request.host_url) + 'images/' + image, mimetype='text/plain')
        resp.headers['Cache-Control'] = 'no-store'         # an answer built for one request is never served to another
        return resp

    for route, name in ROUTES.items():
        app.add_url_rule(f'/{route}', endpoint=f'gen_{route}', view_func=lambda name=name: generate(name), methods=['POST', 'OPTIONS'])
    app.add_url_rule('/generate/<name>', endpoint='gen_any', view_func=generate, methods=['POST', 'OPTIONS'])

    @app.get('/images/<name>')
    def image(name):
        if not NAME_RE.fullmatch(name) or not (store.dir / name).exists(): raise ApiError(404, "no such image (images are kept for a limited time)")
        return send_from_directory(store.dir, name, mimetype='image/jpeg', max_age=3600)

    @app.get('/healthz')
    def healthz():
        ready = all(s.model is not None for s in slots.values())
        return jsonify(status='ok' if ready else 'unavailable', models={n: s.info() for n, s in slots.items()}), 200 if ready else 503

    @app.get('/')
    def index():
        from deep_t2i.data_anime import HAIRS, EYES
        page = (Path(__file__).parent / 'index.html').read_text()
        opts = lambda xs: ''.join(f'<option value="{x}">{x}</option>' for x in xs)
        sections = []
        for name, slot in slots.items():
            if name in ('anime', 'birds'): continue            # the page has their own sections
            n = html.escape(name)
            body = (f'<label>Hair <select id="m-{n}-hair">{opts(HAIRS)}</select></label> <label>Eyes <select id="m-{n}-eyes">{opts(EYES)}</select></label>'
                    if slot.tags else f'<textarea id="m-{n}-cap">a small bird with a red crown</textarea>')
            sections.append(f'<section class="model" data-name="{n}" data-tags="{int(slot.tags)}"><h2>{n}</h2>{body}'
                            f' <label>Seed <input id="m-{n}-seed" type="number" min="0" placeholder="random" style="width:7em"></label>'
                            f' <button id="m-{n}-go">Generate</button><div id="m-{n}-msg" class="err"></div>'
                            f'<img id="m-{n}-img" class="out" width="256" height="256" alt="" hidden></section>')
        page = page.replace('{{HAIR_OPTIONS}}', opts(HAIRS)).replace('{{EYE_OPTIONS}}', opts(EYES))
        page = page.replace('{{ANIME_HIDDEN}}', '' if 'anime' in slots else 'hidden').replace('{{BIRDS_HIDDEN}}', '' if 'birds' in slots else 'hidden')
        page = page.replace('{{MORE_MODELS}}', '\n'.join(sections))
        key = check_token.site_key or ''
        page = page.replace('{{SITE_KEY}}', json.dumps(key).replace('<', '\\u003c'))
        page = page.replace('{{RECAPTCHA_SCRIPT}}', f'<script src="https://www.google.com/recaptcha/api.js?render={urllib.parse.quote(key)}"></script>' if key else '')
        return Response(page, mimetype='text/html')

    return app

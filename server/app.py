"""deep_t2i HTTP server: POST a caption, get a generated image (Flask app factory, run by gunicorn).

Routes (the HTTP interface documented in server/README.md):
  POST /anime_heads, POST /birds   JSON {"cap": "...", "token": "...", "seed": 0} -> 200 text/plain URL of the JPEG
                                    (with `Accept: image/png`: the PNG bytes)
  OPTIONS on both                   204 with CORS headers
  GET /images/<name>.jpg            a generated image
  GET /healthz                      200 JSON: the models and whether they are loaded
  GET /                             the demo page
Errors are JSON {"error": "..."} with 400/403/404/405/413/415/503; user input never causes a 500.

Settings (environment): DEEP_T2I_MODEL_ANIME / DEEP_T2I_MODEL_BIRDS (bundled name or export path; default the
bundled models), RECAPTCHA_SECRET (turns the token check on), RECAPTCHA_VERIFY_URL, ALLOWED_ORIGINS (comma
separated, default *), IMAGE_DIR, MAX_IMAGES (default 500), MAX_BODY_BYTES (default 16384), TORCH_NUM_THREADS.
"""
from __future__ import annotations
import io, json, logging, os, re, tempfile, threading, urllib.parse, urllib.request, uuid
from pathlib import Path
from flask import Flask, Response, jsonify, request, send_from_directory
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

log = logging.getLogger('deep_t2i.server')
ROUTES = {'anime_heads': 'anime', 'birds': 'birds'}
NAME_RE = re.compile(r'^[0-9a-f]{32}\.jpg$')
MAX_SEED = 2**32 - 1


class ApiError(Exception):
    def __init__(self, status:int, msg:str): super().__init__(msg); self.status, self.msg = status, msg


class ModelSlot:
    "One model, loaded once per worker; generation serialised by a lock (bounded memory, thread safe)."
    def __init__(self, task:str, source:str):
        self.task, self.source, self.model, self.error, self.lock = task, source, None, None, threading.Lock()
    def load(self):
        try:
            from deep_t2i.inference import load_model
            self.model = load_model(self.source)
            if self.model.cfg.task != self.task: raise ValueError(f"{self.source} is a {self.model.cfg.task} model")
        except Exception as e:
            self.model, self.error = None, f"{type(e).__name__}: {e}"
            log.warning("model %s not loaded: %s", self.task, self.error)
        return self
    def info(self):
        d = {'loaded': self.model is not None, 'source': self.source}
        if self.model is not None: d['img_size'] = self.model.img_size
        else: d['error'] = self.error
        return d


class ImageStore:
    "Generated JPEGs in a folder bounded to `max_images` files (oldest removed)."
    def __init__(self, folder, max_images:int):
        self.dir, self.max, self.lock = Path(folder), max_images, threading.Lock()
        self.dir.mkdir(parents=True, exist_ok=True)
    def put(self, img)->str:
        name = uuid.uuid4().hex + '.jpg'
        buf = io.BytesIO(); img.save(buf, 'JPEG', quality=92)
        tmp = self.dir / f'.{name}.tmp'
        tmp.write_bytes(buf.getvalue()); os.replace(tmp, self.dir / name)
        with self.lock:
            files = sorted(self.dir.glob('*.jpg'), key=lambda p: p.stat().st_mtime)
            for p in files[:max(len(files) - self.max, 0)]: p.unlink(missing_ok=True)
        return name


def verify_token(token, secret:str, url:str, remote_ip:str=None):
    "Check a reCAPTCHA token with the verify endpoint; raises ApiError(403) if it fails."
    if not isinstance(token, str) or not token: raise ApiError(403, "missing reCAPTCHA token: send it as \"token\"")
    data = urllib.parse.urlencode({'secret': secret, 'response': token, **({'remoteip': remote_ip} if remote_ip else {})}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=5) as r: ok = bool(json.loads(r.read()).get('success'))
    except Exception:
        raise ApiError(503, "could not reach the reCAPTCHA verify service: try again later")
    if not ok: raise ApiError(403, "reCAPTCHA token check failed: reload the page and try again")


def parse_body(max_bytes:int)->dict:
    "The JSON object of the request, or an ApiError saying what is wrong."
    ctype = (request.mimetype or '').lower()
    if ctype != 'application/json': raise ApiError(415, f"send JSON with Content-Type: application/json (got {ctype or 'none'})")
    raw = request.get_data(cache=False)
    if len(raw) > max_bytes: raise ApiError(413, f"request body is {len(raw)} bytes: at most {max_bytes}")
    try: body = json.loads(raw.decode('utf-8'))
    except (UnicodeDecodeError, ValueError, RecursionError): raise ApiError(400, "body is not valid UTF-8 JSON")
    if not isinstance(body, dict): raise ApiError(400, 'body must be a JSON object like {"cap": "blue hair red eyes"}')
    return body


def check_request(body:dict, task:str)->tuple:
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


def create_app(models:dict=None, # {task: model source}; default from the environment / bundled models
               settings:dict=None)->Flask:
    "The Flask app; models are loaded here, once per worker."
    env = {**os.environ, **(settings or {})}
    app = Flask(__name__, static_folder=None)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    max_bytes = int(env.get('MAX_BODY_BYTES', 16384))
    app.config['MAX_CONTENT_LENGTH'] = max_bytes
    if env.get('TORCH_NUM_THREADS'):
        import torch; torch.set_num_threads(int(env['TORCH_NUM_THREADS']))
    secret, verify_url = env.get('RECAPTCHA_SECRET') or None, env.get('RECAPTCHA_VERIFY_URL', 'https://www.google.com/recaptcha/api/siteverify')
    origins = [o.strip() for o in env.get('ALLOWED_ORIGINS', '*').split(',') if o.strip()]
    store = ImageStore(env.get('IMAGE_DIR') or Path(tempfile.gettempdir()) / 'deep_t2i_images', int(env.get('MAX_IMAGES', 500)))
    sources = models or {t: env.get(f'DEEP_T2I_MODEL_{t.upper()}', t) for t in ('anime', 'birds')}
    slots = {t: ModelSlot(t, str(src)).load() for t, src in sources.items()}
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
    def api_error(e): return jsonify(error=e.msg), e.status

    @app.errorhandler(HTTPException)
    def http_error(e):
        msgs = {404: "no such route or image", 405: f"method {request.method} is not allowed here",
                413: f"request body too large: at most {max_bytes} bytes"}
        return jsonify(error=msgs.get(e.code, e.description)), e.code

    @app.errorhandler(Exception)
    def internal(e):
        log.exception("internal error")
        return jsonify(error="internal error: the request was not processed"), 500

    def make_route(route, task):
        def handler():
            if request.method == 'OPTIONS': return Response(status=204)
            body = parse_body(max_bytes)
            if secret: verify_token(body.get('token'), secret, verify_url, request.remote_addr)
            cap, seed = check_request(body, task)
            slot = slots.get(task)
            if slot is None or slot.model is None: raise ApiError(503, f"the {task} model is not ready on this server")
            from deep_t2i.core import UsageError
            try:
                with slot.lock: img, = slot.model.generate(cap, seed=seed)
            except UsageError as e: raise ApiError(400, str(e))
            if 'image/png' in (request.headers.get('Accept') or ''):
                buf = io.BytesIO(); img.save(buf, 'PNG')
                return Response(buf.getvalue(), mimetype='image/png')
            name = store.put(img)
            return Response(request.host_url + 'images/' + name, mimetype='text/plain')
        handler.__name__ = f'gen_{route}'
        app.add_url_rule(f'/{route}', view_func=handler, methods=['POST', 'OPTIONS'])
    for route, task in ROUTES.items(): make_route(route, task)

    @app.get('/images/<name>')
    def image(name):
        if not NAME_RE.match(name) or not (store.dir / name).exists(): raise ApiError(404, f"no image {name!r} (images are kept for a limited time)")
        return send_from_directory(store.dir, name, mimetype='image/jpeg', max_age=3600)

    @app.get('/healthz')
    def healthz(): return jsonify(status='ok', models={t: s.info() for t, s in slots.items()})

    @app.get('/')
    def index():
        from deep_t2i.data_anime import HAIRS, EYES
        html = (Path(__file__).parent / 'index.html').read_text()
        opts = lambda xs: ''.join(f'<option value="{x}">{x}</option>' for x in xs)
        html = html.replace('{{HAIR_OPTIONS}}', opts(HAIRS)).replace('{{EYE_OPTIONS}}', opts(EYES))
        return Response(html, mimetype='text/html')

    return app

"""deep_t2i HTTP server: POST a caption, get a generated image (Flask app factory, run by gunicorn).

Routes (the HTTP interface documented in server/README.md):
  POST /anime_heads, POST /birds    JSON {"cap": "...", "token": "...", "seed": 0} -> 200 text/plain URL of the JPEG
                                     (the PNG bytes when the client prefers image/png to text/plain in `Accept`;
                                     JSON {"url", "warnings"} when it prefers application/json); words the model
                                     never saw are named in a header X-Deep-T2I-Warnings (a JSON list) and in "warnings"
  POST /generate/<name>             the same for any served model (DEEP_T2I_MODELS); an unknown name is 404
  OPTIONS on all of them            204 with CORS headers (404 for an unknown model)
  GET /images/<name>.jpg            a generated image
  GET /healthz                      JSON: per model whether it is loaded; 200 when every required model is, else 503
  GET /                             the demo page
Errors are JSON {"error": "..."} with 400/403/404/405/408/413/415/503; user input never causes a 500, and the server
never redirects (a redirect would have to name a host, and the Host header is the client's).

Settings (environment): DEEP_T2I_MODEL_ANIME / DEEP_T2I_MODEL_BIRDS (bundled name or export path; default the bundled
models; empty: not served), DEEP_T2I_MODELS ("name=path,name2=path2"; each name once), DEEP_T2I_OPTIONAL_MODELS (served
names whose absence leaves /healthz at 200), RECAPTCHA_SECRET (turns the token check on; set but empty is an error),
RECAPTCHA_SITE_KEY (the demo page sends tokens), RECAPTCHA_HOSTNAME, RECAPTCHA_ACTION, RECAPTCHA_MIN_SCORE,
RECAPTCHA_VERIFY_URL, TRUSTED_PROXIES (hops whose X-Forwarded-* headers are trusted; default 0), PUBLIC_URL (base of the
image URLs), ALLOWED_HOSTS (host[:port] accepted in Host), ALLOWED_ORIGINS (comma separated, default *), IMAGE_DIR,
MAX_IMAGES (default 500), MAX_BODY_BYTES (default 16384), TORCH_NUM_THREADS, DEEP_T2I_COMPILE (1: compile each model's
generator and draw one image with it at start-up, in every worker, so that no request waits for compiling; default 0).
"""
from __future__ import annotations
import html, io, json, logging, math, os, re, stat, tempfile, threading, time, urllib.parse, urllib.request, uuid
from pathlib import Path
from flask import Flask, Response, jsonify, request, send_file
from werkzeug.exceptions import HTTPException

log = logging.getLogger('deep_t2i.server')
ROUTES = {'anime_heads': 'anime', 'birds': 'birds'}       # the original's routes -> the served model of that name
NAME_RE = re.compile(r'[0-9a-f]{32}\.jpg')                # generated image names (checked with fullmatch)
MODEL_NAME_RE = re.compile(r'[A-Za-z0-9_-]{1,40}')
HOST_RE = re.compile(r'([a-z0-9.-]+|\[[0-9a-f:.]+\])(:[1-9][0-9]{0,4})?')   # host[:port], as Werkzeug accepts it, lower case
MAX_SEED = 2**32 - 1
RETRY_FIRST, RETRY_MAX = 2.0, 300.0                       # seconds before retrying a model that did not load; doubles up to the max


class ApiError(Exception):
    def __init__(self, status:int, msg:str, headers:dict=None):
        super().__init__(msg); self.status, self.msg, self.headers = status, msg, headers or {}


class ConfigError(Exception):
    "A server setting that cannot work: raised at start-up, before any request."


class ModelSlot:
    """One model, loaded once per worker; generation serialised by a lock (bounded memory, thread safe).
    A model that did not load is tried again, in a background thread, when a request needs it once its files change (a
    cheap `stat`, so every worker notices a model that appears) or once a delay has passed (2 s, doubling up to 5 minutes)."""
    def __init__(self, name:str, source:str, task:str=None, optional:bool=False, compile:bool=False):
        self.name, self.source, self.task, self.optional, self.compile = name, source, task, optional, compile
        self.model, self.lock, self.load_lock = None, threading.Lock(), threading.Lock()
        self.delay, self.next_try, self.files_seen, self.tries, self.loader = RETRY_FIRST, 0.0, None, 0, None
    def files(self)->tuple:
        "(inode, size, mtime, ctime) or None for each file a load reads (an export folder's model.*, or PATH.*)."
        p, out = Path(self.source), []
        try: paths = (p / 'model.safetensors', p / 'model.json', p.with_suffix('.safetensors'), p.with_suffix('.json'))
        except ValueError: paths = ()                      # a source like '/' has no name to add a suffix to
        for f in paths:
            try: s = os.stat(f); out.append((s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns))
            except OSError: out.append(None)
        return tuple(out)
    def load(self):
        self.files_seen, self.tries = self.files(), self.tries + 1     # seen before loading: a change during the load counts
        try:
            from deep_t2i.inference import load_model
            model = load_model(self.source, compile=self.compile)
            if self.task and model.cfg.task != self.task: raise ValueError(f"{self.source} is a {model.cfg.task} model, not {self.task}")
        except Exception as e:                             # the reason goes to the log only
            self.next_try = time.monotonic() + self.delay
            log.warning("model %r not loaded from %s (try %d): %s: %s; next try in %.0f s, or when its files change",
                        self.name, self.source, self.tries, type(e).__name__, e, self.delay)
            self.delay = min(2 * self.delay, RETRY_MAX)
        else:
            self.model = model
            if self.tries > 1: log.warning("model %r loaded from %s (try %d)", self.name, self.source, self.tries)
        return self
    def ready(self)->bool:
        """Whether the model is loaded. When it is not and a retry is due, a background thread loads it: this request and
        the ones meanwhile get their 503 at once instead of waiting through a load (with DEEP_T2I_COMPILE, minutes)."""
        if self.model is not None: return True
        if time.monotonic() < self.next_try and self.files() == self.files_seen: return False
        if not self.load_lock.acquire(blocking=False): return False      # a load is under way
        try:
            self.loader = threading.Thread(target=self._load_in_background, name=f'load-{self.name}', daemon=True)
            self.loader.start()
        except BaseException: self.load_lock.release(); raise      # no thread: the next request may try again
        return False
    def _load_in_background(self):
        try:
            if self.model is None: self.load()
        finally: self.load_lock.release()
    def retry_after(self)->int: return 1 if self.load_lock.locked() else max(1, math.ceil(self.next_try - time.monotonic()))   # a load under way: ask again soon
    @property
    def tags(self): return self.model is not None and getattr(self.model.tok, 'kind', '') == 'anime'
    def info(self):
        d = {'loaded': self.model is not None, 'optional': self.optional}
        if self.model is not None: d.update(task=self.model.cfg.task, img_size=self.model.img_size, input='tags' if self.tags else 'caption')
        return d


def private_image_dir()->Path:
    """The default image folder, `<temp dir>/deep_t2i_images-<uid>`, made with mode 0700. One that is already there is
    used only when it is a real folder (not a link), owned by this user and closed to others: another local user could
    have planted it, to read or replace the images."""
    tmp = Path(tempfile.gettempdir())
    if not hasattr(os, 'getuid'):                         # Windows: the temp folder is the user's own
        (tmp / 'deep_t2i_images').mkdir(exist_ok=True); return tmp / 'deep_t2i_images'
    d = tmp / f'deep_t2i_images-{os.getuid()}'
    try: os.mkdir(d, 0o700)
    except FileExistsError: pass
    st = os.lstat(d)
    why = ('is a link' if stat.S_ISLNK(st.st_mode) else 'is not a folder' if not stat.S_ISDIR(st.st_mode)
           else f'belongs to user id {st.st_uid}, not {os.getuid()}' if st.st_uid != os.getuid()
           else f'is open to other users (mode {stat.S_IMODE(st.st_mode):o}, expected 700)' if st.st_mode & 0o077 else None)
    if why: raise ConfigError(f"image folder {d} {why}: remove it (another user may have made it), or set IMAGE_DIR to a folder of your own")
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
    def read(self, name:str):
        "The bytes of image `name`, or None when there is none (never there, or pruned at any moment up to the read)."
        try: fd = os.open(self.dir / name, os.O_RDONLY | getattr(os, 'O_NOFOLLOW', 0))
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError): return None
        except OSError as e:                               # a link (O_NOFOLLOW) or unreadable: not an image of ours
            log.warning("image %s not served: %s", name, e); return None
        with os.fdopen(fd, 'rb') as f: return f.read()
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
    """{served name: (source, task or None)} from DEEP_T2I_MODEL_ANIME/_BIRDS and DEEP_T2I_MODELS. Each name is served
    once: a name listed twice, or `anime`/`birds` while DEEP_T2I_MODEL_ANIME/_BIRDS serves it, stops start-up."""
    out, listed = {}, set()
    for task in ('anime', 'birds'):
        src = env.get(f'DEEP_T2I_MODEL_{task.upper()}', task)
        if src: out[task] = (src, task)
    for item in (env.get('DEEP_T2I_MODELS') or '').split(','):
        if not item.strip(): continue
        name, sep, src = item.partition('=')
        name, src = name.strip(), src.strip()
        if not sep or not src or not MODEL_NAME_RE.fullmatch(name):
            raise ConfigError(f"DEEP_T2I_MODELS: {item.strip()!r} is not name=path (names: letters, digits, - and _)")
        if name in listed: raise ConfigError(f"DEEP_T2I_MODELS: {name!r} is listed twice: give each model one entry")
        if name in out:
            var = f'DEEP_T2I_MODEL_{name.upper()}'
            raise ConfigError(f"DEEP_T2I_MODELS: {name!r} is already served by {var} (default: the bundled model): "
                              f"set {var}=PATH to change it, or {var}= (empty) to free the name")
        listed.add(name)
        out[name] = (src, name if name in ('anime', 'birds') else None)     # /anime_heads and /birds keep their task check
    return out


def allowed_hosts(env:dict)->dict:
    "{scheme: set of host[:port]} from ALLOWED_HOSTS, lower case, without the scheme's default port (as `request.host` has it)."
    hosts = [h.strip().lower() for h in (env.get('ALLOWED_HOSTS') or '').split(',') if h.strip()]
    for h in hosts:
        m = HOST_RE.fullmatch(h)
        if not m or (m[2] and int(m[2][1:]) > 65535):
            raise ConfigError(f"ALLOWED_HOSTS: {h!r} is not host or host:port (e.g. t2i.example, localhost:8080)")
        if m[1].startswith('.') or m[1].endswith('.'):    # Werkzeug's TRUSTED_HOSTS read '.example.com' as any subdomain; here it would match nothing
            raise ConfigError(f"ALLOWED_HOSTS: {h!r} starts or ends with a dot: list each host name in full (no wildcards)")
    return {scheme: {h.removesuffix(port) for h in hosts} for scheme, port in (('http', ':80'), ('https', ':443'))}


def create_app(models:dict=None, # {served name: model source}; 'anime' and 'birds' also get the original routes; default from the environment
               settings:dict=None)->Flask:
    "The Flask app; models are loaded here, once per worker. Bad settings raise `ConfigError` (the server does not start)."
    env = {**os.environ, **(settings or {})}
    app = Flask(__name__, static_folder=None)
    # No redirects: Werkzeug answers `//` in a path and a missing trailing slash with a 308 to a URL built from the
    # Host header, a client's choice, and permanent (cacheable). Such paths are 404 JSON like any unknown route.
    app.url_map.merge_slashes, app.url_map.strict_slashes = False, False
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
    hosts = allowed_hosts(env)                            # other Host headers get 400: URLs are built from allowed hosts only
    if not hosts['http'] and not public_url: log.warning("neither PUBLIC_URL nor ALLOWED_HOSTS is set: image URLs follow each request's Host header; set one in production")
    check_token = TokenCheck(env)
    origins = [o.strip() for o in env.get('ALLOWED_ORIGINS', '*').split(',') if o.strip()]
    store = ImageStore(env.get('IMAGE_DIR') or private_image_dir(), max_images)
    sources = ({n: (str(s), n if n in ('anime', 'birds') else None) for n, s in models.items()} if models is not None else model_sources(env))
    optional = {n.strip() for n in (env.get('DEEP_T2I_OPTIONAL_MODELS') or '').split(',') if n.strip()}
    if optional - set(sources):
        raise ConfigError(f"DEEP_T2I_OPTIONAL_MODELS names {', '.join(sorted(optional - set(sources)))}, not served here (served: {', '.join(sources) or 'none'})")
    compile_on = env.get('DEEP_T2I_COMPILE') or '0'
    if compile_on not in ('0', '1'): raise ConfigError(f"DEEP_T2I_COMPILE must be 0 or 1, got {compile_on!r}")
    slots = {n: ModelSlot(n, src, task, n in optional, compile_on == '1').load() for n, (src, task) in sources.items()}
    app.extensions['deep_t2i'] = dict(slots=slots, store=store)

    @app.before_request
    def check_host():
        "The scheme and host that URLs are built from: http(s) only, a well-formed Host, one of ALLOWED_HOSTS when set."
        if request.scheme not in ('http', 'https'): raise ApiError(400, "X-Forwarded-Proto must be http or https")
        host = request.host.lower()                       # Werkzeug >= 3.1.8 gives '' for a Host with characters no host has;
        m = HOST_RE.fullmatch(host)                       # checked here too: flask/werkzeug are not pinned, older ones pass it on
        if not m or (m[2] and int(m[2][1:]) > 65535): raise ApiError(400, "missing or malformed Host header: send host or host:port")
        if hosts['http'] and host not in hosts[request.scheme]: raise ApiError(400, "this server does not answer to the host in the Host header")

    def base_url()->str: return (public_url or f'{request.scheme}://{request.host.lower()}') + '/'

    def headers(resp):
        origin = request.headers.get('Origin')
        if '*' in origins: resp.headers['Access-Control-Allow-Origin'] = '*'
        elif origin in origins: resp.headers['Access-Control-Allow-Origin'] = origin; resp.vary.add('Origin')
        resp.headers['Access-Control-Allow-Methods'] = 'POST, OPTIONS'
        resp.headers['Access-Control-Allow-Headers'] = 'Content-Type, Accept'
        resp.headers['Access-Control-Max-Age'] = '3600'
        resp.headers['X-Content-Type-Options'] = 'nosniff'    # browsers take each answer as its Content-Type says
        return resp
    app.after_request(headers)

    @app.errorhandler(ApiError)
    def api_error(e):
        resp = jsonify(error=e.msg); resp.status_code = e.status
        resp.headers.update(e.headers)
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

    def wants_png()->bool:
        "The client prefers image/png to text/plain (q-values and specificity as RFC 9110 says; a tie keeps the URL)."
        return request.accept_mimetypes.best_match(['text/plain', 'image/png'], default='text/plain') == 'image/png'

    def generate(name:str):
        slot = slots.get(name)
        if slot is None: raise ApiError(404, f"this server does not serve a model named {name!r}: GET /healthz lists them")
        if request.method == 'OPTIONS': return Response(status=204)
        body = parse_body(max_bytes)
        if not slot.ready():                              # before the token check: a token is not spent on a 503
            raise ApiError(503, f"the {name} model is not ready on this server: try again later", {'Retry-After': str(slot.retry_after())})
        check_token(body.get('token'), request.remote_addr)
        cap, seed = check_request(body)
        from deep_t2i.core import UsageError
        try:
            with slot.lock: img, = slot.model.generate(cap, seed=seed)
        except UsageError as e: raise ApiError(400, str(e))
        unknown = slot.model.unknown_words(cap)
        what = ("words the model's sentence encoder cannot spell (read as [UNK])" if getattr(slot.model.tok, 'kind', '') == 'sentence'
                else "words the model never saw in training (read as <unk>)")
        warnings = [f"{what}: {', '.join(unknown)}"] if unknown else []
        if wants_png():
            buf = io.BytesIO(); img.save(buf, 'PNG')
            resp = Response(buf.getvalue(), mimetype='image/png')
        else:
            url = base_url() + 'images/' + store.put(img)
            wants_json = request.accept_mimetypes.best_match(['text/plain', 'application/json'], default='text/plain') == 'application/json'
            resp = jsonify(url=url, warnings=warnings) if wants_json else Response(url, mimetype='text/plain')
        if warnings:                                       # beside a text or PNG answer: a header (JSON, ASCII-escaped)
            resp.headers['X-Deep-T2I-Warnings'] = json.dumps(warnings)
            resp.headers['Access-Control-Expose-Headers'] = 'X-Deep-T2I-Warnings'
        resp.headers['Cache-Control'] = 'no-store'         # an answer built for one request is never served to another
        resp.vary.add('Accept')
        return resp

    for route, name in ROUTES.items():
        app.add_url_rule(f'/{route}', endpoint=f'gen_{route}', view_func=lambda name=name: generate(name), methods=['POST', 'OPTIONS'])
    app.add_url_rule('/generate/<name>', endpoint='gen_any', view_func=generate, methods=['POST', 'OPTIONS'])

    @app.get('/images/<name>')
    def image(name):
        data = store.read(name) if NAME_RE.fullmatch(name) else None      # one open: no window between a check and the read
        if data is None: raise ApiError(404, "no such image (images are kept for a limited time)")
        return send_file(io.BytesIO(data), mimetype='image/jpeg', max_age=3600, etag=name[:-4])

    @app.get('/healthz')
    def healthz():
        ready = {n: s.ready() for n, s in slots.items()}
        up = all(ready[n] or s.optional for n, s in slots.items())
        status = 'ok' if all(ready.values()) else 'degraded' if up else 'unavailable'
        return jsonify(status=status, models={n: s.info() for n, s in slots.items()}), 200 if up else 503

    @app.get('/')
    def index():
        from deep_t2i.data_anime import HAIRS, EYES
        page = (Path(__file__).parent / 'index.html').read_text()
        opts = lambda xs: ''.join(f'<option value="{x}">{x}</option>' for x in xs)
        ready = {n: s.ready() for n, s in slots.items()}
        off = lambda n: '' if ready[n] else 'disabled'         # a model that is not loaded shows why instead of a button that fails
        note = lambda n: '' if ready[n] else 'This model is not ready on this server yet: reload the page later.'
        sections = []
        for name, slot in slots.items():
            if name in ('anime', 'birds'): continue            # the page has their own sections
            n = html.escape(name)
            body = (f'<label>Hair <select id="m-{n}-hair">{opts(HAIRS)}</select></label> <label>Eyes <select id="m-{n}-eyes">{opts(EYES)}</select></label>'
                    if slot.tags else f'<textarea id="m-{n}-cap">a small bird with a red crown</textarea>')
            sections.append(f'<section class="model" data-name="{n}" data-tags="{int(slot.tags)}" data-ready="{int(ready[name])}"><h2>{n}</h2>{body}'
                            f' <label>Seed <input id="m-{n}-seed" type="number" min="0" placeholder="random" style="width:7em"></label>'
                            f' <button id="m-{n}-go" {off(name)}>Generate</button><div id="m-{n}-msg" class="err">{note(name)}</div>'
                            f'<img id="m-{n}-img" class="out" width="256" height="256" alt="" hidden></section>')
        page = page.replace('{{HAIR_OPTIONS}}', opts(HAIRS)).replace('{{EYE_OPTIONS}}', opts(EYES))
        for name in ('anime', 'birds'):                         # their sections: hidden when not served, else as above
            served, N = name in slots, name.upper()
            for key, value in ((f'{N}_HIDDEN', '' if served else 'hidden'), (f'{N}_OFF', off(name) if served else ''), (f'{N}_NOTE', note(name) if served else '')):
                page = page.replace('{{' + key + '}}', value)
        page = page.replace('{{MORE_MODELS}}', '\n'.join(sections))
        key = check_token.site_key or ''
        page = page.replace('{{SITE_KEY}}', json.dumps(key).replace('<', '\\u003c'))
        page = page.replace('{{RECAPTCHA_SCRIPT}}', f'<script src="https://www.google.com/recaptcha/api.js?render={urllib.parse.quote(key)}"></script>' if key else '')
        return Response(page, mimetype='text/html')

    return app

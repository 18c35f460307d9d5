"""gunicorn settings from the environment (Cloud Run sets PORT)."""
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get('GUNICORN_WORKERS', os.environ.get('WEB_CONCURRENCY', 1)))
# Threads: generation is serialised per model by a lock, so extra threads cost little memory; they keep the server
# answering (/healthz, images, other models) while a few clients are slow to send. A stalled client's socket read
# times out after GUNICORN_READ_TIMEOUT seconds (workers.py), which frees its thread.
threads = int(os.environ.get('GUNICORN_THREADS', 16))
worker_class = 'workers.SlowClientSafeWorker'
logger_class = 'workers.QuietTimeoutLogger'
# A worker that has not started within `timeout` seconds is killed and started again: with DEEP_T2I_COMPILE=1 each worker
# compiles its models before it serves (minutes on a small CPU), so the default leaves it the time.
timeout = int(os.environ.get('GUNICORN_TIMEOUT', 900 if os.environ.get('DEEP_T2I_COMPILE') == '1' else 120))
graceful_timeout = 30
keepalive = 5
limit_request_line = 4094          # gunicorn answers longer request lines itself (414, HTML)
limit_request_fields = 50
limit_request_field_size = 8190
# Models load in each worker (create_app runs after the fork): torch's thread pools do not survive fork.
preload_app = False
accesslog = '-'
# never log request bodies or headers (tokens); the access log has the peer address, request line, status and time
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss'
# Forwarded headers are trusted in one place only, the app's TRUSTED_PROXIES: gunicorn by default lets a peer on
# 127.0.0.1 set the scheme (X-Forwarded-Proto) and SCRIPT_NAME / PATH_INFO, whoever that local peer is.
forwarded_allow_ips = ''
secure_scheme_headers = {}
forwarder_headers = ''
raw_env = [f"TORCH_NUM_THREADS={os.environ.get('TORCH_NUM_THREADS', '1')}"]

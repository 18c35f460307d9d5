"""gunicorn settings from the environment (Cloud Run sets PORT)."""
import os

bind = f"0.0.0.0:{os.environ.get('PORT', '8080')}"
workers = int(os.environ.get('GUNICORN_WORKERS', os.environ.get('WEB_CONCURRENCY', 1)))
threads = int(os.environ.get('GUNICORN_THREADS', 2))
timeout = int(os.environ.get('GUNICORN_TIMEOUT', 120))
graceful_timeout = 30
# Models load in each worker (create_app runs after the fork): torch's thread pools do not survive fork.
preload_app = False
accesslog = '-'
# never log request bodies or headers (tokens); the access log has method, path, status and time only
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss'
raw_env = [f"TORCH_NUM_THREADS={os.environ.get('TORCH_NUM_THREADS', '1')}"]

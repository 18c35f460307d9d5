"""gunicorn classes that keep the server answering with slow clients about: a thread worker whose sockets time out
when a client stops sending (so a stalled request frees its thread), and a logger that reports such a timeout in one
line instead of a traceback."""
import os, sys
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import ThreadWorker

READ_TIMEOUT = float(os.environ.get('GUNICORN_READ_TIMEOUT', 10))


class SlowClientSafeWorker(ThreadWorker):
    "gthread, plus a timeout on every read from a client's socket (headers and body): a stalled client loses its thread."
    def handle(self, conn):
        if not getattr(conn, '_read_timeout_set', False):      # once per connection (keep-alive requests come back here)
            init = conn.init
            def init_with_timeout():
                init()
                conn.sock.settimeout(READ_TIMEOUT)
            conn.init, conn._read_timeout_set = init_with_timeout, True
        return super().handle(conn)


class QuietTimeoutLogger(Logger):
    "A client that timed out is worth a line, not a traceback."
    def exception(self, msg, *args, **kwargs):
        if isinstance(sys.exc_info()[1], TimeoutError):
            return self.info("a client sent nothing for %ss: connection closed", READ_TIMEOUT)
        return super().exception(msg, *args, **kwargs)

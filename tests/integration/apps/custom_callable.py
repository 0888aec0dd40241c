"""Several callables: --callable picks one; the default picks `application`."""


def _make(text):
    body = text.encode()

    def wsgi(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return wsgi


application = _make("from application")
app = _make("from app")
my_entry = _make("from my_entry")

"""Does not compile."""

def application(environ, start_response)
    return []

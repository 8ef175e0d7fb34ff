package mcp.fetch

default allow := false

# GETs of public paths on one host (here the loopback test target).
allow if {
    input.operation == "fetch"
    input.method == "GET"
    input.url_parsed.scheme == "http"
    input.url_parsed.host == "127.0.0.1"
    startswith(input.url_parsed.path, "/public/")
}

# JSON posts to the echo endpoint.
allow if {
    input.method == "POST"
    input.url_parsed.path == "/public/echo"
    input.headers["content-type"] == "application/json"
}

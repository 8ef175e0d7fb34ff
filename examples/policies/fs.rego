package mcp.fs

# Runs may read and write under /tmp/mcp-v8-files only; moves and copies must stay inside.
default allow := false

inside(p) if startswith(p, "/tmp/mcp-v8-files/")

allow if {
    inside(input.path)
    not input.destination
}

allow if {
    inside(input.path)
    inside(input.destination)
}

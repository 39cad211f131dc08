# The harness of a Bitnobi Python element (see python.go). It runs as its
# own python3 process: it lowers its limits, installs an audit hook that
# refuses files under the hidden paths, sockets and new processes, then
# runs the user's code over the rows read from stdin and writes the rows
# it returns to stdout. Protocol, one JSON value per line: in, the column
# names, then one array of values per row; out, the same.
import json
import os
import resource
import sys

cfg = json.loads(sys.argv[1])

def limit(res, soft, hard=None):
    if hard is None:
        hard = soft
    resource.setrlimit(res, (soft, hard))

limit(resource.RLIMIT_CPU, cfg["cpu_seconds"], cfg["cpu_seconds"] + 2)
limit(resource.RLIMIT_AS, cfg["memory_bytes"])
limit(resource.RLIMIT_FSIZE, cfg["output_bytes"])
limit(resource.RLIMIT_CORE, 0)
limit(resource.RLIMIT_NOFILE, 64)
limit(resource.RLIMIT_NPROC, 0)

hidden = [os.path.realpath(p) for p in cfg["hidden"]]
code_path = os.path.realpath(cfg["code"])
code = open(code_path, encoding="utf-8").read()

def is_hidden(path):
    if isinstance(path, int):
        return False
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    p = os.path.realpath(path)
    return any(p == h or p.startswith(h.rstrip(os.sep) + os.sep) for h in hidden)

REFUSED = {
    "socket.__new__", "socket.bind", "socket.connect", "socket.getaddrinfo",
    "socket.gethostbyname", "socket.gethostbyaddr", "socket.sendto",
    "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
    "os.fork", "os.forkpty", "os.kill", "os.killpg", "ctypes.dlopen",
    "ctypes.dlsym", "ctypes.cdata",
}
PATH_EVENTS = {"open", "os.listdir", "os.scandir", "os.chdir", "os.rename",
               "os.remove", "os.rmdir", "os.mkdir", "os.symlink", "os.link",
               "os.chmod", "os.chown", "os.truncate", "os.utime", "shutil.copyfile"}

def hook(event, args):
    if event in REFUSED:
        raise PermissionError("Bitnobi's Python elements may not use %s (no network, no other processes)." % event)
    if event in PATH_EVENTS and args:
        for a in args[:2]:
            if isinstance(a, (str, bytes, os.PathLike)) and is_hidden(os.fspath(a)):
                raise PermissionError("Bitnobi's Python elements may not read the server's data: %s" % os.fspath(a))

sys.addaudithook(hook)

def value(v):
    if v is None or isinstance(v, (str, int, float)) and not isinstance(v, bool):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    try:
        return json.dumps(v, separators=(",", ":"), default=str)
    except Exception:
        return str(v)

inp = sys.stdin
columns_in = json.loads(inp.readline() or "[]")

def rows():
    for line in inp:
        yield dict(zip(columns_in, json.loads(line)))

glb = {"__name__": "__bitnobi__", "__builtins__": __builtins__, "columns_in": columns_in}
exec(compile(code, "<python element>", "exec"), glb)
transform = glb.get("transform")
if not callable(transform):
    sys.stderr.write("The code must define transform(rows), which returns or yields the output rows as dicts.\n")
    sys.exit(3)
out = sys.stdout
it = iter(transform(rows()) or [])
cols = glb.get("columns")
first = next(it, None)
if cols is None:
    cols = list(first.keys()) if isinstance(first, dict) else []
cols = [str(c) for c in cols]
index = {c: i for i, c in enumerate(cols)}
out.write(json.dumps(cols) + "\n")

def emit(n, r):
    if not isinstance(r, dict):
        raise TypeError("output row %d is a %s, not a dict" % (n, type(r).__name__))
    vals = [None] * len(cols)
    for k, v in r.items():
        i = index.get(str(k))
        if i is None:
            raise KeyError("output row %d has key %r, which is not one of the columns %r" % (n, k, cols))
        vals[i] = value(v)
    out.write(json.dumps(vals, default=str) + "\n")

if first is not None:
    emit(1, first)
    for n, r in enumerate(it, 2):
        emit(n, r)
out.flush()

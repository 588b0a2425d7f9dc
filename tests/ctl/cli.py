# SPDX-License-Identifier: MIT
"""The systemctl habits of brokerctl, for test-brokerctl.py: --no-legend,
--quiet, --full, the pager, tables that fit $COLUMNS in characters, the
shell completions run for real, and JSON checked against the field tables
of brokerctl(1)."""
import json
import os
import pty
import re
import select
import shutil
import subprocess

MAN = os.environ["BROKERCTL_MAN"]
BASH_COMPLETION = os.environ["BASH_COMPLETION"]
ZSH_COMPLETION = os.environ["ZSH_COMPLETION"]
UTF8 = {"LC_ALL": "C.UTF-8"}


def man_fields():
    """{object: {field: (types, values)}} from the JSON OUTPUT section of
    brokerctl(1): '.SS "Socket objects (show, list)"', then per field
    '.TP', '.BR name " string or null"' and its description; values is the
    set a description of bold words alone ("\\fBidle\\fR, ... or \\fBbackoff\\fR.")
    allows, else None."""
    with open(MAN) as f:
        text = f.read()
    section = text[text.index(".SH JSON OUTPUT"):]
    section = section[:section.index("\n.SH ", 1)]
    objects, current, lines = {}, None, section.split("\n")
    for i, line in enumerate(lines):
        m = re.match(r'^\.SS "(\w+) ', line)
        if m:
            current = objects.setdefault(m.group(1).lower(), {})
            continue
        m = re.match(r'^\.BR (\w+) " ([a-z ]+)"$', line)
        if m and current is not None and lines[i - 1] == ".TP":
            desc = lines[i + 1]
            words = re.findall(r"\\fB(.+?)\\fR", desc)
            only_words = re.fullmatch(r"(\\fB.+?\\fR(, | or )?)+\.", desc)
            values = {w.replace("\\-", "-") for w in words} if only_words else None
            current[m.group(1)] = (set(m.group(2).split(" or ")), values)
    return objects


TYPES = {"string": str, "integer": int, "boolean": bool, "array": list}


def schema_errors(obj, fields):
    """Why obj does not match its documented fields ([] if it does)."""
    errors = []
    if set(obj) != set(fields):
        errors.append(f"keys: extra {sorted(set(obj) - set(fields))}, missing {sorted(set(fields) - set(obj))}")
    for name, (types, values) in fields.items():
        if name not in obj:
            continue
        v = obj[name]
        if v is None:
            if "null" not in types:
                errors.append(f"{name} is null")
            continue
        ok = any(isinstance(v, TYPES[t]) and not (t == "integer" and isinstance(v, bool))
                 for t in types if t in TYPES)
        if not ok:
            errors.append(f"{name}={v!r} is not {' or '.join(sorted(types))}")
        elif values is not None and v not in values:
            errors.append(f"{name}={v!r} is not one of {sorted(values)}")
    return errors


def test_schema(tap, env, listen_json, events):
    fields = man_fields()
    tap.ok(set(fields) == {"socket", "app", "status", "event", "listen"} and
           all(len(f) >= 4 for f in fields.values()), "brokerctl(1) documents the fields of every JSON object",
           fields)
    sockets = env.json("list")
    checks = [("socket", s, f"list: {s['app']}/{s['id']}") for s in sockets]
    checks += [("socket", env.json("show", f"{s['app']}/{s['id']}"), f"show {s['app']}/{s['id']}")
               for s in sockets[:3]]
    checks += [("app", a, f"apps: {a['id']}") for a in env.json("apps")]
    checks += [("status", env.json("status"), "status")]
    checks += [("listen", listen_json, "listen")] if listen_json else []
    checks += [("event", e, f"monitor: {e['event']}") for e in events]
    bad = [(what, schema_errors(obj, fields[kind])) for kind, obj, what in checks]
    bad = [b for b in bad if b[1]]
    tap.ok(len(checks) > 10 and not bad, f"{len(checks)} JSON objects match brokerctl(1)'s field tables", bad)
    never = [s for s in sockets if s["last_reason"] is None]
    tap.ok(never and all(s["last_trigger_usec"] is None and s["last_trigger"] is None for s in never) and
           all(s["keepalive_sec"] is None for s in sockets if s["kind"] == "listener"),
           "null where it does not apply: last_trigger_usec of a socket never triggered, a listener's keep-alive",
           never)
    apps = env.json("apps")
    tap.ok(all(a["retry_usec"] is None for a in apps if a["state"] != "backoff"),
           "retry_usec is null when no retry is due", apps)
    st, text = env.json("status"), env.ctl("status").stdout
    m = re.search(r"(\d+) watching, (\d+) triggered, (\d+) handing back, (\d+) lent", text)
    tap.ok(m and [st["watching"], st["triggered"], st["handing_back"], st["lent"]] == [int(x) for x in m.groups()],
           "status --json has every count of the text, lent included", (st, text))


def test_flags(tap, env):
    """Before anything is held: the empty list, with and without the flags."""
    r = env.ctl("list")
    tap.ok(r.stdout == "No held sockets.\n", "list with nothing held says so", r)
    for flags in (["--quiet"], ["-q"], ["--no-legend"]):
        r = env.ctl("list", *flags)
        tap.ok(r.returncode == 0 and r.stdout == "" and r.stderr == "", f"list {' '.join(flags)}: nothing at all", r)
        r = env.ctl(*flags, "list")
        tap.ok(r.returncode == 0 and r.stdout == "", f"{' '.join(flags)} before the verb", r)


def test_table_flags(tap, env, app):
    r = env.ctl("list", app)
    rows = r.stdout.splitlines()
    for flags in (["--no-legend"], ["--no-legend", "--no-pager"]):
        q = env.ctl("list", *flags, app)
        tap.ok(q.returncode == 0 and q.stdout.splitlines() == rows[1:] and rows[0].startswith("APP "),
               f"list {' '.join(flags)}: the rows without the header", (r, q))
    q = env.ctl("apps", "--no-legend")
    tap.ok(q.returncode == 0 and not q.stdout.startswith("APP ") and app in q.stdout, "apps --no-legend", q)
    q = env.ctl("-q", "apps")
    tap.ok(q.returncode == 0 and q.stdout == env.ctl("apps").stdout, "-q keeps the results", q)


def display_width(line):
    return len(line)   # every character here is one column wide


def test_width(tap, env, app, long_path):
    """A wide app id, a long id and a UTF-8 path: at COLUMNS=60 every line fits
    in 60 characters (not bytes); --full and a pipe keep every cell whole."""
    for columns in (60, 80, 45):
        r = env.ctl("list", env_extra={**UTF8, "COLUMNS": str(columns)})
        lines = r.stdout.splitlines()
        wide = [line for line in lines if display_width(line) > columns]
        tap.ok(r.returncode == 0 and len(lines) > 3 and not wide and lines[0].startswith("APP "),
               f"list at COLUMNS={columns} fits {columns} columns", r.stdout)
        r = env.ctl("apps", env_extra={**UTF8, "COLUMNS": str(columns)})
        wide = [line for line in r.stdout.splitlines() if display_width(line) > columns]
        tap.ok(r.returncode == 0 and not wide and r.stdout.startswith("APP "), f"apps at COLUMNS={columns}", r.stdout)

    for how, extra, args in (("--full", {"COLUMNS": "60"}, ["--full"]), ("-l", {"COLUMNS": "60"}, ["-l"]),
                             ("a pipe", {}, [])):
        r = env.ctl("list", *args, env_extra={**UTF8, **extra})
        names = re.findall(r"\S+(?: \S+)*", r.stdout.splitlines()[0]) if r.stdout else []
        row = next((line for line in r.stdout.splitlines() if long_path in line), "")
        header = r.stdout.splitlines()[0] if r.stdout else ""
        # columns line up in characters: LOCAL starts where its header does
        tap.ok(r.returncode == 0 and len(names) == 9 and app in row and
               row.index(long_path) == header.index("LOCAL") and len(row.encode()) > len(row),
               f"list with {how}: every column, cells whole, aligned in characters", r.stdout)


def test_pager(tap, env):
    """The pager runs only on a terminal, with LESS=FRSXMK, and not with --no-pager."""
    out = f"{env.dir}/pager.out"
    pager = f"printf 'LESS=%s\\n' \"$LESS\" > {out}; cat >> {out}"

    def on_tty(*args, **extra):
        if os.path.exists(out):
            os.unlink(out)
        master, slave = pty.openpty()
        env_ = {k: v for k, v in os.environ.items() if k not in ("PAGER", "SYSTEMD_PAGER", "LESS", "COLUMNS")}
        env_.update(extra)
        p = subprocess.Popen([env.brokerctl_path, "--socket", env.control, *args], stdin=subprocess.DEVNULL,
                             stdout=slave, stderr=subprocess.PIPE, env=env_)
        os.close(slave)
        seen = b""
        while True:
            ready, _, _ = select.select([master], [], [], 20)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:   # EIO: the last writer is gone
                break
            if not chunk:
                break
            seen += chunk
        os.close(master)
        code = p.wait(timeout=20)
        paged = open(out).read() if os.path.exists(out) else None
        return code, seen.decode(errors="replace"), paged

    code, seen, paged = on_tty("list", PAGER=pager)
    tap.ok(code == 0 and paged and paged.startswith("LESS=FRSXMK\n") and "APP " in paged and "APP " not in seen,
           "on a terminal, list goes through $PAGER with LESS=FRSXMK", (code, seen, paged))
    code, seen, paged = on_tty("status", SYSTEMD_PAGER=pager, PAGER="false", SYSTEMD_LESS="FRX")
    tap.ok(code == 0 and paged and paged.startswith("LESS=FRX\n") and "control socket:" in paged,
           "$SYSTEMD_PAGER wins over $PAGER, $SYSTEMD_LESS over the default", (code, seen, paged))
    code, seen, paged = on_tty("--no-pager", "list", PAGER=pager)
    tap.ok(code == 0 and paged is None and "APP " in seen, "--no-pager: straight to the terminal", (code, seen))
    code, seen, paged = on_tty("list", PAGER="cat")
    tap.ok(code == 0 and "APP " in seen and not os.path.exists(out), "PAGER=cat: no pager", (code, seen))
    code, seen, paged = on_tty("trigger", "--help", PAGER=pager)
    tap.ok(code == 0 and paged is None, "verbs that are not read verbs never page", (code, seen))
    r = env.ctl("list", env_extra={"PAGER": pager})
    tap.ok(r.returncode == 0 and "APP " in r.stdout and not os.path.exists(out), "not a terminal: no pager", r)


def bash_complete(env, words):
    """Run the bash completion for real: source the file, check complete -p,
    call its function on words as bash would, print COMPREPLY."""
    script = f"""
source {BASH_COMPLETION} || exit 3
complete -p brokerctl || exit 4
COMP_WORDS=("$@"); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1))
COMP_LINE="$*"; COMP_POINT=${{#COMP_LINE}}
_brokerctl
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    r = subprocess.run(["bash", "--norc", "--noprofile", "-c", script, "bash", env.brokerctl_path, *words],
                       capture_output=True, text=True, timeout=30)
    lines = r.stdout.splitlines()
    registered = lines[:1] == ["complete -F _brokerctl brokerctl"]
    return r.returncode, registered, set(line for line in lines[1:] if line)


def test_completion(tap, env, apps):
    sock = ["--socket", env.control]
    held = {f"{s['app']}/{s['id']}" for s in env.json("list")}
    code, registered, got = bash_complete(env, [*sock, "show", ""])
    tap.ok(code == 0 and registered and got == held and len(held) > 3,
           "bash: complete -p brokerctl is set, and `brokerctl show <TAB>` lists APP/ID from brokerd", (got, held))
    code, _, got = bash_complete(env, [*sock, "trigger", apps[0][:6]])
    tap.ok(got == {h for h in held if h.startswith(apps[0][:6])}, "bash: trigger <TAB> after a prefix", got)
    code, _, got = bash_complete(env, [*sock, "list", ""])
    tap.ok(got == set(apps), "bash: list <TAB> lists the app ids", got)
    code, _, got = bash_complete(env, [*sock, ""])
    verbs = {"status", "apps", "list", "show", "monitor", "trigger", "drop", "reload", "transfer", "listen"}
    tap.ok(got == verbs, "bash: the verbs (and not the hidden one)", got)
    code, _, got = bash_complete(env, [*sock, "transfer", "--con"])
    tap.ok(got == {"--context", "--context-file"}, "bash: a verb's own options", got)
    code, _, got = bash_complete(env, ["--no-"])
    tap.ok(got == {"--no-legend", "--no-pager"}, "bash: global options", got)
    code, _, got = bash_complete(env, [*sock, "listen", "un"])
    tap.ok(got == {"unix:", "unixgram:"}, "bash: listen's address schemes", got)
    code, _, got = bash_complete(env, ["--socket", f"{env.dir}/nobody-here", "show", ""])
    tap.ok(code == 0 and got == set(), "bash: no brokerd, no candidates and no noise", got)

    zsh = shutil.which("zsh")
    if not zsh:
        tap.skip("zsh: the completion parses", "no zsh")
        return
    r = subprocess.run([zsh, "-n", ZSH_COMPLETION], capture_output=True, text=True, timeout=30)
    tap.ok(r.returncode == 0 and not r.stderr, "zsh: the completion parses", r)
    out = zsh_complete(env, zsh, f"brokerctl --socket {env.control} show ", held)
    tap.ok(all(h in out for h in held), "zsh: `brokerctl show <TAB><TAB>` in an interactive zsh lists APP/ID",
           out[-3000:])


def zsh_complete(env, zsh, line, want):
    """Type line and two TABs into an interactive zsh (on a pty, through
    zsh/zpty) whose fpath has our _brokerctl; return what it printed once
    every string in want has appeared (or after 20 s)."""
    fp, bin_ = f"{env.dir}/zsh-fpath", f"{env.dir}/zsh-bin"
    os.makedirs(fp, exist_ok=True)
    os.makedirs(bin_, exist_ok=True)
    shutil.copy(ZSH_COMPLETION, fp)
    if not os.path.exists(f"{bin_}/brokerctl"):
        os.symlink(env.brokerctl_path, f"{bin_}/brokerctl")
    last = sorted(want)[-1] if want else ""
    script = f"""
zmodload zsh/zpty
zpty z env -i PATH={bin_}:/usr/bin:/bin TERM=dumb HOME={env.dir} {zsh} -f -i
zpty -w z "fpath=({fp} \\$fpath); autoload -U compinit; compinit -u -d {env.dir}/zcompdump; \\
zstyle ':completion:*' list-prompt ''; LISTMAX=10000"
zpty -w -n z $'{line}\\t\\t'
out=""
for i in {{1..200}}; do
  if zpty -r -t z chunk; then out+=$chunk; else sleep 0.1; fi
  [[ -n {last!r} && $out == *{last}*{last}* || $out == *{last}*$'\\n'* ]] && break
done
print -r -- "$out"
zpty -d z
"""
    r = subprocess.run([zsh, "-f", "-c", script], capture_output=True, text=True, timeout=60)
    return r.stdout.replace("\r", "")

#!/bin/sh
# ci-jobs.t -- the ready-to-use CI job definitions for users (ci/github/mqspec.yml,
# ci/gitlab/mqspec.gitlab-ci.yml, README "Using mqspec in your CI"): they parse
# as YAML and hold what makes them work: the Debian packages mqspec builds with,
# a job that runs `mqspec run` with --junit, the very JUnit path handed to the
# CI's test view, the HTML report and the JSON kept as artefacts even when the
# run fails, a broker from a variable or a service container, and shell that
# passes `bash -n`. Every option the jobs give `mqspec run` must be one that
# `mqspec run --help` lists. Nothing here reaches a network.
# Needs python3 with PyYAML (Debian python3-yaml, ci/install-deps).
cd "$(dirname "$0")/.." || exit 1
if ! /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
    echo "1..0 # SKIP python3-yaml not available"
    exit 0
fi
help=$(${BUILD:-build}/mqspec run --help 2>&1)
export MQSPEC_RUN_HELP="$help"
exec /usr/bin/python3 - ci/github/mqspec.yml ci/gitlab/mqspec.gitlab-ci.yml <<'PY'
import os, re, shlex, subprocess, sys
import yaml

n = 0
failed = 0
def ok(cond, name, diag=None):
    global n, failed
    n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name))
    if not cond:
        failed = 1
        if diag:
            for line in str(diag).splitlines():
                print("#   " + line)

APT = ["build-essential", "pkg-config", "libmosquitto-dev", "libyaml-dev", "libssl-dev"]
run_help = os.environ.get("MQSPEC_RUN_HELP", "")
known_opts = set(re.findall(r"(--[a-z][a-z-]*)", run_help))

def mqspec_run_args(script):
    """The words of the `mqspec run` command in a shell script (continuation
    lines joined), with the options gathered before it by `set -- ...` lines
    (passed as "$@"), or None."""
    text = script.replace("\\\n", " ")
    pre = []
    for line in text.splitlines():
        m = re.search(r"\bset -- (.*)", line)
        if m:
            try:
                pre += [w for w in shlex.split(m.group(1)) if w != "$@"]
            except ValueError:
                pass
        if re.search(r"mqspec\S*\s+run\b", line):
            line = line.split("|")[0].split("||")[0].split(">")[0]
            try:
                return shlex.split(line, comments=True) + pre
            except ValueError:
                return line.split() + pre
    return None

def opt_value(words, opt):
    for i, w in enumerate(words):
        if w == opt and i + 1 < len(words):
            return words[i + 1]
        if w.startswith(opt + "="):
            return w[len(opt) + 1:]
    return None

def bash_n(script, what):
    # GitHub expressions ${{ ... }} are not shell: stand a word in for them.
    s = re.sub(r"\$\{\{.*?\}\}", "X", script)
    p = subprocess.run(["bash", "-n"], input=s, text=True, capture_output=True)
    ok(p.returncode == 0, "%s: the shell passes bash -n" % what, p.stderr)

def check_run(words, what):
    ok(words is not None, "%s: a step runs `mqspec run`" % what)
    if words is None:
        return None, None, None
    junit = opt_value(words, "--junit")
    html = opt_value(words, "--html")
    js = opt_value(words, "--json")
    ok(junit is not None, "%s: `mqspec run` is given --junit (%s)" % (what, junit))
    ok(html is not None, "%s: `mqspec run` is given --html (%s)" % (what, html))
    ok(js is not None, "%s: `mqspec run` is given --json (%s)" % (what, js))
    ok("--broker" in words, "%s: `mqspec run` is given --broker" % what)
    opts = [w for w in words if w.startswith("--")]
    unknown = [o for o in opts if o.split("=")[0] not in known_opts]
    ok(known_opts and not unknown,
       "%s: every option is one `mqspec run --help` lists (%s)" % (what, " ".join(opts)),
       "unknown: %s" % unknown if known_opts else "mqspec run --help printed nothing")
    return junit, html, js

def kept(path, kept_paths):
    """A file is kept when it is listed or lies under a listed folder."""
    for k in kept_paths:
        k = k.strip()
        if not k:
            continue
        if k == path or (k.endswith("/") and path.startswith(k)):
            return True
    return False

# ---- GitHub Actions ---------------------------------------------------------
gh_path = sys.argv[1]
try:
    gh = yaml.safe_load(open(gh_path))
    ok(isinstance(gh, dict), "%s parses as YAML" % gh_path)
except Exception as e:
    gh = None
    ok(False, "%s parses as YAML" % gh_path, e)
gh = gh or {}
# PyYAML (YAML 1.1) reads the key `on` as the boolean true.
ok(("on" in gh or True in gh) and "name" in gh, "github: has name and on (triggers)")
jobs = gh.get("jobs") or {}
ok(isinstance(jobs, dict) and len(jobs) >= 1, "github: has a job")
job = None
for j in jobs.values():
    if any(re.search(r"mqspec\S*\s+run\b", (s or {}).get("run", "")) for s in j.get("steps", [])):
        job = j
job = job or {}
steps = job.get("steps", [])
ok("runs-on" in job and re.search(r"ubuntu|debian", str(job.get("runs-on"))),
   "github: the job runs on Ubuntu (%s)" % job.get("runs-on"))
all_run = "\n".join(s.get("run", "") for s in steps)
missing = [p for p in APT if p not in all_run]
ok(not missing and "apt-get install" in all_run, "github: apt-get installs the build packages", missing)
ok(re.search(r"\bmake\b", all_run), "github: builds mqspec with make")
for s in steps:
    if "run" in s:
        bash_n(s["run"], "github step '%s'" % s.get("name", "?"))
run_step = next((s for s in steps if re.search(r"mqspec\S*\s+run\b", s.get("run", ""))), {})
junit, html, js = check_run(mqspec_run_args(run_step.get("run", "")), "github")
env = job.get("env", {}) or {}
ok("MQSPEC_BROKER_URL" in env and "secrets." in str(env.get("MQSPEC_BROKER_URL")),
   "github: the broker URL comes from a secret (MQSPEC_BROKER_URL)")
ok("eclipse-mosquitto" in all_run or "services" in job,
   "github: without a URL a broker container is started")
report = [s for s in steps if re.match(r"(mikepenz/action-junit-report|dorny/test-reporter|EnricoMi/publish-unit-test-result-action)@", s.get("uses", ""))]
ok(len(report) == 1, "github: one step publishes JUnit to the test view")
if report:
    w = report[0].get("with", {}) or {}
    paths = str(w.get("report_paths") or w.get("path") or w.get("files") or w.get("junit_files") or "")
    ok(junit is not None and junit in [p.strip() for p in re.split(r"[,\n]", paths)],
       "github: the report step reads the file --junit writes (%s)" % junit, "report step reads: %r" % paths)
    ok(str(report[0].get("if", "")).startswith("always()"), "github: the report step runs when the run failed (if: always())")
up = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
ok(len(up) == 1, "github: one step uploads artefacts")
if up:
    paths = str((up[0].get("with") or {}).get("path", "")).splitlines()
    ok(html is not None and kept(html, paths), "github: the artefacts hold the HTML report (%s)" % html, paths)
    ok(js is not None and kept(js, paths), "github: the artefacts hold the JSON results (%s)" % js, paths)
    ok(str(up[0].get("if", "")).startswith("always()"), "github: the artefacts are kept when the run failed (if: always())")
text = open(gh_path).read()
ok(all(re.search(r"^#\s+%d\s" % c, text, re.M) for c in (0, 1, 2, 3)),
   "github: the comments explain exit status 0, 1, 2 and 3")

# ---- GitLab CI --------------------------------------------------------------
gl_path = sys.argv[2]
try:
    gl = yaml.safe_load(open(gl_path))
    ok(isinstance(gl, dict), "%s parses as YAML" % gl_path)
except Exception as e:
    gl = None
    ok(False, "%s parses as YAML" % gl_path, e)
gl = gl or {}
jobs = {k: v for k, v in gl.items() if isinstance(v, dict) and "script" in v}
ok(len(jobs) >= 1, "gitlab: has a job with a script")
job = next((j for j in jobs.values() if any(re.search(r"mqspec\S*\s+run\b", l) for l in j["script"])), {})
ok(re.search(r"debian|ubuntu", str(job.get("image", ""))), "gitlab: the job runs in a Debian/Ubuntu image (%s)" % job.get("image"))
before = "\n".join(job.get("before_script", []) + job.get("script", []))
missing = [p for p in APT if p not in before]
ok(not missing and "apt-get install" in before, "gitlab: apt-get installs the build packages", missing)
ok(re.search(r"\bmake\b", before), "gitlab: builds mqspec with make")
for i, l in enumerate(job.get("before_script", []) + job.get("script", [])):
    bash_n(l, "gitlab script line %d" % (i + 1))
script = "\n".join(job.get("script", []))
junit, html, js = check_run(mqspec_run_args(script), "gitlab")
svc = job.get("services", [])
names = [s.get("name") if isinstance(s, dict) else s for s in svc]
ok(any("mosquitto" in str(x) for x in names), "gitlab: a broker service container (%s)" % names)
aliases = [s.get("alias") for s in svc if isinstance(s, dict)]
url = str((job.get("variables") or {}).get("MQSPEC_BROKER_URL", ""))
ok(any(a and "//%s:" % a in url for a in aliases), "gitlab: MQSPEC_BROKER_URL (%s) names the service's alias" % url)
art = job.get("artifacts") or {}
ok(art.get("when") == "always", "gitlab: artifacts are kept when the run failed (when: always)")
rj = (art.get("reports") or {}).get("junit")
rj = rj if isinstance(rj, list) else [rj]
ok(junit is not None and junit in rj, "gitlab: artifacts:reports:junit is the file --junit writes (%s)" % junit, rj)
paths = art.get("paths", [])
ok(html is not None and kept(html, paths), "gitlab: the artefacts hold the HTML report (%s)" % html, paths)
ok(js is not None and kept(js, paths), "gitlab: the artefacts hold the JSON results (%s)" % js, paths)
text = open(gl_path).read()
ok(all(re.search(r"^#\s+%d\s" % c, text, re.M) for c in (0, 1, 2, 3)),
   "gitlab: the comments explain exit status 0, 1, 2 and 3")

# ---- README -----------------------------------------------------------------
readme = open("README.md").read()
ok("## Using mqspec in your CI" in readme and gh_path in readme and gl_path in readme,
   "README: a section 'Using mqspec in your CI' names both files")

print("1..%d" % n)
sys.exit(failed)
PY

#!/usr/bin/env bash
# Fork-safety suite (tests/integration/test_fork_safety.py) on every CPython
# this machine has: herd is built for each interpreter (make PYTHON=...) and
# the suite runs against that binary (HERD_BIN). pytest itself always runs
# under /usr/bin/python3 (Debian's, which has pytest); the interpreter under
# test is the one embedded in herd.
#
# Interpreters: Debian's python3 (3.11), /usr/bin/python3.11-dbg, and the
# newest pyenv 3.12.* and 3.13.* built with a shared libpython. One that is
# absent is reported as skipped, not failed.
#
# Usage: tests/forksafety/run-all.sh [-n ITERATIONS] [-k PYTEST_K] [LABEL...]
#   LABEL: 3.11, 3.11-dbg, 3.12, 3.13 (default: all)
#   -n N   run the suite N times per interpreter (default 1; every run must pass)
#   -k EXPR  passed to pytest -k
# Environment: PYTEST_ARGS (default -q), FORKSAFETY_LOGDIR (where the output
# of failed runs is kept; default: a new /tmp/forksafety.* directory).
# Exit status: 0 if every run on every available interpreter passed.
set -u

REPO=$(cd "$(dirname "$0")/../.." && pwd)
PYTEST_PY=/usr/bin/python3
ITER=1
KEXPR=""
while getopts "n:k:h" opt; do
    case $opt in
    n) ITER=$OPTARG ;;
    k) KEXPR=$OPTARG ;;
    *) sed -n '2,21p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
WANT=("$@")
[ ${#WANT[@]} -eq 0 ] && WANT=(3.11 3.11-dbg 3.12 3.13)
LOGDIR=${FORKSAFETY_LOGDIR:-$(mktemp -d /tmp/forksafety.XXXXXX)}
mkdir -p "$LOGDIR"

if command -v pyenv >/dev/null 2>&1; then
    PYENV_ROOT_DIR=$(pyenv root)
else
    PYENV_ROOT_DIR=${PYENV_ROOT:-$HOME/.pyenv}
fi

shared_lib() { # PYTHON -> succeeds if it was built with a shared libpython
    "$1" -c 'import sys, sysconfig; sys.exit(0 if sysconfig.get_config_var("Py_ENABLE_SHARED") else 1)' \
        >/dev/null 2>&1
}

pyenv_python() { # MINOR (3.12) -> newest pyenv interpreter of that series with a shared libpython
    local minor=$1 d py best=""
    [ -d "$PYENV_ROOT_DIR/versions" ] || return 1
    for d in $(ls -d "$PYENV_ROOT_DIR/versions/$minor".* 2>/dev/null | sort -V); do
        py=$d/bin/python$minor
        case $(basename "$d") in *t | *-dev | *a* | *b* | *rc*) continue ;; esac
        [ -x "$py" ] && shared_lib "$py" && best=$py
    done
    [ -n "$best" ] && echo "$best"
}

find_python() { # LABEL -> interpreter path
    case $1 in
    3.11)
        [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' &&
            echo /usr/bin/python3 ;;
    3.11-dbg) [ -x /usr/bin/python3.11-dbg ] && echo /usr/bin/python3.11-dbg ;;
    3.12 | 3.13) pyenv_python "$1" ;;
    *) return 1 ;;
    esac
}

declare -a SUMMARY
FAILED=0
echo "==== $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null)$(git -C "$REPO" diff --quiet HEAD -- src 2>/dev/null || echo ' (src/ modified)'); output in $LOGDIR"
for label in "${WANT[@]}"; do
    py=$(find_python "$label")
    if [ -z "$py" ]; then
        SUMMARY+=("$label: skipped: no $label build found (with a shared libpython)")
        echo "==== $label: skipped: no $label interpreter found"
        continue
    fi
    tag=$("$py" -c 'import sys; print("py%d%d%s" % (sys.version_info[0], sys.version_info[1], "d" if hasattr(sys, "gettotalrefcount") else ""))')
    version=$("$py" -c 'import platform; print(platform.python_version())')
    bin=$REPO/build/$tag/herd
    echo "==== $label: building herd for $py ($version) -> $bin"
    if ! make -C "$REPO" --no-print-directory PYTHON="$py" herd >"$LOGDIR/build-$label.log" 2>&1; then
        tail -30 "$LOGDIR/build-$label.log"
        SUMMARY+=("$label ($version, $py): BUILD FAILED (see $LOGDIR/build-$label.log)")
        FAILED=1
        continue
    fi
    # Run a copy: a rebuild in the tree meanwhile must not change the binary under test.
    cp "$bin" "$LOGDIR/herd-$label" && bin=$LOGDIR/herd-$label
    pass=0 fail=0
    t0=$(date +%s)
    for i in $(seq 1 "$ITER"); do
        out=$LOGDIR/run-$label-$i.log
        args=(${PYTEST_ARGS:--q} -p no:cacheprovider)
        [ -n "$KEXPR" ] && args+=(-k "$KEXPR")
        s=$(date +%s)
        ( cd "$REPO" && HERD_BIN=$bin FORKTEST_SUMMARY=$LOGDIR/summary-$label.txt \
            "$PYTEST_PY" -m pytest "${args[@]}" tests/integration/test_fork_safety.py ) >"$out" 2>&1
        rc=$?
        last=$(grep -E '(passed|failed|error)' "$out" | tail -1)
        if [ $rc -eq 0 ]; then
            pass=$((pass + 1))
            rm -f "$out"
        else
            fail=$((fail + 1))
            grep -E '^(FAILED|ERROR)' "$out" | sed 's/^/    /'
        fi
        echo "  $label run $i/$ITER: rc=$rc in $(($(date +%s) - s)) s: $last"
    done
    secs=$(($(date +%s) - t0))
    line="$label ($version, $py): $pass/$ITER runs passed, $fail failed, $secs s"
    [ $fail -gt 0 ] && line="$line (output of failed runs in $LOGDIR)" && FAILED=1
    SUMMARY+=("$line")
done

echo
echo "==== fork-safety summary"
for l in "${SUMMARY[@]}"; do echo "  $l"; done
exit $FAILED

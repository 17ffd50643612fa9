# Shared steps of scripts/quickstart and scripts/test: a virtual environment and the services.
# Sourced, not run. Each step is idempotent: it does nothing when its part is already there.

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

is_root() { [ "$(id -u)" = 0 ]; }

apt_install() {
    is_root || die "$1 is missing; install it with: sudo apt-get install -y $*"
    say "installing Debian packages: $*"
    if [ -z "${APT_UPDATED:-}" ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# ensure_venv EXTRAS: .venv with the project installed (editable), reinstalled when pyproject changes.
ensure_venv() {
    local extras="$1" python="${PYTHON:-python3}"
    command -v "$python" >/dev/null || die "$python not found; Python 3.11 or newer is needed"
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
        die "Python 3.11 or newer is needed ($("$python" --version) found)"
    if [ ! -x .venv/bin/python ]; then
        say "creating the virtual environment in .venv"
        if ! "$python" -m venv .venv 2>/dev/null; then
            rm -rf .venv
            apt_install python3-venv
            "$python" -m venv .venv
        fi
    fi
    local stamp=.venv/.installed-$extras
    local wanted
    wanted=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        say "installing the project and its dependencies"
        # Some machines' pip.conf names local indexes that may be absent; pip says so per package.
        .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
        .venv/bin/python -m pip install -q -e ".[$extras]" 2>&1 | grep -v "^WARNING: Location" || true
        .venv/bin/python -c "import digest.cli, workers.app" || die "the installation failed; see pip's messages above"
        echo "$wanted" > "$stamp"
    fi
}

# tcp_answers HOST PORT: something listens there.
tcp_answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# check_ports NAME=PORT...: each PORT is a number that nothing on 127.0.0.1 listens on yet, and
# no two are the same; otherwise names every one taken, the setting that moves it and a free
# port to try, and exits before anything was started.
check_ports() {
    local pair name port seen=" " problems=()
    for pair in "$@"; do
        name=${pair%%=*} port=${pair#*=}
        if ! [[ "$port" =~ ^[0-9]{1,5}$ ]] || (( port < 1 || port > 65535 )); then
            problems+=("$name=$port is not a port number (1 to 65535)")
        elif [[ "$seen" == *" $port "* ]]; then
            problems+=("$name=$port is the port of another process here; give it its own")
        elif tcp_answers 127.0.0.1 "$port"; then
            problems+=("port $port ($name) is taken: something already listens on 127.0.0.1:$port; stop it, or choose another port, e.g. $name=$(next_free_port "$port") bash scripts/quickstart")
        fi
        seen+="$port "
    done
    (( ${#problems[@]} == 0 )) && return 0
    printf 'error: %s\n' "${problems[@]}" >&2
    exit 1
}

# next_free_port PORT: the first port after PORT that nothing on 127.0.0.1 listens on.
next_free_port() {
    local port=$(( $1 + 1 ))
    while (( port < 65535 )) && tcp_answers 127.0.0.1 "$port"; do port=$(( port + 1 )); done
    echo "$port"
}

# set_env_value FILE NAME VALUE: NAME=VALUE in the env file FILE, replacing its line if it has
# one (where it stands), else appended; the other lines are kept as they are.
set_env_value() {
    local file="$1" name="$2" value="$3"
    touch "$file"
    NAME="$name" VALUE="$value" awk '
        index($0, ENVIRON["NAME"] "=") == 1 { if (!done) print ENVIRON["NAME"] "=" ENVIRON["VALUE"]; done = 1; next }
        { print }
        END { if (!done) print ENVIRON["NAME"] "=" ENVIRON["VALUE"] }' "$file" > "$file.new"
    mv "$file.new" "$file"
}

# redis_answers HOST PORT: a Redis server answers PING.
redis_answers() {
    local reply
    exec 3<>"/dev/tcp/$1/$2" 2>/dev/null || return 1
    printf 'PING\r\n' >&3
    read -r -t 2 reply <&3 || true
    exec 3>&- 3<&-
    [[ "$reply" == +PONG* ]]
}

# start_private_redis PORT DIR: a redis-server of our own, kept nothing on disk.
start_private_redis() {
    local port="$1" dir="$2"
    command -v redis-server >/dev/null || apt_install redis-server
    mkdir -p "$dir"
    say "starting a private redis-server on 127.0.0.1:$port"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
        --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log"
    for _ in $(seq 50); do redis_answers 127.0.0.1 "$port" && return 0; sleep 0.1; done
    die "redis-server did not start; see $dir/redis.log"
}

# stop_private_redis DIR: stop the redis-server started with start_private_redis PORT DIR.
stop_private_redis() {
    local pidfile="$1/redis.pid"
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; fi
    rm -rf "$1"
}

# free_port: a TCP port on 127.0.0.1 that nothing listens on now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ensure_postgres: the PostgreSQL server the tests use answers on 127.0.0.1:5432.
ensure_postgres() {
    tcp_answers 127.0.0.1 5432 && return 0
    if ! command -v pg_ctlcluster >/dev/null; then
        apt_install postgresql
    fi
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    say "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 100); do tcp_answers 127.0.0.1 5432 && break; sleep 0.1; done
    tcp_answers 127.0.0.1 5432 || die "PostgreSQL did not start on 127.0.0.1:5432"
}

# ensure_spamassassin: Debian's SpamAssassin, which scores every message the tests write and each
# draft in the pre-send checklist (run locally, network tests off).
ensure_spamassassin() {
    command -v spamassassin >/dev/null || apt_install spamassassin
}

# ensure_chromium: Debian's Chromium, which the browser tests drive through Playwright (never a
# browser downloaded by `playwright install`).
ensure_chromium() {
    [ -x /usr/bin/chromium ] || apt_install chromium
}

# ensure_node_tools: the npm packages the tests run (tests/node: html-validate on pages and emails,
# caniemail's support data on emails), installed exactly as tests/node/package-lock.json pins
# them, again when the lock changes. Node and npm from Debian when missing.
ensure_node_tools() {
    command -v node >/dev/null && command -v npm >/dev/null || apt_install nodejs npm
    local stamp=tests/node/node_modules/.installed wanted
    wanted=$(sha256sum tests/node/package-lock.json | cut -d' ' -f1)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
        say "installing the tests' npm packages (tests/node)"
        npm ci --prefix tests/node --no-audit --no-fund --loglevel=error >/dev/null ||
            die "npm ci in tests/node failed; see npm's messages above"
        echo "$wanted" > "$stamp"
    fi
}

# ensure_promtool: Prometheus' promtool from Debian's `prometheus` package, which the tests use to
# check /metrics and the alert rules in deploy/prometheus. The package also installs a Prometheus
# service; the tests never start it.
ensure_promtool() {
    command -v promtool >/dev/null || apt_install prometheus
}

# ensure_nginx: Debian's nginx, whose `nginx -t` checks deploy/nginx/digest.conf in the tests.
# The package starts nginx on port 80 as it installs and enables it at boot: a policy-rc.d that
# refuses every start holds it back while apt runs (a container's own one is left as it is), and
# systemd is told not to start it at boot. The tests never start it.
ensure_nginx() {
    command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] && return 0
    local policy=/usr/sbin/policy-rc.d ours=""
    if is_root && [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# scripts/lib.sh ensure_nginx: no service starts while it installs nginx.\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        ours=1
    fi
    apt_install nginx || { [ -n "$ours" ] && rm -f "$policy"; die "installing nginx failed"; }
    [ -n "$ours" ] && rm -f "$policy"
    if [ -d /run/systemd/system ]; then systemctl disable --quiet nginx 2>/dev/null || true; fi
}

# ensure_test_redis: the tests flush their Redis database, so it is never guessed: a private
# redis-server of their own, stopped when the calling script exits, unless TEST_REDIS_URL names a
# Redis that is theirs to flush.
ensure_test_redis() {
    [ -n "${TEST_REDIS_URL:-}" ] && return 0
    local port
    port=$(free_port)
    test_redis_dir="$PWD/var/test-redis-$port"
    start_private_redis "$port" "$test_redis_dir"
    trap 'stop_private_redis "$test_redis_dir"' EXIT
    export TEST_REDIS_URL=redis://127.0.0.1:$port/0
}

# ensure_test_postgres: the PostgreSQL the tests use: TEST_POSTGRES_URL, else postgres on
# 127.0.0.1:5432 (started, or installed from Debian when missing).
ensure_test_postgres() {
    [ -n "${TEST_POSTGRES_URL:-}" ] && return 0
    ensure_postgres
    if ! .venv/bin/python - <<'PY' 2>/dev/null
import psycopg
psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=5).close()
PY
    then
        # A PostgreSQL installed just now asks for passwords over TCP: give the tests a role.
        is_root || die "cannot connect to PostgreSQL as postgres on 127.0.0.1; set TEST_POSTGRES_URL"
        su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\""
        su postgres -c "psql -lqt | cut -d'|' -f1 | grep -qw test || createdb test"
        export TEST_POSTGRES_URL=postgresql+psycopg://postgres:postgres@127.0.0.1:5432/test
    fi
}

# shellcheck shell=bash
# Shared by deploy/local/install and deploy/local/stack; sourced, never run.

# shellcheck disable=SC2034  # used by the scripts that source this file
LOCAL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$LOCAL_DIR/../.." && pwd)"
KAFKA_POM="$LOCAL_DIR/kafka/pom.xml"

# The one place the Kafka version is written down is the pom.
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM" | head -n 1)"
KAFKA_HOME_CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/oms/kafka-$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME_CACHE/libs"
KAFKA_MARKER="$KAFKA_HOME_CACHE/complete"

info() { printf '==> %s\n' "$*"; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

is_root() { [[ "$(id -u)" == 0 ]]; }

# The pom's checksum: the jar cache is complete for exactly this pom.
pom_digest() { sha256sum "$KAFKA_POM" | cut -d ' ' -f 1; }

kafka_jars_ready() {
    [[ -f "$KAFKA_MARKER" && "$(cat "$KAFKA_MARKER")" == "$(pom_digest)" ]]
}

# Copies the broker's runtime jars out of Maven Central into $KAFKA_LIBS, once per pom.
fetch_kafka_jars() {
    if kafka_jars_ready; then
        info "Kafka $KAFKA_VERSION jars already in $KAFKA_LIBS"
        return 0
    fi
    command -v mvn >/dev/null 2>&1 ||
        die "Maven (mvn) is needed to fetch the Kafka jars; run deploy/local/install as root or: apt-get install -y maven"
    mkdir -p "$KAFKA_HOME_CACHE"
    # Several clones share the cache: one fetch at a time, published by a rename.
    exec {lock_fd}>"$KAFKA_HOME_CACHE/.lock"
    flock "$lock_fd"
    if kafka_jars_ready; then
        exec {lock_fd}>&-
        return 0
    fi
    info "Fetching Kafka $KAFKA_VERSION from Maven Central into $KAFKA_LIBS"
    local staging="$KAFKA_HOME_CACHE/libs.partial"
    rm -rf "$staging"
    local mvn_log="$KAFKA_HOME_CACHE/mvn.log"
    if ! mvn -q -B -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$staging" >"$mvn_log" 2>&1; then
        cat "$mvn_log" >&2
        rm -rf "$staging"
        die "mvn could not fetch the Kafka jars (output above, also in $mvn_log); check access to https://repo.maven.apache.org"
    fi
    [[ -n "$(find "$staging" -maxdepth 1 -name "kafka_2.13-$KAFKA_VERSION.jar")" ]] ||
        die "mvn finished but kafka_2.13-$KAFKA_VERSION.jar is not in $staging"
    rm -rf "$KAFKA_LIBS"
    mv "$staging" "$KAFKA_LIBS"
    pom_digest >"$KAFKA_MARKER"
    exec {lock_fd}>&-
    info "Kafka $KAFKA_VERSION: $(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars in $KAFKA_LIBS"
}

# The newest PostgreSQL server install, e.g. /usr/lib/postgresql/15/bin; empty when none.
pg_bin_dir() {
    local candidate best="" best_version=0 version
    for candidate in /usr/lib/postgresql/*/bin/postgres; do
        [[ -x "$candidate" ]] || continue
        version="$(basename "$(dirname "$(dirname "$candidate")")")"
        [[ "$version" =~ ^[0-9]+$ ]] || continue
        if ((version > best_version)); then
            best_version="$version"
            best="$(dirname "$candidate")"
        fi
    done
    printf '%s' "$best"
}

# Sourced by scripts/jaeger and scripts/otelcol: the one way this project builds and runs a Go
# program that its tests start. Built once from the Go module proxy in an empty scratch module
# (GOMODCACHE and GOCACHE stay warm for the next build), kept outside the repository under a
# name that says its version, never committed.
#
# The sourcing script sets ROOT and CACHE with gobuild_init, then these and calls gobuild_main "$@":
#   SCRIPT    its name, for messages
#   LABEL     what is built, for messages ("Jaeger v1.75.0")
#   BINARY    the cached program's path
#   TOOL      module@version the scratch module gets as a tool (go get -tool)
#   DURATION  how long a cold build takes on 2 cores, for the one line a build prints
#   STEP      a function run in the scratch module as `STEP OUTPUT`: it leaves the program at OUTPUT
#   RUN_ARGS  an array: the arguments `run` starts the program with

gobuild_init() {
    ROOT="$(cd "$(dirname "${BASH_SOURCE[1]}")/.." && pwd)"
    CACHE="${OTEL_PYTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/otel-pytest}"
}

gobuild_build() {
    if [ -x "$BINARY" ]; then
        echo "$BINARY"
        return
    fi
    if ! command -v go >/dev/null; then
        echo "$SCRIPT: Go is not installed; install Go 1.22 or newer (https://go.dev/dl/) to build $LABEL, or use docker-compose.yml" >&2
        exit 2
    fi
    local scratch
    scratch="$(mktemp -d)"
    # shellcheck disable=SC2064  # the folder is known now, and the trap must remove that one
    trap "rm -rf '$scratch'" RETURN
    mkdir -p "$(dirname "$BINARY")"
    echo "$SCRIPT: building $LABEL once ($DURATION cold on 2 cores) into $BINARY" >&2
    (
        cd "$scratch"
        go mod init local/build >/dev/null 2>&1
        if ! go get -tool "$TOOL" >get.log 2>&1; then
            tail -5 get.log >&2
            echo "$SCRIPT: fetching $TOOL from the Go module proxy failed (above)" >&2
            exit 1
        fi
        "$STEP" "$BINARY.partial"
    )
    mv "$BINARY.partial" "$BINARY"  # a build cut short never passes for a binary
    echo "$BINARY"
}

gobuild_main() {
    case "${1:-}" in
        build) gobuild_build ;;
        path)
            [ -x "$BINARY" ] || { echo "$SCRIPT: $LABEL is not built yet; run $SCRIPT build" >&2; exit 1; }
            echo "$BINARY"
            ;;
        run) exec "$(gobuild_build)" "${RUN_ARGS[@]}" ;;
        *)
            echo "usage: $SCRIPT build|path|run" >&2
            exit 2
            ;;
    esac
}

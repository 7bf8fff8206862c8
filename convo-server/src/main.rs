//! `convo-server`: see `convo-server --help`.

// Request handling allocates many small, short-lived values (JSON trees,
// strings); mimalloc serves them faster than glibc's malloc (profiled with
// perf under scripts/bench.sh: malloc/free were ~20% of a list request).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    convo_server::run_cli().await
}

//! `convo-server`: see `convo-server --help`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    convo_server::run_cli().await
}

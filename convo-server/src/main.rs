//! `convo-server`: the Convo REST server.

fn main() {
    eprintln!(
        "convo-server: the REST API is being built (see the server issue); nothing to serve yet"
    );
    std::process::exit(1);
}

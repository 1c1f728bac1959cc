//! Logging setup: human-readable or JSON, filtered by configuration or `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// Installs the process-wide subscriber (once, at start).
pub fn init(filter: &str, format: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // A second init (tests) is harmless.
    drop(result);
}

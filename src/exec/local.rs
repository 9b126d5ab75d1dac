//! The `local` transport: commands on the operator's machine through tokio processes.

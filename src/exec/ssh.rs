//! The `ssh` transport over ssh2: sessions on blocking threads, host keys verified.

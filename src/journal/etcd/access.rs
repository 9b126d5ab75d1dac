//! How bringup reaches a team's etcd: TLS (a CA, a client certificate) and user
//! authentication, from `--etcd-ca`, `--etcd-cert`, `--etcd-key`, `--etcd-user` /
//! `ETCD_USER` and `ETCD_PASSWORD` (a password never comes from the command line).

use std::path::PathBuf;

use crate::cli::EtcdArgs;

/// Where the password of `--etcd-user` comes from.
pub const PASSWORD_ENV: &str = "ETCD_PASSWORD";

/// Its `Debug` never shows the password (`password: Some(***)`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Access {
    /// CA certificate (PEM) the members' certificates must chain to: TLS when set.
    pub ca: Option<PathBuf>,
    /// Client certificate and key (PEM) for client-certificate authentication.
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// User and password for etcd's authentication.
    pub user: Option<String>,
    pub password: Option<String>,
}

impl Access {
    pub fn from_args(args: &EtcdArgs) -> Access {
        Access {
            ca: args.etcd_ca.clone(),
            cert: args.etcd_cert.clone(),
            key: args.etcd_key.clone(),
            user: args.etcd_user.clone(),
            password: args
                .etcd_user
                .as_ref()
                .and_then(|_| std::env::var(PASSWORD_ENV).ok()),
        }
    }
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("ca", &self.ca)
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("user", &self.user)
            .field(
                "password",
                &self.password.as_ref().map(|_| format_args!("***")),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_shows_the_user_and_never_the_password() {
        let access = Access {
            user: Some("ops".into()),
            password: Some("hunter2-etcd".into()),
            ..Access::default()
        };
        let shown = format!("{access:?} {access:#?}");
        assert!(!shown.contains("hunter2-etcd"), "{shown}");
        assert!(shown.contains("password: Some(***)"), "{shown}");
        assert!(shown.contains("\"ops\""), "{shown}");
        assert!(format!("{:?}", Access::default()).contains("password: None"));
    }
}

//! `[[witness]]` → [`Target`]: exactly one of `path` and `url`, an `etcd://` URL that
//! parses, a directory relative to the runbook's folder, no witness named twice. Whether a
//! directory exists is not checked here: it may be mounted only where the run happens (a
//! missing one is journaled as `witness_failed` when heads are written).

use super::Validator;
use crate::runbook::diag::Diag;
use crate::runbook::raw::{RawWitness, S};
use crate::witness::Target;

impl Validator<'_> {
    pub(super) fn witnesses(
        &mut self,
        raw: Vec<S<RawWitness>>,
        base: Option<&std::path::Path>,
    ) -> Vec<Target> {
        let mut out: Vec<Target> = Vec::new();
        for w in raw {
            let span = w.span();
            let w = w.into_inner();
            let (text, span) = match (&w.path, &w.url) {
                (Some(path), None) => (path.get_ref().clone(), path.span()),
                (None, Some(url)) => {
                    if !url.get_ref().starts_with("etcd://") {
                        self.error(
                            Diag::new(url.span(), format!("witness url '{}' is not an etcd:// URL", url.get_ref()))
                                .help("write url = \"etcd://HOST:PORT[,HOST:PORT…]/NAME\", or path = \"DIR\" for a directory"),
                        );
                        continue;
                    }
                    (url.get_ref().clone(), url.span())
                }
                (Some(_), Some(url)) => {
                    self.error(
                        Diag::new(url.span(), "a [[witness]] has both 'path' and 'url'")
                            .help("write one [[witness]] for the directory and another for the etcd cluster"),
                    );
                    continue;
                }
                (None, None) => {
                    self.error(
                        Diag::new(span, "a [[witness]] needs 'path' or 'url'").help(
                            "write path = \"DIR\" (a directory outside the operator's machine) or url = \"etcd://HOST:PORT/NAME\"",
                        ),
                    );
                    continue;
                }
            };
            match Target::parse(&text, base) {
                Ok(target) if out.contains(&target) => self.error(
                    Diag::new(span, format!("witness '{text}' is listed twice")).help("remove one"),
                ),
                Ok(target) => out.push(target),
                Err(why) => self.error(Diag::new(span, why).help(
                    "a witness is path = \"DIR\" or url = \"etcd://HOST:PORT[,HOST:PORT…]/NAME\"",
                )),
            }
        }
        out
    }
}

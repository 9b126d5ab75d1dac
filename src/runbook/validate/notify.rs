//! `[[notify]]` → [`Notify`]: the URL's scheme, `format` and `on` words, the secret header's
//! shape. A URL or header that comes from variables is a secret: diagnostics quote what was
//! written, never the value it became.

use super::{Scope, Validator};
use crate::runbook::diag::{Diag, closest};
use crate::runbook::model::{Notify, NotifyFormat, NotifyOn, Template, TemplatePart};
use crate::runbook::raw::{RawNotify, S};

impl Validator<'_> {
    pub(super) fn notify(
        &mut self,
        raw: Vec<S<RawNotify>>,
        scope: &Scope<'_>,
        vars: &indexmap::IndexMap<String, String>,
    ) -> Vec<Notify> {
        raw.into_iter()
            .map(|n| self.one_notify(n.into_inner(), scope, vars))
            .collect()
    }

    #[allow(clippy::needless_pass_by_value)]
    fn one_notify(
        &mut self,
        raw: RawNotify,
        scope: &Scope<'_>,
        vars: &indexmap::IndexMap<String, String>,
    ) -> Notify {
        let url = self.template(&raw.url, scope);
        let filled = fill(&url, vars);
        if !(filled.starts_with("http://") || filled.starts_with("https://"))
            || reqwest::Url::parse(&filled).is_err()
        {
            self.error(
                Diag::new(
                    raw.url.span(),
                    format!("notify url '{}' is not an http:// or https:// URL", raw.url.get_ref()),
                )
                .help("write the webhook's full URL, like 'https://hooks.example.com/T000/B000', or {{var}} for a secret one"),
            );
        }
        let format = match raw.format.as_ref().map(|f| f.get_ref().as_str()) {
            None | Some("json") => NotifyFormat::Json,
            Some("slack") => NotifyFormat::Slack,
            Some(other) => {
                let span = raw.format.as_ref().map_or(0..0, S::span);
                self.error(
                    Diag::new(span, format!("unknown notify format '{other}'"))
                        .suggest(closest(other, ["slack", "json"]))
                        .help("write format = \"slack\" or format = \"json\""),
                );
                NotifyFormat::Json
            }
        };
        let mut on = Vec::new();
        for word in raw.on.iter().flatten() {
            match NotifyOn::WORDS.iter().find(|(w, _)| w == word.get_ref()) {
                Some((_, kind)) if !on.contains(kind) => on.push(*kind),
                Some(_) => {}
                None => self.error(
                    Diag::new(
                        word.span(),
                        format!("unknown notify event '{}'", word.get_ref()),
                    )
                    .suggest(closest(
                        word.get_ref(),
                        NotifyOn::WORDS.iter().map(|(w, _)| *w),
                    ))
                    .help("write any of \"service_state\", \"run_finished\", \"notice\""),
                ),
            }
        }
        if raw.on.is_none() {
            on = NotifyOn::WORDS.iter().map(|(_, k)| *k).collect();
        }
        let secret_header = raw.secret_header.as_ref().and_then(|h| {
            let text = h.get_ref();
            let name = text.split_once(':').map(|(n, _)| n.trim());
            let valid =
                name.is_some_and(|n| reqwest::header::HeaderName::from_bytes(n.as_bytes()).is_ok());
            if !valid {
                // The value may hold a secret: only the header's name (or nothing) is quoted.
                let shown = name.unwrap_or_default();
                self.error(
                    Diag::new(
                        h.span(),
                        format!("secret_header '{shown}' is not 'Name: value'"),
                    )
                    .help("write it as \"Authorization: Bearer {{hook_token}}\""),
                );
                return None;
            }
            let (name, value) = text.split_once(':')?;
            let value = S::at(h.span(), value.trim().to_string());
            let value = self.template(&value, scope);
            Some((name.trim().to_string(), value))
        });
        Notify {
            url,
            format,
            on,
            secret_header,
        }
    }
}

fn fill(template: &Template, vars: &indexmap::IndexMap<String, String>) -> String {
    template
        .parts
        .iter()
        .map(|part| match part {
            TemplatePart::Text(s) => s.as_str(),
            TemplatePart::Var(name) => vars.get(name).map_or("", String::as_str),
        })
        .collect()
}

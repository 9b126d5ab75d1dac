//! Reports made from a journal: markdown post-mortem, status notice, html, json, csv.

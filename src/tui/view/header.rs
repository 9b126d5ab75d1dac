//! The header line: runbook name, mode, elapsed time, operator, journal path, auto mode; on
//! an attached screen, who executes the run, its URL and whether the link to it is up.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};

use crate::engine::state::Mode;
use crate::journal::event::DrillOutcome;
use crate::tui::app::{App, Link, Seat};
use crate::tui::theme::Theme;
use crate::tui::view::services::clip;
use crate::tui::view::{fmt_clock, fmt_dur};

/// Below this width the notice countdown takes its short form ("notice 1h20m", "NOTICE DUE").
const NOTICE_FULL_WIDTH: u16 = 90;

/// The runbook name keeps at least this much before the journal path is shown.
const MIN_NAME: usize = 24;

pub fn draw(app: &App, theme: Theme, area: Rect, buf: &mut Buffer) {
    buf.set_style(area, theme.header());
    let drill = app.fold.drill.phase.map(|p| (p, app.fold.drill.outcome));
    let (mode, mode_style) = match (app.info.mode, drill) {
        (Mode::Incident, _) => (" INCIDENT ".to_string(), theme.mode_incident()),
        (Mode::Drill, None) => (" DRILL ".to_string(), theme.mode_drill()),
        // A scenario drill shows where it is, then how it ended.
        (Mode::Drill, Some((_, Some(outcome)))) => (
            format!(" DRILL {} ", drill_outcome_word(outcome)),
            theme.mode_drill(),
        ),
        (Mode::Drill, Some((phase, None))) => (
            format!(
                " DRILL: {} ",
                crate::export::describe::drill_phase_word(phase)
            ),
            theme.mode_drill(),
        ),
    };
    let mode = mode.as_str();
    // Mode, time, operator and auto mode always show. The journal path gives way first (to its
    // file name, then entirely, never a useless `….jsonl`), then the runbook's name.
    let notice = notice(app, area.width < NOTICE_FULL_WIDTH);
    let (who, alarm) = who(app);
    let fixed = format!(
        " ·{mode}· {}{} · {who}{}",
        fmt_clock(app.elapsed),
        notice
            .as_ref()
            .map(|(text, _)| format!(" · {text}"))
            .unwrap_or_default(),
        alarm.map(|a| format!(" · {a}")).unwrap_or_default(),
    );
    let (full, file) = match app.attachment() {
        Some(a) => (
            a.url.clone(),
            a.url
                .rsplit_once('/')
                .map(|(_, name)| format!("…/{name}"))
                .unwrap_or_default(),
        ),
        None => (
            app.info.journal.display().to_string(),
            app.info
                .journal
                .file_name()
                .map(|f| format!("…/{}", f.to_string_lossy()))
                .unwrap_or_default(),
        ),
    };
    let width = usize::from(area.width);
    let room = width.saturating_sub(fixed.chars().count() + 1);
    let name_len = app.runbook.name.chars().count();
    let len = |s: &str| s.chars().count();
    // The whole name with the whole path, else with the path's file name, else the file
    // name beside at least MIN_NAME of the name; else no path at all.
    let fits = |name: usize, j: &str| !j.is_empty() && name + 3 + len(j) <= room;
    let journal = [
        (name_len, full.as_str()),
        (name_len, file.as_str()),
        (name_len.min(MIN_NAME), file.as_str()),
    ]
    .into_iter()
    .find(|(name, j)| fits(*name, j))
    .map(|(_, j)| format!(" · {j}"))
    .unwrap_or_default();
    let name = clip(&app.runbook.name, room.saturating_sub(len(&journal)));
    let mut spans = vec![Span::raw(" "), Span::styled(name, theme.title())];
    let mut parts = fixed.splitn(3, mode);
    spans.push(Span::raw(parts.next().unwrap_or_default().to_string()));
    spans.push(Span::styled(mode, mode_style));
    let rest = parts.next().unwrap_or_default().to_string();
    // A passed deadline and a lost link stand out like the mode does.
    let alarms: Vec<String> = notice
        .iter()
        .filter(|(_, due)| *due)
        .map(|(text, _)| text.clone())
        .chain(alarm.map(str::to_string))
        .collect();
    let mut rest = rest.as_str();
    for text in &alarms {
        if let Some((before, after)) = rest.split_once(text.as_str()) {
            spans.push(Span::raw(before.to_string()));
            spans.push(Span::styled(text.clone(), theme.mode_incident()));
            rest = after;
        }
    }
    spans.push(Span::raw(rest.to_string()));
    spans.push(Span::raw(journal));
    let line = Line::from(spans).patch_style(theme.header());
    buf.set_line(area.x, area.y, &line, area.width);
}

/// Who runs it, as the header says: the operator and auto mode; on an attached screen who
/// asks and who executes, and an alarm when the link to the run is down.
fn who(app: &App) -> (String, Option<&'static str>) {
    // On an attached screen: who asks (this operator), who executes, and the run's URL in the
    // journal's place; a link that is down is an alarm like a passed notice deadline.
    match app.attachment() {
        None => (
            format!("by {} · {}", app.info.operator, auto_word(app)),
            None,
        ),
        Some(a) => match &a.link {
            Link::Executing { holder } => (
                format!(
                    "{} {} {holder} · {}",
                    app.info.operator,
                    match a.seat {
                        Seat::Operator => "attached to",
                        Seat::ReadOnly => "watching (read-only)",
                    },
                    auto_word(app)
                ),
                None,
            ),
            Link::NoExecutor => (
                format!("{} attached", app.info.operator),
                Some("NO EXECUTOR"),
            ),
            Link::Ended { .. } => (format!("{} attached · run ended", app.info.operator), None),
            Link::Unreachable { .. } => (
                format!("{} attached", app.info.operator),
                Some("ETCD UNREACHABLE"),
            ),
        },
    }
}

/// The run's auto mode, as its journal says (the same on every screen).
fn auto_word(app: &App) -> &'static str {
    if app.auto() { "auto on" } else { "auto off" }
}

fn drill_outcome_word(outcome: DrillOutcome) -> &'static str {
    match outcome {
        DrillOutcome::Passed => "PASSED",
        DrillOutcome::Failed => "FAILED",
    }
}

/// `[runbook] notice_after` (SPEC "Notifications"), counted from the incident's start: "notice
/// in 1h12m" while a service is not up, then "NOTICE DUE (2h)" once it has passed with an outage
/// on record (`true`: shown as an alarm). `None` without the rule, or with nothing down before it.
fn notice(app: &App, short: bool) -> Option<(String, bool)> {
    let after = app.runbook.notice.after?;
    let since = app
        .fold
        .outage_origin()
        .zip(app.now())
        .and_then(|(origin, now)| (now - origin).to_std().ok())
        .unwrap_or(app.elapsed);
    if since >= after {
        let text = if short {
            "NOTICE DUE".to_string()
        } else {
            format!("NOTICE DUE ({})", fmt_dur(after))
        };
        return app.fold.any_outage().then_some((text, true));
    }
    let left = fmt_dur(after.saturating_sub(since));
    let text = if short {
        format!("notice {left}")
    } else {
        format!("notice in {left}")
    };
    app.services
        .values()
        .any(|v| !v.state.is_up())
        .then_some((text, false))
}

//! AppProject sync windows, as Argo CD evaluates them: which windows apply
//! to an app, which are active at a time, whether a sync may run
//! ([`can_sync`]), and when that next changes ([`next_change`]), so that the
//! controller can look again at that moment. Pure: every answer is a
//! function of the project, the app and the time it is given.
//!
//! A window is active from each start of its cron schedule (in its time
//! zone) for its duration: at `t` when the latest start `s <= t` has
//! `t < s + duration` (Argo CD asks whether `schedule.Next(t - duration)`
//! is before `t`, the same half-open interval but for its first instant).

use std::sync::LazyLock;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use driftless_api::{AppProject, Application, SyncWindow, WindowKind, glob_match};
use jiff::tz::{TimeZone, TimeZoneDatabase};
use jiff::{SignedDuration, Timestamp};
use kube::ResourceExt;

/// Why a project's sync window cannot be used: the project, the window's
/// index in `spec.syncWindows`, the field and the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// `schedule` is not a five-field cron expression or descriptor.
    #[error("project {project}: sync window {index}: schedule {value:?}: {reason}")]
    Schedule {
        /// The project.
        project: String,
        /// The window's index.
        index: usize,
        /// The value (cut short when long).
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// `duration` is not a positive Go duration.
    #[error("project {project}: sync window {index}: duration {value:?}: {reason}")]
    Duration {
        /// The project.
        project: String,
        /// The window's index.
        index: usize,
        /// The value (cut short when long).
        value: String,
        /// What is wrong.
        reason: String,
    },
    /// `timeZone` names no IANA time zone.
    #[error("project {project}: sync window {index}: timeZone {value:?}: {reason}")]
    TimeZone {
        /// The project.
        project: String,
        /// The window's index.
        index: usize,
        /// The value (cut short when long).
        value: String,
        /// What is wrong.
        reason: String,
    },
}

/// A sync window, parsed.
#[derive(Clone, Debug)]
pub struct Window {
    /// The project it belongs to.
    pub project: String,
    /// Its index in `spec.syncWindows`.
    pub index: usize,
    /// As written.
    pub spec: SyncWindow,
    schedule: Cron,
    duration: SignedDuration,
    zone: TimeZone,
}

/// How far [`Window::active_until`] and [`can_sync`] look ahead, in
/// window starts or state changes: a schedule whose runs overlap for longer
/// is "active with no end in sight".
const LOOKAHEAD: usize = 100;

/// Shown values are cut to this many characters: a hostile schedule cannot
/// fill a condition.
const SHOWN: usize = 64;

/// The time zones: bundled, so that every controller image knows the same
/// zones, and a name is only ever a key (never a path).
static ZONES: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

/// Parses every sync window of `project`; the first broken one is the error.
pub fn parse(project: &AppProject) -> Result<Vec<Window>, WindowError> {
    let name = project.name_any();
    project.spec.sync_windows.iter().enumerate().map(|(i, w)| Window::parse(&name, i, w)).collect()
}

impl Window {
    /// Parses window `index` of `project`.
    pub fn parse(project: &str, index: usize, spec: &SyncWindow) -> Result<Window, WindowError> {
        let shown = |v: &str| v.chars().take(SHOWN).collect::<String>();
        let (p, value) = (project.to_string(), &spec.schedule);
        let zone_name = spec.time_zone.as_deref().unwrap_or("");
        let zone =
            parse_zone(zone_name).map_err(|reason| WindowError::TimeZone { project: p.clone(), index, value: shown(zone_name), reason })?;
        let schedule = parse_schedule(value, &zone).map_err(|reason| WindowError::Schedule {
            project: p.clone(),
            index,
            value: shown(value),
            reason,
        })?;
        let duration = parse_duration(&spec.duration).map_err(|reason| WindowError::Duration {
            project: p.clone(),
            index,
            value: shown(&spec.duration),
            reason,
        })?;
        Ok(Window { project: p, index, spec: spec.clone(), schedule, duration, zone })
    }

    /// Whether the window applies to `app`: see [`applies`].
    pub fn applies(&self, app: &Application) -> bool {
        applies(&self.spec, app)
    }

    /// The latest start at or before `t`.
    fn latest_start(&self, t: Timestamp) -> Option<Timestamp> {
        self.schedule.find_previous_occurrence(&t.to_zoned(self.zone.clone()), true).ok().map(|z| z.timestamp())
    }

    /// The first start after `t`.
    pub fn next_start(&self, t: Timestamp) -> Option<Timestamp> {
        self.schedule.find_next_occurrence(&t.to_zoned(self.zone.clone()), false).ok().map(|z| z.timestamp())
    }

    /// When a run that started at `s` ends (never, past the last timestamp).
    fn end_of(&self, s: Timestamp) -> Timestamp {
        s.checked_add(self.duration).unwrap_or(Timestamp::MAX)
    }

    /// Whether the window is active at `t`.
    pub fn active_at(&self, t: Timestamp) -> bool {
        self.latest_start(t).is_some_and(|s| t < self.end_of(s))
    }

    /// If active at `t`, when it stops being active: runs that start
    /// before the current one ends extend it. `None` when not active, or
    /// when it stays active past [`LOOKAHEAD`] runs.
    pub fn active_until(&self, t: Timestamp) -> Option<Timestamp> {
        let mut start = self.latest_start(t)?;
        let mut end = self.end_of(start);
        if t >= end {
            return None;
        }
        for _ in 0..LOOKAHEAD {
            if end == Timestamp::MAX {
                return None;
            }
            // The latest start at or before the end: a later one than the
            // current run's keeps the window open past `end`.
            match self.latest_start(end) {
                Some(s) if s > start => {
                    start = s;
                    end = self.end_of(s);
                }
                Some(_) => return Some(end),
                // Past the years a schedule can be searched in.
                None => return None,
            }
        }
        None
    }

    /// The first time after `t` at which the window opens or closes.
    pub fn next_change(&self, t: Timestamp) -> Option<Timestamp> {
        if self.active_at(t) { self.active_until(t) } else { self.next_start(t) }
    }

    fn is_deny(&self) -> bool {
        self.spec.kind == WindowKind::Deny
    }
}

/// Whether `window` applies to `app`: its app name, destination namespace
/// or destination cluster (server URL or name) matches a glob of the
/// corresponding selector; every non-empty selector must match with
/// `andOperator`. A window with no selector applies to no app.
pub fn applies(window: &SyncWindow, app: &Application) -> bool {
    let dest = &app.spec.destination;
    let name = app.name_any();
    let clusters: Vec<&str> = [dest.server.as_deref(), dest.name.as_deref()].into_iter().flatten().collect();
    let selectors = [
        (&window.applications, vec![name.as_str()]),
        (&window.namespaces, vec![dest.namespace.as_deref().unwrap_or("")]),
        (&window.clusters, clusters),
    ];
    let mut results = selectors
        .iter()
        .filter(|(globs, _)| !globs.is_empty())
        .map(|(globs, values)| globs.iter().any(|g| values.iter().any(|v| glob_match(g, v))))
        .peekable();
    if results.peek().is_none() {
        return false;
    }
    if window.and_operator { results.all(|m| m) } else { results.any(|m| m) }
}

/// Whether a sync may run, and why (see [`can_sync`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// It may.
    pub allowed: bool,
    /// Why, as a phrase after "Sync Allowed" or "Sync Denied" (which
    /// window decides, and until when).
    pub because: String,
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sync {} {}", if self.allowed { "Allowed" } else { "Denied" }, self.because)
    }
}

/// What decides at one instant, by Argo CD's rules.
enum Rule<'a> {
    /// No window applies.
    NoWindow,
    /// An active deny window; manual syncs pass when every active deny
    /// window sets manualSync.
    Deny { blocking: &'a Window, manual_passes: bool },
    /// An active allow window and no active deny.
    Allow(&'a Window),
    /// Only allow windows apply and none is active; manual syncs pass when
    /// one of them sets manualSync.
    OutsideAllow { first: &'a Window, manual_passes: bool },
    /// Only deny windows apply and none is active.
    NoneActive,
}

impl Rule<'_> {
    fn at<'a>(assigned: &[&'a Window], t: Timestamp) -> Rule<'a> {
        if assigned.is_empty() {
            return Rule::NoWindow;
        }
        let active: Vec<&Window> = assigned.iter().copied().filter(|w| w.active_at(t)).collect();
        let denies: Vec<&Window> = active.iter().copied().filter(|w| w.is_deny()).collect();
        if let Some(first) = denies.first() {
            let blocking = denies.iter().copied().find(|w| !w.spec.manual_sync).unwrap_or(first);
            return Rule::Deny { blocking, manual_passes: denies.iter().all(|w| w.spec.manual_sync) };
        }
        if let Some(allow) = active.first() {
            return Rule::Allow(allow);
        }
        let allows: Vec<&Window> = assigned.iter().copied().filter(|w| !w.is_deny()).collect();
        match allows.first() {
            Some(first) => Rule::OutsideAllow { first, manual_passes: allows.iter().any(|w| w.spec.manual_sync) },
            None => Rule::NoneActive,
        }
    }

    fn allows(&self, manual: bool) -> bool {
        match self {
            Rule::NoWindow | Rule::Allow(_) | Rule::NoneActive => true,
            Rule::Deny { manual_passes, .. } | Rule::OutsideAllow { manual_passes, .. } => manual && *manual_passes,
        }
    }
}

/// Whether a sync of `app` may run at `now` under the project's `windows`
/// (all of them, parsed; those that apply are picked here), by Argo CD's
/// rules: no window applies, yes; an active deny window, no, unless the
/// sync is manual and every active deny window sets manualSync; an active
/// allow window, yes; allow windows that are all inactive, no, unless the
/// sync is manual and one of them sets manualSync; else yes. A denial says
/// which window denies and when the sync would next be allowed.
pub fn can_sync(windows: &[Window], app: &Application, manual: bool, now: Timestamp) -> Verdict {
    let assigned: Vec<&Window> = windows.iter().filter(|w| w.applies(app)).collect();
    let rule = Rule::at(&assigned, now);
    let allowed = rule.allows(manual);
    let until = || next_allowed(&assigned, manual, now).map(|t| format!(" until {}", show_time(t))).unwrap_or_default();
    let of = |w: &Window| format!("window {} of project {}", w.index, w.project);
    let because = match rule {
        Rule::NoWindow => "(no sync window applies)".to_string(),
        Rule::NoneActive => "(no sync window is active)".to_string(),
        Rule::Allow(w) => format!("by allow {}", of(w)),
        Rule::Deny { blocking, .. } if allowed => format!("(manual sync) despite deny {}", of(blocking)),
        Rule::Deny { blocking, .. } => format!("by deny {}{}", of(blocking), until()),
        Rule::OutsideAllow { first, .. } if allowed => format!("(manual sync) outside the allow windows of project {}", first.project),
        Rule::OutsideAllow { first, .. } => format!("outside the allow windows of project {}{}", first.project, until()),
    };
    Verdict { allowed, because }
}

/// The first time after `now` at which a sync would be allowed, looking at
/// most [`LOOKAHEAD`] state changes ahead.
fn next_allowed(assigned: &[&Window], manual: bool, now: Timestamp) -> Option<Timestamp> {
    let mut t = now;
    for _ in 0..LOOKAHEAD {
        t = assigned.iter().filter_map(|w| w.next_change(t)).min()?;
        if Rule::at(assigned, t).allows(manual) {
            return Some(t);
        }
    }
    None
}

/// The first time after `now` at which a window that applies to `app`
/// opens or closes: when [`can_sync`]'s answer may change.
pub fn next_change(windows: &[Window], app: &Application, now: Timestamp) -> Option<Timestamp> {
    windows.iter().filter(|w| w.applies(app)).filter_map(|w| w.next_change(now)).min()
}

/// A window and its state at one time.
#[derive(Clone, Debug, PartialEq)]
pub struct WindowState {
    /// Its index in `spec.syncWindows`.
    pub index: usize,
    /// As written.
    pub window: SyncWindow,
    /// Active now.
    pub active: bool,
    /// When it next opens or closes (none in sight: never, or active for
    /// longer than can be looked ahead).
    pub next_change: Option<Timestamp>,
}

impl WindowState {
    fn of(w: &Window, now: Timestamp) -> WindowState {
        WindowState { index: w.index, window: w.spec.clone(), active: w.active_at(now), next_change: w.next_change(now) }
    }
}

/// Every window of `project` with its state at `now` (for listing a
/// project's windows).
pub fn states(project: &AppProject, now: Timestamp) -> Result<Vec<WindowState>, WindowError> {
    Ok(parse(project)?.iter().map(|w| WindowState::of(w, now)).collect())
}

/// What the windows of an app's project say about it at one time.
#[derive(Clone, Debug, PartialEq)]
pub struct Assessment {
    /// The windows that apply to the app, with their state; the error
    /// when one of the project's windows is broken.
    pub assigned: Result<Vec<WindowState>, WindowError>,
    /// Whether automation may sync.
    pub automated: Verdict,
    /// Whether a manual sync may run.
    pub manual: Verdict,
    /// When that may next change.
    pub next_change: Option<Timestamp>,
}

/// The windows of `project` for `app` at `now`. A broken window denies
/// every sync of the project's apps (fail closed) until it is fixed.
pub fn assess(project: &AppProject, app: &Application, now: Timestamp) -> Assessment {
    match parse(project) {
        Ok(windows) => Assessment {
            assigned: Ok(windows.iter().filter(|w| w.applies(app)).map(|w| WindowState::of(w, now)).collect()),
            automated: can_sync(&windows, app, false, now),
            manual: can_sync(&windows, app, true, now),
            next_change: next_change(&windows, app, now),
        },
        Err(e) => {
            let denied = Verdict { allowed: false, because: format!("until a broken sync window is fixed: {e}") };
            Assessment { assigned: Err(e), automated: denied.clone(), manual: denied, next_change: None }
        }
    }
}

impl Assessment {
    /// One line for people: whether automation may sync, and whether a
    /// manual sync may run meanwhile.
    pub fn summary(&self) -> String {
        if self.automated.allowed || !self.manual.allowed {
            self.automated.to_string()
        } else {
            format!("{}; a manual sync may run", self.automated)
        }
    }

    /// Argo CD's `ApplicationSyncWindowsResponse`, with driftless's
    /// additions. A broken window assigns no window and allows no sync.
    pub fn response(&self) -> AppWindows {
        let assigned = self.assigned.as_deref().unwrap_or_default();
        let windows = |active_only: bool| assigned.iter().filter(|s| s.active || !active_only).map(|s| s.window.clone()).collect();
        AppWindows {
            active_windows: windows(true),
            assigned_windows: windows(false),
            can_sync: self.manual.allowed,
            automated_can_sync: self.automated.allowed,
            message: self.summary(),
            next_change: self.next_change.map(|t| t.to_string()),
        }
    }
}

/// An app's sync windows as the API and `app get -o json` show them: Argo
/// CD's `ApplicationSyncWindowsResponse` (`canSync` is for a manual sync,
/// as there) and driftless's additions.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppWindows {
    /// The windows that apply and are active now.
    pub active_windows: Vec<SyncWindow>,
    /// The windows that apply to the app.
    pub assigned_windows: Vec<SyncWindow>,
    /// A manual sync may run now.
    pub can_sync: bool,
    /// Automation may sync now.
    pub automated_can_sync: bool,
    /// [`Assessment::summary`].
    pub message: String,
    /// When that may next change (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_change: Option<String>,
}

/// A time as verdicts show it.
pub fn show_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// An IANA time zone; empty is UTC, as Go's `time.LoadLocation`.
fn parse_zone(name: &str) -> Result<TimeZone, String> {
    if name.is_empty() {
        return Ok(TimeZone::UTC);
    }
    match ZONES.get(name) {
        Ok(zone) if !zone.is_unknown() => Ok(zone),
        _ => Err("unknown time zone (an IANA name such as Europe/Berlin is expected)".into()),
    }
}

/// A five-field cron expression (minute hour day-of-month month
/// day-of-week) or a descriptor (`@hourly`, `@daily`, ...), as Argo CD's
/// parser (robfig/cron with those fields and descriptors) accepts them.
/// Croner's extensions (seconds, years, `L`, `W`, `#`) are refused, and so
/// is a schedule that never fires.
fn parse_schedule(schedule: &str, zone: &TimeZone) -> Result<Cron, String> {
    let trimmed = schedule.trim();
    let expanded = match trimmed.to_ascii_lowercase().as_str() {
        "" => return Err("empty (a five-field cron expression is expected)".into()),
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        d if d.starts_with('@') => {
            return Err("unknown descriptor (@yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly)".into());
        }
        _ => trimmed,
    };
    let fields: Vec<&str> = expanded.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("{} fields; five are expected (minute hour day-of-month month day-of-week)", fields.len()));
    }
    const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
    const NAMES: [&str; 5] = ["minute", "hour", "day-of-month", "month", "day-of-week"];
    for (i, field) in fields.iter().enumerate() {
        let mut bare = field.to_ascii_lowercase();
        let names: &[&str] = match i {
            3 => &MONTHS,
            4 => &DAYS,
            _ => &[],
        };
        for n in names {
            bare = bare.replace(n, "0");
        }
        if let Some(c) = bare.chars().find(|c| !(c.is_ascii_digit() || "*?,-/".contains(*c))) {
            return Err(format!("{} field {field:?}: unexpected {c:?}", NAMES[i]));
        }
    }
    let parser = CronParser::builder().seconds(Seconds::Disallowed).year(Year::Disallowed).build();
    let cron = parser.parse(&fields.join(" ")).map_err(|e| e.to_string())?;
    // A schedule that can never fire (February 30th) would never open the
    // window: say so rather than wait for it. Any real schedule fires
    // within a few years of any date.
    let since = Timestamp::UNIX_EPOCH.to_zoned(zone.clone());
    cron.find_next_occurrence(&since, true).map_err(|_| "never fires (no such date)".to_string())?;
    Ok(cron)
}

/// Nanoseconds in an hour.
const fn per_hour() -> u128 {
    3_600_000_000_000
}

/// A Go duration (`1h`, `30m`, `1h30m`, `1.5h`, `90s`, `500ms`), as Argo
/// CD parses it; it must be positive and at most Go's longest.
fn parse_duration(s: &str) -> Result<SignedDuration, String> {
    const EXPECTED: &str = "a duration such as 1h, 30m or 1h30m is expected";
    if s.starts_with('-') {
        return Err("negative; a window lasts a positive duration".into());
    }
    let body = s.strip_prefix('+').unwrap_or(s);
    if body.is_empty() {
        return Err(format!("empty ({EXPECTED})"));
    }
    if body == "0" {
        return Err("zero; a window lasts a positive duration".into());
    }
    let mut nanos: u128 = 0;
    let mut rest = body;
    while !rest.is_empty() {
        let int_len = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let (int, after) = rest.split_at(int_len);
        let (frac, after) = match after.strip_prefix('.') {
            Some(a) => a.split_at(a.find(|c: char| !c.is_ascii_digit()).unwrap_or(a.len())),
            None => ("", after),
        };
        if int.is_empty() && frac.is_empty() {
            return Err(format!("not a number at {:?} ({EXPECTED})", after.chars().take(SHOWN).collect::<String>()));
        }
        let unit_len = after.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        let per: u128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => per_hour(),
            "" => return Err(format!("missing unit ({EXPECTED})")),
            u => return Err(format!("unknown unit {:?} (ns, us, ms, s, m, h)", u.chars().take(SHOWN).collect::<String>())),
        };
        let too_long = || format!("too long; at most {}h", i64::MAX as u128 / per_hour());
        // Digits past 19 cannot fit Go's int64 nanoseconds anyway.
        let whole: u128 = if int.is_empty() { 0 } else { int.parse().map_err(|_| too_long())? };
        let frac_digits = &frac[..frac.len().min(18)];
        let frac_nanos =
            if frac_digits.is_empty() { 0 } else { frac_digits.parse::<u128>().unwrap_or(0) * per / 10u128.pow(frac_digits.len() as u32) };
        nanos = whole.checked_mul(per).and_then(|n| n.checked_add(frac_nanos)).and_then(|n| n.checked_add(nanos)).ok_or_else(too_long)?;
        if nanos > i64::MAX as u128 {
            return Err(too_long());
        }
        rest = after;
    }
    if nanos == 0 {
        return Err("zero; a window lasts a positive duration".into());
    }
    Ok(SignedDuration::from_nanos(nanos as i64))
}

#[cfg(test)]
mod tests {
    use super::*;
    use driftless_api::{AppProjectSpec, ApplicationDestination};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn app(name: &str, namespace: &str, server: &str) -> Application {
        let mut a = Application::default();
        a.metadata.name = Some(name.into());
        a.spec.destination = ApplicationDestination { server: Some(server.into()), name: None, namespace: Some(namespace.into()) };
        a
    }

    fn web() -> Application {
        app("web", "prod", "https://kubernetes.default.svc")
    }

    fn window(kind: WindowKind, schedule: &str, duration: &str) -> SyncWindow {
        SyncWindow { kind, schedule: schedule.into(), duration: duration.into(), applications: vec!["*".into()], ..Default::default() }
    }

    fn project(windows: Vec<SyncWindow>) -> AppProject {
        AppProject::new("team", AppProjectSpec { sync_windows: windows, ..Default::default() })
    }

    fn parsed(windows: Vec<SyncWindow>) -> Vec<Window> {
        parse(&project(windows)).unwrap()
    }

    /// 09:00-10:00 UTC daily.
    fn nine(kind: WindowKind) -> SyncWindow {
        window(kind, "0 9 * * *", "1h")
    }

    /// 12:00-13:00 UTC daily.
    fn noon(kind: WindowKind) -> SyncWindow {
        window(kind, "0 12 * * *", "1h")
    }

    const IN_NINE: &str = "2026-12-05T09:30:00Z";
    const IN_NOON: &str = "2026-12-05T12:30:00Z";
    const OUTSIDE: &str = "2026-12-05T15:00:00Z";

    #[test]
    fn precedence_is_argo_cds_deny_then_allow_then_outside_allow_windows() {
        use WindowKind::{Allow, Deny};
        let manual_ok = |mut w: SyncWindow| {
            w.manual_sync = true;
            w
        };
        // (windows, time, automated may sync, manual may sync)
        let table: Vec<(Vec<SyncWindow>, &str, bool, bool)> = vec![
            (vec![], IN_NINE, true, true),
            (vec![nine(Deny)], IN_NINE, false, false),
            (vec![nine(Deny)], OUTSIDE, true, true),
            (vec![manual_ok(nine(Deny))], IN_NINE, false, true),
            // Deny wins over an active allow window.
            (vec![nine(Allow), nine(Deny)], IN_NINE, false, false),
            // Manual syncs pass a deny only when every active deny allows them.
            (vec![manual_ok(nine(Deny)), window(Deny, "0 8 * * *", "2h")], IN_NINE, false, false),
            (vec![manual_ok(nine(Deny)), manual_ok(window(Deny, "0 8 * * *", "2h"))], IN_NINE, false, true),
            (vec![nine(Allow)], IN_NINE, true, true),
            // Allow windows only: outside them, nothing syncs...
            (vec![nine(Allow)], OUTSIDE, false, false),
            // ... except manual syncs, when one of them says so.
            (vec![nine(Allow), manual_ok(noon(Allow))], OUTSIDE, false, true),
            (vec![nine(Allow), noon(Allow)], IN_NOON, true, true),
            // An inactive deny and an active allow: allowed.
            (vec![nine(Deny), noon(Allow)], IN_NOON, true, true),
            // Deny windows only, none active: allowed.
            (vec![nine(Deny), noon(Deny)], OUTSIDE, true, true),
        ];
        for (i, (windows, t, automated, manual)) in table.into_iter().enumerate() {
            let w = parsed(windows);
            assert_eq!(can_sync(&w, &web(), false, at(t)).allowed, automated, "row {i}: automated");
            assert_eq!(can_sync(&w, &web(), true, at(t)).allowed, manual, "row {i}: manual");
        }
    }

    #[test]
    fn a_denial_names_the_window_and_when_a_sync_is_next_allowed() {
        let w = parsed(vec![nine(WindowKind::Allow), nine(WindowKind::Deny), noon(WindowKind::Allow)]);
        let v = can_sync(&w, &web(), false, at(IN_NINE));
        assert_eq!(v.to_string(), "Sync Denied by deny window 1 of project team until 2026-12-05 12:00:00 UTC");
        let v = can_sync(&w, &web(), false, at(OUTSIDE));
        assert_eq!(
            v.to_string(),
            "Sync Denied outside the allow windows of project team until 2026-12-06 12:00:00 UTC",
            "09:00 tomorrow is denied too"
        );
        let v = can_sync(&w, &web(), false, at(IN_NOON));
        assert_eq!(v.to_string(), "Sync Allowed by allow window 2 of project team");
    }

    #[test]
    fn selectors_match_any_or_with_and_operator_all_and_an_empty_window_nothing() {
        let sel = |apps: &[&str], namespaces: &[&str], clusters: &[&str], and: bool| SyncWindow {
            applications: apps.iter().map(|s| s.to_string()).collect(),
            namespaces: namespaces.iter().map(|s| s.to_string()).collect(),
            clusters: clusters.iter().map(|s| s.to_string()).collect(),
            and_operator: and,
            ..nine(WindowKind::Deny)
        };
        let web = web();
        let mut named = app("web", "prod", "");
        named.spec.destination.server = None;
        named.spec.destination.name = Some("east".into());
        assert!(applies(&sel(&["w*"], &[], &[], false), &web));
        assert!(applies(&sel(&["nope"], &["prod"], &[], false), &web), "any selector");
        assert!(!applies(&sel(&["nope"], &["prod"], &[], true), &web), "andOperator: every non-empty selector");
        assert!(applies(&sel(&["web"], &["pr*"], &[], true), &web));
        assert!(applies(&sel(&["web"], &[], &["https://kubernetes.*"], true), &web), "the server URL");
        assert!(applies(&sel(&[], &[], &["east"], false), &named), "or the cluster's name");
        assert!(!applies(&sel(&[], &[], &["west"], false), &named));
        assert!(!applies(&sel(&[], &[], &[], false), &web), "no selector: no app");
        assert!(!applies(&sel(&[], &[], &[], true), &web));
    }

    #[test]
    fn a_schedule_runs_in_its_time_zone_across_daylight_saving_time() {
        let mut berlin = nine(WindowKind::Deny);
        berlin.time_zone = Some("Europe/Berlin".into());
        let w = parsed(vec![berlin]);
        // 09:00 in Berlin is 08:00 UTC in winter, 07:00 UTC in summer.
        assert!(w[0].active_at(at("2026-12-05T08:30:00Z")));
        assert!(!w[0].active_at(at(IN_NINE)));
        assert!(w[0].active_at(at("2026-07-01T07:30:00Z")));
        assert!(!w[0].active_at(at("2026-07-01T08:30:00Z")));
        assert_eq!(w[0].next_change(at("2026-12-05T08:30:00Z")), Some(at("2026-12-05T09:00:00Z")));
        assert_eq!(w[0].next_change(at("2026-07-01T06:00:00Z")), Some(at("2026-07-01T07:00:00Z")));
    }

    #[test]
    fn schedules_at_times_daylight_saving_skips_or_repeats_keep_working() {
        // 02:30 does not exist in Berlin on 2026-03-29 and happens twice on
        // 2026-10-25; New York's change is at 02:00 on other days.
        for (zone, day) in [("Europe/Berlin", "2026-03-29"), ("Europe/Berlin", "2026-10-25"), ("America/New_York", "2026-11-01")] {
            let mut s = window(WindowKind::Deny, "30 2 * * *", "30m");
            s.time_zone = Some(zone.into());
            let mut every = window(WindowKind::Allow, "*/15 * * * *", "5m");
            every.time_zone = Some(zone.into());
            let w = parsed(vec![s, every]);
            let mut t = at(&format!("{day}T00:00:00Z")) - SignedDuration::from_hours(6);
            let end = t + SignedDuration::from_hours(36);
            while t < end {
                for x in &w {
                    let _ = x.active_at(t);
                    let next = x.next_change(t).expect("both keep changing");
                    assert!(next > t, "{zone} {t}: the next change {next} is ahead");
                }
                let _ = can_sync(&w, &web(), false, t);
                t += SignedDuration::from_mins(7);
            }
        }
    }

    #[test]
    fn next_change_is_when_a_window_opens_or_closes_and_overlapping_runs_extend_it() {
        let w = parsed(vec![nine(WindowKind::Deny)]);
        assert_eq!(next_change(&w, &web(), at("2026-12-05T08:00:00Z")), Some(at("2026-12-05T09:00:00Z")));
        assert_eq!(next_change(&w, &web(), at("2026-12-05T09:00:00Z")), Some(at("2026-12-05T10:00:00Z")), "open from its start");
        assert_eq!(next_change(&w, &web(), at("2026-12-05T10:00:00Z")), Some(at("2026-12-06T09:00:00Z")), "closed at its end");
        let only_api = parsed(vec![SyncWindow { applications: vec!["api".into()], ..nine(WindowKind::Deny) }]);
        assert_eq!(next_change(&only_api, &web(), at(IN_NINE)), None, "no window applies");
        // Every 20 minutes for 30: open from the first start until 30
        // minutes after the last one of the hour.
        let overlap = parsed(vec![window(WindowKind::Deny, "0,20,40 9 * * *", "30m")]);
        assert_eq!(overlap[0].active_until(at("2026-12-05T09:05:00Z")), Some(at("2026-12-05T10:10:00Z")));
        // Every minute for an hour: never closes within sight.
        let always = parsed(vec![window(WindowKind::Deny, "* * * * *", "1h")]);
        assert!(always[0].active_at(at(IN_NINE)));
        assert_eq!(always[0].active_until(at(IN_NINE)), None);
        assert_eq!(can_sync(&always, &web(), false, at(IN_NINE)).because, "by deny window 0 of project team");
        // A minute's window ends at the next minute.
        let minute = parsed(vec![window(WindowKind::Deny, "5 9 * * *", "1m")]);
        assert_eq!(minute[0].next_change(at("2026-12-05T09:05:30Z")), Some(at("2026-12-05T09:06:00Z")));
    }

    #[test]
    fn descriptors_names_and_go_durations_parse_as_argo_cd_parses_them() {
        for (schedule, t, active) in [
            ("@hourly", "2026-12-05T09:10:00Z", true),
            ("@daily", "2026-12-05T00:30:00Z", true),
            ("@midnight", "2026-12-05T01:30:00Z", false),
            ("@weekly", "2026-12-06T00:10:00Z", true), // a Sunday
            ("@monthly", "2026-12-01T00:10:00Z", true),
            ("@yearly", "2026-01-01T00:10:00Z", true),
            ("0 9 * DEC sat", "2026-12-05T09:10:00Z", true),
            ("0 9 * jan-nov *", "2026-12-05T09:10:00Z", false),
            ("0 9 ? * ?", "2026-12-05T09:10:00Z", true),
        ] {
            let w = parsed(vec![window(WindowKind::Deny, schedule, "1h")]);
            assert_eq!(w[0].active_at(at(t)), active, "{schedule} at {t}");
        }
        for (d, secs) in [("1h", 3600), ("30m", 1800), ("1h30m", 5400), ("1.5h", 5400), ("90s", 90), ("+2m", 120), ("1h0.5m", 3630)] {
            assert_eq!(parse_duration(d).unwrap(), SignedDuration::from_secs(secs), "{d}");
        }
        assert_eq!(parse_duration("500ms").unwrap(), SignedDuration::from_millis(500));
        assert_eq!(parse_duration("2562047h").unwrap(), SignedDuration::from_hours(2_562_047), "Go's longest hours");
        // Very long windows work: every start keeps it open.
        let long = parsed(vec![window(WindowKind::Deny, "0 0 1 1 *", "2562047h")]);
        assert!(long[0].active_at(at(IN_NINE)));
        assert!(long[0].active_until(at(IN_NINE)).is_none_or(|end| end > at("2300-01-01T00:00:00Z")));
    }

    #[test]
    fn hostile_windows_are_clear_errors_naming_the_project_window_and_field() {
        let cases: Vec<(SyncWindow, &str, &str)> = vec![
            (window(WindowKind::Deny, "not a cron", "1h"), "schedule", "3 fields"),
            (window(WindowKind::Deny, "", "1h"), "schedule", "empty"),
            (window(WindowKind::Deny, "0 9 * * * *", "1h"), "schedule", "6 fields"),
            (window(WindowKind::Deny, "61 9 * * *", "1h"), "schedule", ""),
            (window(WindowKind::Deny, "0 9 L * *", "1h"), "schedule", "day-of-month field \"L\""),
            (window(WindowKind::Deny, "0 9 * * 1#2", "1h"), "schedule", "unexpected '#'"),
            (window(WindowKind::Deny, "0 9 * * mon", "1h"), "", ""),
            (window(WindowKind::Deny, "0 9 mon * *", "1h"), "schedule", "day-of-month"),
            (window(WindowKind::Deny, "@every 1h", "1h"), "schedule", "unknown descriptor"),
            (window(WindowKind::Deny, "0 0 30 2 *", "1h"), "schedule", "never fires"),
            (window(WindowKind::Deny, "0 9 * * *", "-1h"), "duration", "negative"),
            (window(WindowKind::Deny, "0 9 * * *", ""), "duration", "empty"),
            (window(WindowKind::Deny, "0 9 * * *", "0"), "duration", "zero"),
            (window(WindowKind::Deny, "0 9 * * *", "0h0s"), "duration", "zero"),
            (window(WindowKind::Deny, "0 9 * * *", "1"), "duration", "missing unit"),
            (window(WindowKind::Deny, "0 9 * * *", "1d"), "duration", "unknown unit \"d\""),
            (window(WindowKind::Deny, "0 9 * * *", "h"), "duration", "not a number"),
            (window(WindowKind::Deny, "0 9 * * *", "1h "), "duration", "unknown unit \"h \""),
            (window(WindowKind::Deny, "0 9 * * *", "2562048h"), "duration", "too long; at most 2562047h"),
            (window(WindowKind::Deny, "0 9 * * *", &("9".repeat(400) + "h")), "duration", "too long"),
            (SyncWindow { time_zone: Some("Mars/Olympus".into()), ..nine(WindowKind::Deny) }, "timeZone", "unknown time zone"),
            (SyncWindow { time_zone: Some("../../../etc/passwd".into()), ..nine(WindowKind::Deny) }, "timeZone", "unknown"),
            (SyncWindow { time_zone: Some("Etc/Unknown".into()), ..nine(WindowKind::Deny) }, "timeZone", "unknown"),
        ];
        for (w, field, reason) in cases {
            let result = parse(&project(vec![nine(WindowKind::Allow), w.clone()]));
            if field.is_empty() {
                assert!(result.is_ok(), "{w:?}: {:?}", result.err());
                continue;
            }
            let Err(e) = result else { panic!("{w:?} is refused") };
            let msg = e.to_string();
            assert!(msg.starts_with(&format!("project team: sync window 1: {field} ")), "{msg}");
            assert!(msg.contains(reason), "{msg} says {reason}");
            assert!(msg.len() < 400, "a hostile value is cut short: {msg}");
        }
        let utc = SyncWindow { time_zone: Some(String::new()), ..nine(WindowKind::Deny) };
        assert!(parse(&project(vec![utc])).is_ok(), "an empty time zone is UTC, as in Go");
    }

    #[test]
    fn a_broken_window_denies_every_sync_of_the_projects_apps() {
        let broken = project(vec![nine(WindowKind::Allow), window(WindowKind::Deny, "0 9 * *", "1h")]);
        // Even an app no window names: the project's windows cannot be trusted.
        let a = assess(&broken, &app("other", "x", "y"), at(IN_NINE));
        assert!(!a.automated.allowed && !a.manual.allowed);
        assert!(a.automated.because.contains("project team: sync window 1: schedule \"0 9 * *\": 4 fields"), "{}", a.automated);
        assert!(matches!(a.assigned, Err(WindowError::Schedule { index: 1, .. })));
        assert_eq!(a.next_change, None);
    }

    #[test]
    fn assess_and_states_list_the_windows_with_their_state() {
        let p = project(vec![nine(WindowKind::Deny), SyncWindow { applications: vec!["api".into()], ..noon(WindowKind::Allow) }]);
        let a = assess(&p, &web(), at(IN_NINE));
        let assigned = a.assigned.unwrap();
        assert_eq!(assigned.len(), 1, "the noon window is for another app");
        assert!(assigned[0].active && assigned[0].index == 0);
        assert!(!a.automated.allowed && !a.manual.allowed);
        assert_eq!(a.next_change, Some(at("2026-12-05T10:00:00Z")));
        let all = states(&p, at(IN_NINE)).unwrap();
        assert_eq!(all.iter().map(|s| (s.index, s.active)).collect::<Vec<_>>(), vec![(0, true), (1, false)]);
        assert_eq!(all[1].next_change, Some(at("2026-12-05T12:00:00Z")));
        let mut manual = p.clone();
        manual.spec.sync_windows[0].manual_sync = true;
        let r = assess(&manual, &web(), at(IN_NINE)).response();
        assert_eq!((r.active_windows.len(), r.assigned_windows.len(), r.can_sync, r.automated_can_sync), (1, 1, true, false));
        assert_eq!(r.message, "Sync Denied by deny window 0 of project team until 2026-12-05 10:00:00 UTC; a manual sync may run");
        assert_eq!(r.next_change.as_deref(), Some("2026-12-05T10:00:00Z"));
        let r = assess(&project(vec![window(WindowKind::Deny, "x", "1h")]), &web(), at(IN_NINE)).response();
        assert!(r.assigned_windows.is_empty() && !r.can_sync && r.message.contains("sync window 0: schedule \"x\""), "{r:?}");
    }

    /// Garbage never panics a parser, and whatever parses can be evaluated.
    #[test]
    fn random_and_mutated_inputs_never_panic() {
        let mut next = crate::fuzz::xorshift(0x9e37_79b9_7f4a_7c15);
        const ALPHABET: &[char] = &[
            '0', '1', '2', '5', '9', '*', '/', ',', '-', '?', ' ', '@', 'L', 'W', '#', 'h', 'm', 's', 'u', 'µ', '.', '+', 'J', 'a', 'n',
            'M', 'O', 'N', 'x', '\t', '\n', 'é', '\u{0}',
        ];
        const SEEDS: &[&str] = &["0 9 * * *", "*/15 0-6 1,15 * mon-fri", "@hourly", "1h30m", "Europe/Berlin", "59 23 31 12 6"];
        let t = at(IN_NINE);
        let mut parsed_ok = 0;
        for _ in 0..3000 {
            let mut s: String = if next().is_multiple_of(2) {
                (0..next() % 24).map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize]).collect()
            } else {
                SEEDS[(next() % SEEDS.len() as u64) as usize].to_string()
            };
            // Mutate: replace one character.
            if !s.is_empty() && next().is_multiple_of(2) {
                let mut chars: Vec<char> = s.chars().collect();
                let i = (next() % chars.len() as u64) as usize;
                chars[i] = ALPHABET[(next() % ALPHABET.len() as u64) as usize];
                s = chars.into_iter().collect();
            }
            let _ = parse_duration(&s);
            let _ = parse_zone(&s);
            let spec = SyncWindow { time_zone: Some("Asia/Kolkata".into()), ..window(WindowKind::Deny, &s, "45m") };
            if let Ok(w) = Window::parse("p", 0, &spec) {
                parsed_ok += 1;
                let _ = w.active_at(t);
                if let Some(n) = w.next_change(t) {
                    assert!(n > t, "{s:?}");
                }
            }
        }
        assert!(parsed_ok > 100, "the mutations keep some valid schedules ({parsed_ok})");
    }
}

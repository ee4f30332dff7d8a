//! argocd-notifications-cm, its Secret and subscription annotations as an
//! attacker (or a careless edit) writes them: nothing panics, errors name
//! the key, secrets appear in no error and no template, and one app cannot
//! fan out into thousands of messages.

use std::collections::BTreeMap;

use driftless_notify::Destination;
use driftless_notify::config::Config;
use driftless_notify::plan::{self, Pending};
use driftless_notify::subscriptions::{self, MAX_DESTINATIONS};
use serde_json::json;

const SECRET_VALUE: &str = "xoxb-TOP-s3cret-value";

fn secret() -> BTreeMap<String, String> {
    [("token".to_string(), SECRET_VALUE.to_string())].into_iter().collect()
}

/// A small deterministic generator (no dependency, same inputs every run).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[(self.next() % from.len() as u64) as usize]
    }
}

const KEYS: &[&str] = &[
    "service.slack",
    "service.webhook.hook",
    "service.email.mail",
    "service.github",
    "service.teams",
    "service.gitlab",
    "service.",
    "service..x",
    "template.t",
    "template.",
    "trigger.t",
    "trigger.",
    "defaultTriggers",
    "defaultTriggers.slack",
    "subscriptions",
    "context",
    "x",
];
const PIECES: &[&str] = &[
    "- ",
    "  ",
    "\n",
    ": ",
    "when: ",
    "send: [t]",
    "oncePer: ",
    "message: ",
    "{{",
    "}}",
    ".app.",
    "'",
    "\"",
    "[",
    "]",
    "{",
    "}",
    "&a [*a, *a]",
    "*a",
    "!!binary",
    "url: $token",
    "token: $token",
    "recipients: [slack:x]",
    "selector: a in (",
    "app.status",
    " and ",
    " in ['x']",
    "?.",
    "time.Now()",
    "(((((",
    "$token",
    "\u{0}",
    "é",
    "9999999999999999999999",
    "null",
    "true",
    "- when: 'true'\n  send: [t]\n",
];

#[test]
fn random_configurations_never_panic_and_never_show_the_secret() {
    let mut rng = Rng(0x5eed);
    for _ in 0..3_000 {
        let mut data = BTreeMap::new();
        for _ in 0..(rng.next() % 6) {
            let key = rng.pick(KEYS).to_string();
            let value: String = (0..(rng.next() % 24)).map(|_| rng.pick(PIECES)).collect();
            data.insert(key, value);
        }
        let c = Config::parse(&data, &secret());
        for e in &c.errors {
            let text = e.to_string();
            assert!(data.contains_key(&e.key), "{text}");
            assert!(!text.contains(SECRET_VALUE), "a secret in an error: {text}");
        }
    }
}

#[test]
fn alias_bombs_and_deep_nesting_are_errors() {
    let bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\ng: [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
    let deep = format!("message: x\nslack: {}{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let data: BTreeMap<String, String> =
        [("template.bomb".to_string(), bomb.to_string()), ("template.deep".to_string(), deep)].into_iter().collect();
    let c = Config::parse(&data, &BTreeMap::new());
    assert!(c.templates.is_empty(), "both refused");
    assert_eq!(c.errors.len(), 2, "{:?}", c.errors);
}

#[test]
fn secrets_reach_services_only() {
    let data: BTreeMap<String, String> = [
        // A service that does not parse: its error must not quote the substituted value.
        ("service.webhook.bad".to_string(), "url: $token\nheaders: 5\n".to_string()),
        ("template.t".to_string(), "message: '$token {{.context.x}}'\n".to_string()),
        ("context".to_string(), "x: $token\n".to_string()),
    ]
    .into_iter()
    .collect();
    let c = Config::parse(&data, &secret());
    assert_eq!(c.errors.len(), 1, "{:?}", c.errors);
    assert!(!c.errors[0].to_string().contains(SECRET_VALUE), "{}", c.errors[0]);
    let p = Pending {
        trigger: String::new(),
        key: String::new(),
        to: Destination { service: "x".into(), recipient: String::new() },
        templates: vec!["t".into()],
    };
    let n = plan::render(&c, &p, &json!({}), "webhook").unwrap();
    assert_eq!(n.message, "$token $token", "templates and context never see the Secret");
}

#[test]
fn one_app_cannot_fan_out_without_bound() {
    let config = Config::parse(&BTreeMap::new(), &BTreeMap::new());
    let many: String = (0..10_000).map(|i| format!("chan-{i};")).collect();
    let annotations: BTreeMap<String, String> =
        (0..50).map(|t| (format!("notifications.argoproj.io/subscribe.on-trigger-{t}.slack"), many.clone())).collect();
    let d = subscriptions::destinations(&config, &BTreeMap::new(), &annotations, &BTreeMap::new());
    assert_eq!(d.values().map(|s| s.len()).sum::<usize>(), MAX_DESTINATIONS);
}

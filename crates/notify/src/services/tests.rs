//! The parsers of configs and template sections against garbage: they
//! answer an error or a request, never a panic.

use serde_json::{Value, json};

use super::*;

/// Words configs and sections are made of, and hostile values.
const WORDS: &[&str] = &[
    "token",
    "apiURL",
    "webhook",
    "username",
    "icon",
    "recipientUrls",
    "url",
    "headers",
    "name",
    "value",
    "basicAuth",
    "password",
    "host",
    "port",
    "from",
    "html",
    "appID",
    "installationID",
    "privateKey",
    "enterpriseBaseURL",
    "baseURL",
    "insecureSkipVerify",
    "insecure_skip_verify",
    "attachments",
    "blocks",
    "deliveryPolicy",
    "groupingKey",
    "notifyBroadcast",
    "facts",
    "sections",
    "potentialAction",
    "adaptiveCard",
    "template",
    "title",
    "method",
    "path",
    "body",
    "subject",
    "repoURLPath",
    "revisionPath",
    "status",
    "state",
    "deployment",
    "pullRequestComment",
    "mergeRequestComment",
    "http://127.0.0.1:9/hook",
    "https://x",
    "git@github.com:o/r.git",
    "a@b.c",
    "Me <me@x.org>",
    "\r\nBcc: x@y",
    "[{\"name\":\"a\",\"value\":1}]",
    "[",
    "{}",
    "[]",
    ":robot:",
    "POST",
    "GE T",
    "/../x",
    "465",
    "-----BEGIN RSA PRIVATE KEY-----",
    "true",
    "",
    "\u{0}",
    "é",
];

fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

fn tree(next: &mut dyn FnMut() -> u64, depth: u32) -> Value {
    let word = |next: &mut dyn FnMut() -> u64| WORDS[(next() % WORDS.len() as u64) as usize].to_string();
    match (next() % 7, depth) {
        (0 | 1, _) | (_, 0) => json!(word(next)),
        (2, _) => json!(next() % 70000),
        (3, _) => json!(next().is_multiple_of(2)),
        (4, _) => Value::Array((0..next() % 3).map(|_| tree(next, depth - 1)).collect()),
        _ => Value::Object((0..next() % 6).map(|_| (word(next), tree(next, depth - 1))).collect()),
    }
}

#[test]
fn random_configs_never_panic_and_errors_name_the_key() {
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    let mut parsed = 0;
    let valid = [
        json!({"token": "t"}),
        json!({"recipientUrls": {"ops": "https://h/x"}}),
        json!({"recipientUrls": {"ops": "https://h/x"}}),
        json!({"url": "https://h", "headers": [{"name": "A", "value": "b"}], "basicAuth": {"username": "u", "password": "p"}}),
        json!({"host": "h", "port": 25, "from": "a@b.c", "username": "u", "password": "p"}),
        json!({"token": "t", "enterpriseBaseURL": "https://h"}),
        json!({"token": "t", "baseURL": "https://h"}),
    ];
    for i in 0..4000 {
        let service_type = SUPPORTED_TYPES[i % SUPPORTED_TYPES.len()];
        // Half garbage, half a valid config with a value or two replaced.
        let config = if i % 2 == 0 {
            tree(&mut next, 4)
        } else {
            let mut config = valid[i % SUPPORTED_TYPES.len()].clone();
            for _ in 0..1 + next() % 2 {
                let keys: Vec<String> = config.as_object().unwrap().keys().cloned().collect();
                config[&keys[(next() % keys.len() as u64) as usize]] = tree(&mut next, 2);
            }
            config
        };
        match Service::parse(service_type, "n", &config) {
            Ok(s) => {
                parsed += 1;
                assert_eq!(s.service_type(), service_type);
            }
            Err(e) => assert!(e.to_string().starts_with(&format!("service.{service_type}.n: ")), "{e}"),
        }
    }
    // Some garbage is a valid config (a Slack token, an email host...).
    assert!(parsed > 0);
}

#[test]
fn random_sections_never_panic() {
    let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
    let from: lettre::message::Mailbox = "me@x.org".parse().unwrap();
    let base = reqwest::Url::parse("http://127.0.0.1:9/hooks").unwrap();
    for _ in 0..4000 {
        let v = tree(&mut next, 4);
        let message = WORDS[(next() % WORDS.len() as u64) as usize];
        if let Ok(s) = typed_section::<slack::Section>(&v, "slack") {
            let _ = slack::message(&s, message, "bot", ":robot:");
        }
        if let Ok(s) = typed_section::<teams::Section>(&v, "teams") {
            let _ = teams::message_card(&s, message);
            let _ = teams::workflow_message(&s, message);
        }
        if let Ok(s) = typed_section::<webhook::Section>(&v, "webhook.n")
            && let Ok((_, url, _)) = webhook::request(&base, Some(&s), message, "webhook.n")
        {
            assert_eq!(url.origin(), base.origin(), "a path never leaves the host");
        }
        if let Ok(s) = typed_section::<email::Section>(&v, "email") {
            let _ = email::message(&from, &s, message, message, false);
        }
        let _ = typed_section::<github::Section>(&v, "github");
        let _ = typed_section::<gitlab::Section>(&v, "gitlab");
        let _ = repo_url::segments(message);
    }
}

#[test]
fn an_unknown_type_lists_the_supported_ones() {
    let e = Service::parse("pagerduty", "", &json!({})).unwrap_err().to_string();
    assert_eq!(
        e,
        "service.pagerduty: unknown service type `pagerduty` (supported: slack, teams, teams-workflows, webhook, email, github, gitlab)"
    );
}

#[test]
fn config_errors_name_the_field_and_never_quote_a_value() {
    let e = Service::parse("slack", "slack", &json!({"token": "xoxb-1", "tokne": "x"})).unwrap_err().to_string();
    assert!(e.starts_with("service.slack: tokne: unknown field `tokne`, expected one of `token`"), "{e}");
    let e = Service::parse("webhook", "hook", &json!({"url": "http://h", "headers": [{"name": "X", "value": 1}]})).unwrap_err().to_string();
    assert!(e.starts_with("service.webhook.hook: headers[0].value: "), "{e}");
    let e = Service::parse("email", "", &json!({"host": "h", "from": "a@b.c", "html": "s3cret-password"})).unwrap_err().to_string();
    assert!(e.starts_with("service.email: html: "), "{e}");
    assert!(!e.contains("s3cret"), "{e}");
    let e = Service::parse("webhook", "hook", &json!({"url": "http://h", "basicAuth": "user:s3cret"})).unwrap_err().to_string();
    assert!(e.starts_with("service.webhook.hook: basicAuth: invalid type: a string"), "{e}");
    assert!(!e.contains("s3cret"), "{e}");
    let e = Service::parse("teams", "", &json!({"recipientUrls": {"ops": "ftp://s3cret"}})).unwrap_err().to_string();
    assert_eq!(e, "service.teams: recipientUrls.ops: not an http(s) URL with a host");
    // notifications-engine's transport keys load.
    Service::parse("slack", "", &json!({"token": "t", "maxIdleConns": 5, "signingSecret": "s"})).unwrap();
}

#[test]
fn unquoted_drops_the_strings_serde_quotes() {
    assert_eq!(unquoted(r#"invalid type: string "a\"b", expected a boolean"#), "invalid type: a string, expected a boolean");
    assert_eq!(unquoted(r#"x string "unterminated"#), "x a string");
    assert_eq!(unquoted("no strings"), "no strings");
}

#[test]
fn truncate_counts_characters_and_marks_the_cut() {
    assert_eq!(truncate("short", 140), "short");
    assert_eq!(truncate("ééééééé", 5), "éé...");
}

/// The loop keeps services in shared state and sends from spawned tasks.
#[test]
fn services_and_their_sends_cross_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}
    let s = Service::parse("webhook", "n", &json!({"url": "http://127.0.0.1:9"})).unwrap();
    send_sync(&s);
    send(s.send(&crate::Notification::default(), ""));
}

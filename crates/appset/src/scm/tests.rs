//! The pure core: parameters, slugs, filters, names.

use serde_json::json;

use super::*;

fn repo() -> Repo {
    Repo {
        organization: "acme".into(),
        repository: "billing".into(),
        repository_id: 42,
        url: "git@github.com:acme/billing.git".into(),
        branch: "Feature/New_API".into(),
        sha: "0123456789abcdef0123456789abcdef01234567".into(),
        labels: vec!["team-a".into(), "prod".into()],
    }
}

fn pull() -> Pull {
    Pull {
        number: 7,
        title: "Add the thing".into(),
        branch: "feature/JIRA-12_new thing".into(),
        target_branch: "main".into(),
        head_sha: "89abcdef0123456789abcdef0123456789abcdef".into(),
        author: "alice".into(),
        labels: vec!["preview".into()],
    }
}

#[test]
fn scm_parameters_are_argo_cds() {
    assert_eq!(
        Value::Object(scm_params(&repo())),
        json!({
            "organization": "acme",
            "repository": "billing",
            "repository_id": 42,
            "url": "git@github.com:acme/billing.git",
            "branch": "Feature/New_API",
            "branchNormalized": "feature-new-api",
            "sha": "0123456789abcdef0123456789abcdef01234567",
            "short_sha": "01234567",
            "short_sha_7": "0123456",
            "labels": "team-a,prod",
        })
    );
}

#[test]
fn pull_request_parameters_are_argo_cds_with_labels_for_go_templates_only() {
    let fast = json!({
        "number": "7",
        "title": "Add the thing",
        "branch": "feature/JIRA-12_new thing",
        "branch_slug": "feature-jira-12-new-thing",
        "target_branch": "main",
        "target_branch_slug": "main",
        "head_sha": "89abcdef0123456789abcdef0123456789abcdef",
        "head_short_sha": "89abcdef",
        "head_short_sha_7": "89abcde",
        "author": "alice",
    });
    assert_eq!(Value::Object(pull_params(&pull(), false)), fast);
    let mut go = fast;
    go["labels"] = json!(["preview"]);
    assert_eq!(Value::Object(pull_params(&pull(), true)), go);
}

#[test]
fn short_shas_of_short_or_odd_shas_do_not_panic() {
    for sha in ["", "abc", "ü€𝄞ü€𝄞ü€𝄞"] {
        let p = pull_params(&Pull { head_sha: sha.into(), ..pull() }, false);
        assert!(sha.starts_with(p["head_short_sha"].as_str().unwrap()));
        let p = scm_params(&Repo { sha: sha.into(), ..repo() });
        assert!(sha.starts_with(p["short_sha_7"].as_str().unwrap()));
    }
}

#[test]
fn slugs_follow_gosimple_slug_as_argo_cd_sets_it() {
    let cases = [
        ("main", "main"),
        ("feature/ABC-123", "feature-abc-123"),
        ("  fix__double--dash  ", "fix-double-dash"),
        ("_leading_and_trailing_", "leading-and-trailing"),
        ("R&D@home", "randdathome"),
        ("café/größe", "cafe-grosse"),
        ("日本", "ri-ben"),
        ("!!!", ""),
        ("", ""),
        // 60 characters in words: cut after the last whole word within 50.
        ("aaaaaaaaaa-bbbbbbbbbb-cccccccccc-dddddddddd-eeeeeeeeee-ffffffffff", "aaaaaaaaaa-bbbbbbbbbb-cccccccccc-dddddddddd"),
        // The 51st character is a dash: the first 50 are whole words.
        ("aaaaaaaaaa-bbbbbbbbbb-cccccccccc-dddddddddd-eeeeee-f", "aaaaaaaaaa-bbbbbbbbbb-cccccccccc-dddddddddd-eeeeee"),
        // One long word: cut at 50.
        (&"x".repeat(70), &"x".repeat(50)),
    ];
    for (input, want) in cases {
        assert_eq!(slug(input), want, "slug({input:?})");
    }
}

#[test]
fn normalized_names_follow_argo_cds_sanitize_name() {
    assert_eq!(crate::params::normalize("Feature/New_API"), "feature-new-api");
    assert_eq!(crate::params::normalize("release-1.2"), "release-1.2");
    assert_eq!(crate::params::normalize("--.x.--"), "x");
    assert_eq!(crate::params::normalize("Größe"), "gr--e", "each character becomes one dash, as Go's regexp replaces it");
    assert_eq!(crate::params::normalize(&"a".repeat(300)).len(), 253);
}

#[test]
fn slugs_and_names_of_garbage_never_panic_and_stay_dns_safe() {
    // A deterministic generator of odd strings: control characters,
    // multi-byte characters, separators, long runs.
    let alphabet: Vec<char> = "aZ09-_./ &@\u{0}\n\t\u{7f}éß日𝄞\u{200b}\u{feff}%#?".chars().collect();
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let len = (seed % 120) as usize;
        let text: String = (0..len).map(|i| alphabet[((seed >> (i % 50)) as usize + i * 7) % alphabet.len()]).collect();
        let s = slug(&text);
        assert!(s.len() <= SLUG_MAX, "{text:?} -> {s:?}");
        assert!(s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'), "{text:?} -> {s:?}");
        let n = crate::params::normalize(&text);
        assert!(n.len() <= 253 && n.chars().all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '.')), "{text:?} -> {n:?}");
        assert!(!n.starts_with(['-', '.']) && !n.ends_with(['-', '.']));
        let _ = regex("f", Some(&text));
        let _ = repo_path("f", &text);
        let _ = check_name("f", &text);
    }
}

fn scm_filter(f: serde_json::Value) -> ScmFilter {
    ScmFilter::compile(0, &serde_json::from_value(f).unwrap()).unwrap()
}

#[test]
fn scm_filters_match_repositories_by_name_and_label() {
    let f = scm_filter(json!({"repositoryMatch": "^bill"}));
    assert!(f.matches_repo(&repo()));
    assert!(!f.matches_repo(&Repo { repository: "shipping".into(), ..repo() }));

    let f = scm_filter(json!({"labelMatch": "^prod$"}));
    assert!(f.matches_repo(&repo()));
    assert!(!f.matches_repo(&Repo { labels: vec!["production".into()], ..repo() }));
    assert!(!f.matches_repo(&Repo { labels: vec![], ..repo() }));

    // Conditions of one filter must all hold.
    let f = scm_filter(json!({"repositoryMatch": "bill", "labelMatch": "nope"}));
    assert!(!f.matches_repo(&repo()));

    // Branch conditions only: any repository.
    let f = scm_filter(json!({"branchMatch": "^main$", "pathsExist": ["apps/"], "pathsDoNotExist": ["skip"]}));
    assert!(f.matches_repo(&repo()));
    assert_eq!(f.paths_exist, ["apps"], "a trailing slash is dropped as Argo CD does");
    assert!(scm_filter(json!({})).matches_repo(&repo()));
}

#[test]
fn bad_filters_name_the_field() {
    let err = |f: serde_json::Value| ScmFilter::compile(3, &serde_json::from_value(f).unwrap()).unwrap_err().to_string();
    assert!(err(json!({"repositoryMatch": "("})).starts_with("scmProvider.filters[3].repositoryMatch: \"(\" is not a regular expression"));
    assert!(err(json!({"branchMatch": "[z-a]"})).starts_with("scmProvider.filters[3].branchMatch:"));
    assert!(err(json!({"labelMatch": "(?<"})).starts_with("scmProvider.filters[3].labelMatch:"));
    assert!(err(json!({"pathsExist": ["../etc"]})).starts_with("scmProvider.filters[3].pathsExist:"));
    assert!(err(json!({"pathsDoNotExist": ["/"]})).starts_with("scmProvider.filters[3].pathsDoNotExist:"));
    // A regular expression too large to compile is an error, not a hang.
    assert!(err(json!({"repositoryMatch": "((a{100}){100}){100}"})).contains("repositoryMatch"));
    let e = PullFilter::compile(1, &serde_json::from_value(json!({"titleMatch": "*"})).unwrap()).unwrap_err().to_string();
    assert!(e.starts_with("pullRequest.filters[1].titleMatch:"), "{e}");
}

#[test]
fn pull_request_filters_and_within_an_entry() {
    let f = |v: serde_json::Value| PullFilter::compile(0, &serde_json::from_value(v).unwrap()).unwrap();
    assert!(f(json!({})).matches(&pull()));
    assert!(f(json!({"branchMatch": "^feature/"})).matches(&pull()));
    assert!(!f(json!({"branchMatch": "^fix/"})).matches(&pull()));
    assert!(f(json!({"targetBranchMatch": "^main$", "titleMatch": "thing"})).matches(&pull()));
    assert!(!f(json!({"targetBranchMatch": "^main$", "titleMatch": "^WIP"})).matches(&pull()));
}

#[test]
fn owner_and_repository_names_that_would_escape_a_url_segment_are_refused() {
    for bad in ["", ".", "..", "a/b", "a\nb", "\u{0}"] {
        let e = check_name("pullRequest.github.repo", bad).unwrap_err().to_string();
        assert!(e.starts_with("pullRequest.github.repo:"), "{e}");
    }
    for good in ["acme", "my.repo", "a-b_c", "..x", "日本"] {
        assert!(check_name("f", good).is_ok(), "{good}");
    }
}

#[test]
fn api_urls_must_be_http() {
    for bad in ["", "gitea.local", "file:///etc/passwd", "ftp://h/", "http://"] {
        assert!(http_url(bad).is_err(), "{bad}");
    }
    assert!(http_url("https://gitea.example:3000/sub").is_ok());
}

//! Email over SMTP (`service.email[.<name>]`), with notifications-engine's
//! keys. TLS: port 465 is TLS from the first byte; any other port upgrades
//! with STARTTLS when the server offers it, and must when credentials are
//! set, unless the host is this machine (`localhost`, a loopback address),
//! as Go's SMTP client allows PLAIN authentication in the clear only to
//! localhost. Authentication: PLAIN or LOGIN. The certificate is checked
//! against the platform's roots unless `insecure_skip_verify`.

use std::net::IpAddr;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde::Deserialize;

use super::http::{quote, redact};
use super::{Config, Failure, ServiceError, lenient, section};
use crate::Notification;

/// Each SMTP command's limit; the whole exchange gets twice that.
const TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    #[serde(default)]
    host: String,
    #[serde(default, deserialize_with = "lenient::u64")]
    port: u64,
    #[serde(default)]
    from: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default, deserialize_with = "lenient::bool")]
    insecure_skip_verify: bool,
    #[serde(default, deserialize_with = "lenient::bool")]
    html: bool,
}

/// The `email` section of a template.
#[derive(Deserialize, Default, Debug)]
#[serde(default)]
pub(super) struct Section {
    subject: String,
    body: String,
}

pub(super) struct Email {
    from: Mailbox,
    html: bool,
    password: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl Email {
    pub(super) fn parse(at: &Config) -> Result<Email, ServiceError> {
        let s: Settings = at.typed(&[])?;
        let host = s.host.trim().to_string();
        if host.is_empty() {
            return Err(at.invalid("host", "is required"));
        }
        if host.chars().any(|c| c.is_control() || c.is_whitespace() || c == '/') {
            return Err(at.invalid("host", "not a host name or address"));
        }
        let port = match s.port {
            0 => 587,
            p => u16::try_from(p).map_err(|_| at.invalid("port", "not a port (1-65535)"))?,
        };
        if s.from.trim().is_empty() {
            return Err(at.invalid("from", "is required"));
        }
        let from: Mailbox = s.from.trim().parse().map_err(|e| at.invalid("from", &format!("not an email address ({e})")))?;
        let params = TlsParameters::builder(host.clone())
            .dangerous_accept_invalid_certs(s.insecure_skip_verify)
            .dangerous_accept_invalid_hostnames(s.insecure_skip_verify);
        driftless_source::install_crypto_provider();
        let params = params.build_rustls().map_err(|e| at.invalid("", &format!("cannot set up TLS ({e})")))?;
        let credentials = !s.username.is_empty() || !s.password.is_empty();
        let tls = match tls_mode(port, credentials, &host) {
            TlsMode::Wrapper => Tls::Wrapper(params),
            TlsMode::Required => Tls::Required(params),
            TlsMode::Opportunistic => Tls::Opportunistic(params),
        };
        let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host).port(port).tls(tls).timeout(Some(TIMEOUT));
        if credentials {
            transport = transport
                .credentials(Credentials::new(s.username.clone(), s.password.clone()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(Email { from, html: s.html, password: s.password, transport: transport.build() })
    }

    pub(super) async fn send(&self, n: &Notification, recipients: &str) -> Result<(), Failure> {
        let section: Section = section(n, "email")?;
        let message = message(&self.from, &section, &n.message, recipients, self.html)?;
        let sent = tokio::time::timeout(2 * TIMEOUT, self.transport.send(message))
            .await
            .map_err(|_| Failure::Transient(format!("SMTP: no answer within {} s", 2 * TIMEOUT.as_secs()), None))?;
        sent.map(drop).map_err(|e| {
            let text = quote(redact(&driftless_source::error_chain(&e), &[&self.password]).as_bytes(), &[]);
            let reason = format!("SMTP: {text}");
            // 5xx answers (unknown mailbox, bad credentials), TLS failures and
            // a server that will not do what the config asks stay failed.
            if e.is_permanent() || e.is_tls() || e.is_client() || e.is_response() || tls_failure(&e) {
                Failure::permanent(reason)
            } else {
                Failure::Transient(reason, None)
            }
        })
    }
}

/// Whether a connection error is TLS's (an untrusted certificate): lettre
/// reports a failed STARTTLS handshake as a connection error.
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if err.is::<rustls::Error>()
            || err.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()).is_some_and(|inner| inner.is::<rustls::Error>())
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// How a connection uses TLS.
#[derive(Debug, PartialEq, Eq)]
enum TlsMode {
    /// TLS from the start (port 465).
    Wrapper,
    /// STARTTLS or nothing is sent.
    Required,
    /// STARTTLS when the server offers it.
    Opportunistic,
}

/// Credentials never travel in the clear to another machine; this one
/// (loopback) may be spoken to in the clear, as Go's SMTP client allows.
fn tls_mode(port: u16, credentials: bool, host: &str) -> TlsMode {
    if port == 465 {
        TlsMode::Wrapper
    } else if credentials && !is_local(host) {
        TlsMode::Required
    } else {
        TlsMode::Opportunistic
    }
}

fn is_local(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost") || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The message: the section's subject, its body or else the message, to
/// every address of `recipients` (separated by commas). CR or LF in the
/// subject or an address is refused: they would start another header.
pub(super) fn message(from: &Mailbox, section: &Section, text: &str, recipients: &str, html: bool) -> Result<Message, Failure> {
    let subject = section.subject.trim_end_matches(['\r', '\n']);
    if subject.contains(['\r', '\n']) {
        return Err(Failure::permanent("the template's `email.subject` has a line break (CR or LF)"));
    }
    if recipients.contains(['\r', '\n']) {
        return Err(Failure::permanent("the recipient has a line break (CR or LF)"));
    }
    let mut builder = Message::builder().from(from.clone()).subject(subject);
    let mut any = false;
    for address in recipients.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let to: Mailbox = address
            .parse()
            .map_err(|e| Failure::permanent(format!("the recipient `{}` is not an email address ({e})", quote(address.as_bytes(), &[]))))?;
        builder = builder.to(to);
        any = true;
    }
    if !any {
        return Err(Failure::permanent("no recipient: the subscription's recipient names the addresses"));
    }
    let body = if section.body.is_empty() { text } else { &section.body };
    builder
        .header(if html { ContentType::TEXT_HTML } else { ContentType::TEXT_PLAIN })
        .body(body.to_string())
        .map_err(|e| Failure::permanent(format!("cannot build the email ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_need_tls_unless_the_server_is_this_machine() {
        assert_eq!(tls_mode(465, false, "smtp.example.com"), TlsMode::Wrapper);
        assert_eq!(tls_mode(587, true, "smtp.example.com"), TlsMode::Required);
        assert_eq!(tls_mode(25, true, "192.0.2.10"), TlsMode::Required);
        assert_eq!(tls_mode(25, true, "127.0.0.1"), TlsMode::Opportunistic);
        assert_eq!(tls_mode(25, true, "[::1]"), TlsMode::Opportunistic);
        assert_eq!(tls_mode(25, true, "LOCALHOST"), TlsMode::Opportunistic);
        assert_eq!(tls_mode(587, false, "smtp.example.com"), TlsMode::Opportunistic);
        assert_eq!(tls_mode(25, true, "127.0.0.1.example.com"), TlsMode::Required);
    }
}

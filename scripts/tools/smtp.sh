#!/usr/bin/env bash
# Installs smtp-sink into target/tools/bin: an SMTP server on 127.0.0.1 for
# the email notification tests (Python's aiosmtpd from PyPI, in a venv at
# target/tools/venv-smtp). Idempotent: does nothing when the pinned version
# and this script's server are already there.
#
#   smtp-sink --dir DIR [--host A] [--port N] [--tls-cert F --tls-key F] [--user U --password P]
#
# listens on A (default 127.0.0.1), prints "listening PORT" once it accepts
# connections (port 0: any free
# port), offers STARTTLS with the given certificate (and then requires it),
# requires AUTH (PLAIN or LOGIN, over TLS) with the given credentials, and
# writes each message received to DIR as NNNN.eml, with NNNN.json beside it
# ({"mail_from", "rcpt_tos", "login", "tls", and the message as a mail
# reader decodes it: "from", "to", "subject", "content_type", "body"})
# written first.
set -euo pipefail
AIOSMTPD_VERSION="${AIOSMTPD_VERSION:-1.4.6}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/target/tools/bin"
VENV="$ROOT/target/tools/venv-smtp"
STAMP="$VENV/.driftless-installed"
WANT="aiosmtpd==$AIOSMTPD_VERSION $(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1)"
if [[ -x "$BIN/smtp-sink" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]]; then
  exit 0
fi
# Debian's python3 comes without venv/ensurepip: install them as the other
# tools' Debian packages are.
if ! command -v python3 >/dev/null || ! python3 -c "import venv, ensurepip" 2>/dev/null; then
  if command -v apt-get >/dev/null; then
    apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
  fi
fi
command -v python3 >/dev/null && python3 -c "import venv, ensurepip" 2>/dev/null ||
  { echo "smtp.sh: python3 with venv is required (Debian: apt-get install python3-venv)" >&2; exit 1; }
mkdir -p "$BIN"
if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$AIOSMTPD_VERSION')" 2>/dev/null; then
  echo "smtp.sh: installing aiosmtpd $AIOSMTPD_VERSION into $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "aiosmtpd==$AIOSMTPD_VERSION"
fi
cat >"$BIN/smtp-sink" <<PY
#!$VENV/bin/python
"""An SMTP server that keeps what it receives (scripts/tools/smtp.sh)."""
import argparse, asyncio, email, email.policy, itertools, json, os, ssl
from aiosmtpd.smtp import SMTP, AuthResult

def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--user")
    p.add_argument("--password")
    a = p.parse_args()
    tls = None
    if a.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.tls_cert, a.tls_key)
    numbers = itertools.count(1)

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            n = next(numbers)
            meta = {
                "mail_from": envelope.mail_from,
                "rcpt_tos": envelope.rcpt_tos,
                "login": session.login_data.decode() if isinstance(session.login_data, bytes) else session.login_data,
                "tls": session.ssl is not None,
            }
            message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            meta.update(
                {
                    "from": str(message["From"]),
                    "to": str(message["To"]),
                    "subject": str(message["Subject"]),
                    "content_type": message.get_content_type(),
                    "body": message.get_content(),
                }
            )
            for name, data in ((f"{n:04}.json", json.dumps(meta).encode()), (f"{n:04}.eml", envelope.original_content)):
                tmp = os.path.join(a.dir, "." + name)
                with open(tmp, "wb") as f:
                    f.write(data)
                os.rename(tmp, os.path.join(a.dir, name))
            return "250 OK"

    def authenticate(server, session, envelope, mechanism, data):
        ok = data.login.decode() == a.user and data.password.decode() == a.password
        # handled=False: aiosmtpd answers 535 itself when it fails.
        return AuthResult(success=ok, handled=False, auth_data=data)

    def protocol():
        return SMTP(
            Sink(),
            hostname="smtp-sink",
            tls_context=tls,
            require_starttls=tls is not None,
            authenticator=authenticate if a.user else None,
            auth_required=a.user is not None,
            auth_require_tls=True,
        )

    async def serve():
        server = await asyncio.get_running_loop().create_server(protocol, a.host, a.port)
        print(f"listening {server.sockets[0].getsockname()[1]}", flush=True)
        await server.serve_forever()

    asyncio.run(serve())

main()
PY
chmod +x "$BIN/smtp-sink"
echo "$WANT" >"$STAMP"

#!/usr/bin/env python3
"""A local SMTP relay on aiosmtpd that, like most relays, requires STARTTLS and AUTH.

Usage: smtp_server.py PORT CERT KEY MAIL_DIR [starttls|tls]
starttls (the default): a plain connection that must turn TLS before AUTH and MAIL; tls: TLS
from the first byte (SMTPS). The user is SMTP_USER; the password is read from the environment variable SMTP_PASSWORD,
never from the command line. Every message received is written to MAIL_DIR/N.eml. Prints
"ready" on stdout once it accepts connections.
"""
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Store:
    def __init__(self, mail_dir):
        self.mail_dir = mail_dir
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.mail_dir, '%d.eml' % self.count)
        with open(path + '.tmp', 'wb') as f:
            f.write(envelope.original_content or envelope.content)
        os.rename(path + '.tmp', path)
        return '250 2.0.0 queued'


class Authenticator:
    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and auth_data.login == self.user and auth_data.password == self.password)
        return AuthResult(success=ok, handled=False)


def main():
    port, cert, key, mail_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    implicit = sys.argv[5:] == ['tls']
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    if implicit:
        # The whole connection is TLS; aiosmtpd's AUTH check knows only STARTTLS.
        tls = dict(ssl_context=context, auth_require_tls=False)
    else:
        tls = dict(tls_context=context, require_starttls=True, auth_require_tls=True)
    controller = Controller(
        Store(mail_dir),
        hostname='127.0.0.1',
        port=port,
        ready_timeout=30,
        server_hostname='127.0.0.1',
        authenticator=Authenticator(os.environ['SMTP_USER'], os.environ['SMTP_PASSWORD']),
        auth_required=True,
        **tls,
    )
    controller.start()
    print('ready', flush=True)
    # Until the test kills it; bounded all the same.
    time.sleep(600)
    controller.stop()


if __name__ == '__main__':
    main()

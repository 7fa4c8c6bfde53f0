// MailTransport

// MailCore

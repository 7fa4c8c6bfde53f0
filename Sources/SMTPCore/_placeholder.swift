// SMTPCore

//! The texts of notifications: a greeting, "a new result is ready" and the portal link,
//! never a name, a test or a value.

/// The notification templates this worker can render (`notifications.template`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    ResultReady,
    ResultCorrected,
    /// A walk-in patient's single-result link (`params.link`), opened with their birth date.
    ResultLink,
}

impl Template {
    /// The stored names the worker claims; other templates wait for code that knows them.
    pub const NAMES: [&'static str; 3] = ["result_ready", "result_corrected", "result_link"];

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "result_ready" => Some(Self::ResultReady),
            "result_corrected" => Some(Self::ResultCorrected),
            "result_link" => Some(Self::ResultLink),
            _ => None,
        }
    }
}

/// The message language, from the patient's notification preferences (English by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    Spanish,
}

impl Language {
    /// `es`, `es-MX`, `ES` … are Spanish; anything else is English.
    pub fn from_code(code: Option<&str>) -> Self {
        match code.map(|c| c.trim().to_ascii_lowercase()) {
            Some(c) if c == "es" || c.starts_with("es-") || c.starts_with("es_") => Self::Spanish,
            _ => Self::English,
        }
    }
}

/// One rendered notification: subject and body for email, `short` for SMS and push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub body: String,
    pub short: String,
}

impl Message {
    pub fn render(template: Template, language: Language, portal_url: &str) -> Self {
        let (subject, line) = headline(template, language);
        let (greeting, sign_in, footer) = frame(language);
        Self {
            subject: subject.to_owned(),
            body: format!("{greeting}\n\n{line}\n{sign_in}\n{portal_url}\n\n{footer}\n"),
            short: format!("{line} {portal_url}"),
        }
    }
}

/// The subject and the one line that says what happened.
fn headline(template: Template, language: Language) -> (&'static str, &'static str) {
    match (template, language) {
        (Template::ResultReady, Language::English) => (
            "A new result is ready",
            "A new result is ready in your portal.",
        ),
        (Template::ResultCorrected, Language::English) => (
            "An updated result is ready",
            "An updated result is ready in your portal.",
        ),
        (Template::ResultReady, Language::Spanish) => (
            "Hay un nuevo resultado disponible",
            "Hay un nuevo resultado disponible en su portal.",
        ),
        (Template::ResultCorrected, Language::Spanish) => (
            "Hay un resultado actualizado disponible",
            "Hay un resultado actualizado disponible en su portal.",
        ),
        (Template::ResultLink, Language::English) => (
            "Your test result is ready",
            "Your test result is ready. Open it with your date of birth.",
        ),
        (Template::ResultLink, Language::Spanish) => (
            "Su resultado está disponible",
            "Su resultado está disponible. Ábralo con su fecha de nacimiento.",
        ),
    }
}

/// Greeting, the sign-in prompt before the link, and the closing line.
fn frame(language: Language) -> (&'static str, &'static str, &'static str) {
    match language {
        Language::English => (
            "Hello,",
            "Sign in to view it:",
            "This is an automated message; please do not reply.",
        ),
        Language::Spanish => (
            "Hola:",
            "Inicie sesión para verlo:",
            "Este es un mensaje automático; no responda.",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrected_results_say_updated_and_carry_the_link() {
        let message = Message::render(
            Template::ResultCorrected,
            Language::English,
            "https://portal.example",
        );
        assert_eq!(message.subject, "An updated result is ready");
        assert!(
            message
                .body
                .contains("Sign in to view it:\nhttps://portal.example")
        );
        assert!(message.short.ends_with("https://portal.example"));
    }

    #[test]
    fn spanish_preference_selects_spanish_text() {
        assert_eq!(Language::from_code(Some("es-MX")), Language::Spanish);
        assert_eq!(Language::from_code(Some("en")), Language::English);
        assert_eq!(Language::from_code(None), Language::English);
        let message = Message::render(Template::ResultReady, Language::Spanish, "http://p");
        assert!(message.body.starts_with("Hola:"));
    }

    #[test]
    fn only_known_templates_parse() {
        assert_eq!(Template::parse("result_ready"), Some(Template::ResultReady));
        assert_eq!(Template::parse("result_link"), Some(Template::ResultLink));
        assert_eq!(Template::parse("marketing"), None);
    }
}

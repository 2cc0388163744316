//! The site's languages: a page's address starts with one (`/sq/…`, `/en/…`).

/// A language the site speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// Albanian, the first language.
    Sq,
    /// English.
    En,
}

impl Lang {
    /// Every language, Albanian first (the default).
    pub const ALL: [Lang; 2] = [Lang::Sq, Lang::En];

    /// The language an address names, if the site speaks it.
    pub fn parse(code: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.code() == code)
    }

    /// The language an address names, English where it names none the site speaks
    /// (for its "not found" page).
    pub fn or_english(code: &str) -> Lang {
        Lang::parse(code).unwrap_or(Lang::En)
    }

    /// Its BCP 47 code, as addresses and `lang` attributes write it.
    pub fn code(self) -> &'static str {
        match self {
            Lang::Sq => "sq",
            Lang::En => "en",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_others_are_refused() {
        for lang in Lang::ALL {
            assert_eq!(Lang::parse(lang.code()), Some(lang));
        }
        assert_eq!(Lang::parse("fr"), None);
        assert_eq!(Lang::or_english("fr"), Lang::En);
    }
}

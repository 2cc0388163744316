//! Finding tables by what readers type: every word of the query must appear in the
//! table's titles, dimension names or category labels, in either language, ignoring
//! case and accents ("bashkise" finds "bashkisë", "Tiran" finds the municipality
//! "Tiranë", "Durres" finds "Durrës").

use statvault_protect::ProtectedTable;

/// `text` lowercased with its accents removed: the letters of Albanian and the Latin
/// ones readers meet, decomposed by hand (the site carries no Unicode tables).
pub fn fold(text: &str) -> String {
    text.chars()
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
            'ç' | 'ć' | 'č' | 'ĉ' => 'c',
            'ď' | 'đ' => 'd',
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
            'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' => 'i',
            'ñ' | 'ń' | 'ň' => 'n',
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
            'ŕ' | 'ř' => 'r',
            'ś' | 'š' | 'ş' => 's',
            'ť' | 'ţ' => 't',
            'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => 'u',
            'ý' | 'ÿ' => 'y',
            'ź' | 'ż' | 'ž' => 'z',
            c => c,
        })
        .collect()
}

/// Everything of a table a reader may search for, folded: its id, titles, unit, and the
/// names of its dimensions and categories in every language.
pub fn haystack(
    table: &ProtectedTable,
    release_title: &statvault_census::schema::Labels,
) -> String {
    let mut words = vec![table.id.clone()];
    words.extend(table.title.values().cloned());
    words.extend(release_title.values().cloned());
    for d in &table.dimensions {
        words.push(d.id.clone());
        words.extend(d.label.values().cloned());
        for c in &d.categories {
            words.push(c.code.clone());
            words.extend(c.label.values().cloned());
        }
    }
    fold(&words.join("\n"))
}

/// Whether every word of `query` appears in `haystack` (made by `haystack`); an empty
/// query matches everything.
pub fn matches(query: &str, haystack: &str) -> bool {
    fold(query)
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .all(|w| haystack.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_and_case_do_not_matter() {
        assert_eq!(
            fold("Tiranë, Durrës, Kuçovë, ÇËRRIK"),
            "tirane, durres, kucove, cerrik"
        );
        let hay = fold("Popullsia sipas bashkisë dhe gjinisë\nTiranë");
        assert!(matches("bashkise", &hay));
        assert!(matches("Tiran gjinise", &hay));
        assert!(!matches("Tiran Shkodër", &hay));
        assert!(matches("  ", &hay));
    }
}

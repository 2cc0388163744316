//! Server-rendered HTML in Albanian and English: every page works without JavaScript
//! for browsing and downloading. One stylesheet, no scripts yet, nothing from other
//! origins.

use std::fmt::Write as _;

use statvault_census::schema::Labels;
use statvault_census::table::{strides, CategoryKind, Dimension};
use statvault_protect::protected::LEGEND;
use statvault_protect::ProtectedTable;
use statvault_release::calendar::{CalendarRelease, Notice, Status};
use statvault_release::formats::{dimension_label, label};
use statvault_release::meta::utc_time;

use crate::store::{Bundle, Catalog};
use crate::{charts, locale, select};

/// The site's languages, the first the default.
pub const LANGUAGES: [&str; 2] = ["sq", "en"];

/// Most cells an HTML table shows; larger selections are downloaded instead.
pub const MAX_HTML_CELLS: u128 = 5_000;

/// The site's words: (key, Albanian, English).
const WORDS: &[(&str, &str, &str)] = &[
    ("site", "Statistikat zyrtare", "Official statistics"),
    ("home", "Kreu", "Home"),
    ("calendar", "Kalendari i publikimeve", "Release calendar"),
    ("authenticity", "Vërtetësia", "Authenticity"),
    ("latest", "Publikimet e fundit", "Latest releases"),
    ("upcoming", "Publikimet e ardhshme", "Upcoming releases"),
    ("none", "Asnjë.", "None."),
    ("postponed", "shtyrë", "postponed"),
    ("scheduled", "planifikuar", "scheduled"),
    ("published", "publikuar", "published"),
    ("withdrawn", "tërhequr", "withdrawn"),
    ("reason", "Arsyeja", "Reason"),
    ("tables", "Tabelat", "Tables"),
    ("downloads", "Shkarkime", "Downloads"),
    ("period", "Periudha e referencës", "Reference period"),
    ("released", "Publikuar më", "Released"),
    ("methodology", "Metodologjia", "Methodology"),
    ("protection", "Mbrojtja e konfidencialitetit", "Confidentiality protection"),
    ("audit_ok", "auditimi kaloi", "audit passed"),
    ("signature", "Nënshkrimi", "Signature"),
    ("verified", "verifikuar: nënshkruar nga", "verified: signed by"),
    ("log", "regjistri i transparencës, hyrja", "transparency log entry"),
    ("caveat", "Ky kontroll ekzekuton kod të dërguar nga ky sajt: nuk provon asgjë nëse vetë sajti është marrë nga dikush tjetër, përveç nëse ID-ja e çelësit përputhet me atë që keni marrë në një rrugë tjetër (shih Vërtetësia).", "This check runs code this site sent: it proves nothing if the site itself is owned by someone else, unless the key ID matches one you obtained another way (see Authenticity)."),
    ("verifier", "Çelësi verifikues i shënimeve (C2SP signed-note)", "Note verifier key (C2SP signed-note)"),
    ("proofs", "Provat e qëndrueshmërisë: /log/consistency/N jep provën RFC 6962 nga madhësia N te pika e kontrollit aktuale, një hash base64 për rresht.", "Consistency proofs: /log/consistency/N gives the RFC 6962 proof from size N to the current checkpoint, one base64 hash per line."),
    ("versions", "Versionet", "Versions"),
    ("version", "versioni", "version"),
    ("select", "Zgjidh", "Select"),
    ("skip", "Kalo te përmbajtja", "Skip to content"),
    ("search", "Kërko", "Search"),
    ("description", "statistika zyrtare të Shqipërisë nga publikime të nënshkruara: tabela, harta, shkarkime dhe një API.", "official statistics of Albania from signed releases: tables, maps, downloads and an API."),
    ("found", "Tabela të gjetura", "Tables found"),
    ("search_hint", "Kërkoni në tituj, dimensione dhe kategori, në të dyja gjuhët; theksat nuk kanë rëndësi.", "Search titles, dimensions and categories, in either language; accents do not matter."),
    ("originally", "fillimisht", "originally"),
    ("unit", "Njësia", "Unit"),
    ("source", "Burimi", "Source"),
    ("perturbed_note", "Totalet mund të mos jenë shuma e pjesëve: çdo qelizë, totalet përfshirë, është ngatërruar veçmas me metodën e çelësit të qelizës për të mbrojtur konfidencialitetin.", "Totals may differ from the sum of their parts: every cell, totals included, is perturbed on its own by the cell key method to protect confidentiality."),
    ("topic_population", "Popullsia", "Population"),
    ("topic_housing", "Familjet dhe banesat", "Households and dwellings"),
    ("topic_migration", "Migracioni", "Migration"),
    ("topic_work", "Arsimi dhe puna", "Education and work"),
    ("topic_grid", "Rrjeti 1 km", "1 km grid"),
    ("static_copy", "Kjo është një kopje statike e sajtit: pa JavaScript çdo tabelë shfaqet e plotë, çfarëdo që kërkon adresa; me të, shfletuesi bën përzgjedhjen nga skedari i nënshkruar i tabelës. Shkarkimet janë tabela e plotë.", "This is a static copy of the site: without JavaScript each table is shown whole, whatever its address asks; with it, your browser makes the selection from the table's signed file. Downloads are the whole table."),
    ("static_selected", "Përzgjedhja u bë nga shfletuesi juaj nga skedari i nënshkruar i tabelës. Grafiku dhe harta nuk shfaqen për të.", "Your browser made this selection from the table's signed file. The chart and map are not drawn for it."),
    ("static_search", "Kjo kopje statike e sajtit nuk kërkon; ja të gjitha tabelat. Për të kërkuar përdorni sajtin e drejtpërdrejtë.", "This static copy of the site cannot search; here is every table. To search, use the live site."),
    ("open_on_site", "hapeni në sajt, me shkarkimet", "open it on the site, with its downloads"),
    ("all_of_level", "Të gjitha", "All"),
    ("all_parts", "të gjitha pjesët", "all its parts"),
    ("codes_hint", "kategori: shkruani kode të ndara me presje, * për të gjitha, ose TOP(n)", "categories: type codes separated by commas, * for all, or TOP(n)"),
    ("bad_selection", "Kjo përzgjedhje nuk mund të bëhet", "This selection cannot be made"),
    ("show", "Shfaq", "Show"),
    ("columns", "Kolonat", "Columns"),
    ("sort", "Rendit", "Sort"),
    ("as_is", "si në tabelë", "as in the table"),
    ("descending", "zbritës", "descending"),
    ("ascending", "rritës", "ascending"),
    ("too_many", "Përzgjedhja është shumë e madhe për t'u shfaqur; ngushtojeni ose shkarkojeni.", "The selection is too large to show; narrow it or download it."),
    ("legend", "Shenjat", "Flags"),
    ("selection", "Shkarko përzgjedhjen", "Download the selection"),
    ("contact", "Kontakti", "Contact"),
    ("not_found", "Nuk u gjet", "Not found"),
    ("key", "Çelësi publik i nënshkrimit", "Public signing key"),
    ("checkpoint", "Pika e fundit e kontrollit të regjistrit", "Latest log checkpoint"),
    ("checking", "Shfletuesi po kontrollon nënshkrimin…", "Your browser is checking the signature…"),
    ("chart", "Grafiku", "Chart"),
    ("map", "Harta", "Map"),
    ("alerts", "Njoftime me e-mail", "E-mail alerts"),
    ("alerts_intro", "Merrni një e-mail sa herë që del një publikim i ri ose një version i ri i tij. Adresa juaj përdoret vetëm për këtë dhe nuk shfaqet askund.", "Receive an e-mail whenever a release, or a new version of one, is published. Your address is used for nothing else and shown nowhere."),
    ("email", "Adresa e e-mailit", "E-mail address"),
    ("subscribe", "Abonohu", "Subscribe"),
    ("sent", "Nëse adresa merr e-mail, atje po vjen një mesazh me një lidhje konfirmimi. Abonimi fillon kur e konfirmoni.", "If the address can receive e-mail, a message with a confirmation link is on its way. The subscription starts when you confirm it."),
    ("confirm", "Konfirmo abonimin", "Confirm the subscription"),
    ("confirmed", "Abonimi u konfirmua. Do të merrni një e-mail për çdo publikim të ri.", "Subscription confirmed. You will receive an e-mail for each new release."),
    ("unsubscribe", "Çabonohu", "Unsubscribe"),
    ("confirm_ask", "Shtypni butonin për të konfirmuar abonimin.", "Press the button to confirm the subscription."),
    ("unsubscribe_ask", "Shtypni butonin për të ndaluar njoftimet dhe për të fshirë adresën tuaj.", "Press the button to stop the alerts and delete your address."),
    ("try_later", "Abonimet nuk po funksionojnë tani; provoni përsëri më vonë.", "Subscriptions are not working just now; please try again later."),
    ("bad_address", "Kjo nuk është një adresë e-maili", "That is not an e-mail address"),
    ("unsubscribed", "U çabonuat. Adresa juaj u fshi.", "You are unsubscribed. Your address has been deleted."),
    ("bad_link", "Kjo lidhje nuk është më e vlefshme.", "This link is no longer valid."),
    ("confirm_subject", "Konfirmoni abonimin në njoftimet e publikimeve", "Confirm your subscription to release alerts"),
    ("new_release", "Publikim i ri", "New release"),
    ("revised_release", "Publikim i rishikuar", "Revised release"),
    ("signed_by", "Nënshkruar me çelësin", "Signed with key"),
    ("log_entry", "hyrja në regjistrin e transparencës", "transparency log entry"),
    ("check_yourself", "Kontrollojeni vetë", "Check it yourself"),
    ("postponed_subject", "Shtyhet", "Postponed"),
    ("withdrawn_subject", "Tërhiqet", "Withdrawn"),
    ("new_time", "Koha e re e publikimit", "New release time"),
    ("log_entry_of", "Ky njoftim është hyrja në regjistrin e transparencës me numër", "This notice is transparency log entry"),
    ("unsubscribe_line", "Çabonohuni me një klikim", "Unsubscribe with one click"),
];

/// A word of the site in `lang` (Albanian for "sq", else English); "" for no such key.
pub(crate) fn t(lang: &str, key: &str) -> &'static str {
    WORDS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map_or("", |(_, sq, en)| if lang == "sq" { sq } else { en })
}

pub use statvault_release::formats::escape_markup as escape;

pub(crate) fn text<'a>(labels: &'a Labels, lang: &str) -> &'a str {
    labels
        .get(lang)
        .or_else(|| labels.values().next())
        .map_or("", String::as_str)
}

/// The stylesheet and script: (name, content type, bytes).
pub const ASSETS: [(&str, &str, &[u8]); 2] = [
    ("site.css", "text/css; charset=utf-8", CSS.as_bytes()),
    (
        "site.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../assets/site.js"),
    ),
];

/// An asset's name with its content's hash (`site.1a2b3c4d5e6f.css`): pages name
/// assets so, and a new version is a new address, so browsers may keep each for good.
pub fn fingerprinted(name: &str, body: &[u8]) -> String {
    let hash = blake3::hash(body).to_hex();
    match name.rsplit_once('.') {
        Some((stem, ext)) => format!("{stem}.{}.{ext}", &hash[..12]),
        None => name.to_string(),
    }
}

fn asset_address(name: &str) -> String {
    let body = ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map_or(&[][..], |(_, _, b)| *b);
    format!("/assets/{}", fingerprinted(name, body))
}

/// The site's icon: a white bar chart on the header's red.
pub const FAVICON_SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\">\
<rect width=\"16\" height=\"16\" rx=\"2\" fill=\"#8b0000\"/><path d=\"M3 13V8h2v5zm4 0V4h2v9zm4 0V6h2v7z\" fill=\"#fff\"/></svg>";

/// The same icon as a 16×16 ICO (one 32-bit bitmap), for browsers that ask for
/// `/favicon.ico` whatever the page says.
pub fn favicon_ico() -> Vec<u8> {
    const SIZE: u32 = 16;
    let bar = |x: u32, y: u32| {
        // Rows count from the bottom in a bitmap; bars stand on row 3.
        (3..13).contains(&y)
            && (((3..5).contains(&x) && y < 8)
                || ((7..9).contains(&x) && y < 12)
                || ((11..13).contains(&x) && y < 10))
    };
    let pixels: Vec<u8> = (0..SIZE)
        .flat_map(|y| (0..SIZE).map(move |x| (x, y)))
        .flat_map(|(x, y)| {
            if bar(x, y) {
                [0xff, 0xff, 0xff, 0xff]
            } else {
                [0x00, 0x00, 0x8b, 0xff]
            }
        })
        .collect();
    let mask = vec![0u8; (SIZE * 4) as usize]; // 1 bit a pixel, rows padded to 32 bits
    let image_len = 40 + pixels.len() + mask.len();
    let mut ico = Vec::with_capacity(22 + image_len);
    ico.extend([0, 0, 1, 0, 1, 0]); // reserved, type 1 (icon), one image
    ico.extend([SIZE as u8, SIZE as u8, 0, 0, 1, 0, 32, 0]);
    ico.extend((image_len as u32).to_le_bytes());
    ico.extend(22u32.to_le_bytes());
    // BITMAPINFOHEADER: the height counts the mask too.
    ico.extend(40u32.to_le_bytes());
    ico.extend(SIZE.to_le_bytes());
    ico.extend((SIZE * 2).to_le_bytes());
    ico.extend(1u16.to_le_bytes());
    ico.extend(32u16.to_le_bytes());
    ico.extend([0u8; 24]);
    ico.extend(pixels);
    ico.extend(mask);
    ico
}

/// `robots.txt`: everything may be crawled but the API's answers (every selection of
/// every table is an address); the sitemap where the public address is known.
pub fn robots(base: Option<&str>) -> String {
    let mut text = String::from("User-agent: *\nAllow: /\nDisallow: /api/\n");
    if let Some(base) = base {
        let _ = writeln!(text, "Sitemap: {base}/sitemap.xml");
    }
    text
}

/// The sitemap (sitemaps.org 0.9 with `xhtml:link` alternates): the home page,
/// calendar and authenticity page, and each latest public release with its tables, in
/// both languages.
pub fn sitemap(base: &str, catalog: &Catalog, now: u64) -> String {
    let mut paths: Vec<(String, Option<String>)> = ["/", "/calendar", "/authenticity"]
        .iter()
        .map(|p| (p.to_string(), None))
        .collect();
    for b in catalog.latest(now) {
        let modified = Some(b.manifest.release_time[..10].to_string());
        paths.push((format!("/releases/{}", b.name), modified.clone()));
        for t in &b.tables {
            paths.push((format!("/releases/{}/{}", b.name, t.id), modified.clone()));
        }
    }
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<urlset xmlns=\"http://www.sitemaps.org/schemas/sitemap/0.9\" xmlns:xhtml=\"http://www.w3.org/1999/xhtml\">\n",
    );
    for (path, modified) in &paths {
        for lang in LANGUAGES {
            let _ = write!(
                xml,
                "<url><loc>{}</loc>",
                escape(&format!("{base}/{lang}{path}"))
            );
            if let Some(day) = modified {
                let _ = write!(xml, "<lastmod>{day}</lastmod>");
            }
            for other in LANGUAGES {
                let _ = write!(
                    xml,
                    "<xhtml:link rel=\"alternate\" hreflang=\"{other}\" href=\"{}\"/>",
                    escape(&format!("{base}/{other}{path}"))
                );
            }
            xml.push_str("</url>\n");
        }
    }
    xml + "</urlset>\n"
}

/// The page around `body`; `path` is the page's address without the language, for the
/// language switch.
fn page(lang: &str, title: &str, path: &str, body: &str) -> String {
    let other = if lang == "sq" { "en" } else { "sq" };
    let other_name = if lang == "sq" { "English" } else { "Shqip" };
    format!(
        "<!doctype html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · {site}</title>{meta}<link rel=\"stylesheet\" href=\"{css}\">\
<link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\
<link rel=\"alternate\" type=\"application/atom+xml\" href=\"/{lang}/feed.atom\">\
<script src=\"{js}\" defer></script></head>\
<body><a class=\"skip\" href=\"#main\">{skip}</a><header><a class=\"site\" href=\"/{lang}/\">{site}</a><nav>\
<a href=\"/{lang}/calendar\">{calendar}</a> <a href=\"/{lang}/authenticity\">{auth}</a> \
<a href=\"/api/v1/openapi.json\">API</a> \
<a href=\"/{other}{path}\" hreflang=\"{other}\" lang=\"{other}\">{other_name}</a></nav>{search}</header>\
<main id=\"main\">{body}</main></body></html>\n",
        title = escape(title),
        meta = head_meta(lang, title),
        css = asset_address("site.css"),
        js = asset_address("site.js"),
        skip = t(lang, "skip"),
        site = t(lang, "site"),
        calendar = t(lang, "calendar"),
        auth = t(lang, "authenticity"),
        search = search_form(lang, ""),
    )
}

/// The description and OpenGraph tags of a page titled `title`.
fn head_meta(lang: &str, title: &str) -> String {
    let description = format!("{title}: {}", t(lang, "description"));
    format!(
        "<meta name=\"description\" content=\"{d}\"><meta property=\"og:title\" content=\"{title}\">\
<meta property=\"og:description\" content=\"{d}\"><meta property=\"og:type\" content=\"website\">\
<meta property=\"og:site_name\" content=\"{site}\"><meta property=\"og:locale\" content=\"{locale}\">",
        d = escape(&description),
        title = escape(title),
        site = t(lang, "site"),
        locale = if lang == "sq" { "sq_AL" } else { "en_GB" },
    )
}

/// The search box every page carries: a GET to the search page.
fn search_form(lang: &str, query: &str) -> String {
    format!(
        "<form class=\"search\" role=\"search\" method=\"get\" action=\"/{lang}/search\">\
<label for=\"q-{where_}\" class=\"visually-hidden\">{word}</label>\
<input type=\"search\" id=\"q-{where_}\" name=\"q\" value=\"{query}\" placeholder=\"{word}\">\
<button type=\"submit\">{word}</button></form>",
        word = t(lang, "search"),
        query = escape(query),
        where_ = if query.is_empty() { "top" } else { "main" },
    )
}

fn status_word(lang: &str, status: Status) -> &'static str {
    match status {
        Status::Scheduled => t(lang, "scheduled"),
        Status::Postponed => t(lang, "postponed"),
        Status::Published => t(lang, "published"),
        Status::Withdrawn => t(lang, "withdrawn"),
    }
}

/// A notice's reason in `lang` where the office gave one in it, else in its own words.
pub(crate) fn reason_in<'a>(lang: &str, notice: &'a Notice) -> &'a str {
    notice
        .reasons
        .get(lang)
        .or(notice.reason.as_ref())
        .map_or("", String::as_str)
}

fn calendar_item(lang: &str, r: &CalendarRelease) -> String {
    let mut item = format!(
        "<li><time datetime=\"{time}\">{local}</time> <strong>{title}</strong> \
<span class=\"status {status:?}\">{word}</span>",
        time = escape(&r.release_time),
        local = escape(&locale::date_time(lang, &r.release_time)),
        title = escape(text(&r.title, lang)),
        word = status_word(lang, r.status),
        status = r.status,
    );
    // The date first announced, where it moved since.
    let first = r.notices.first().map(|n| n.release_time.as_str());
    if let Some(first) = first.filter(|f| *f != r.release_time) {
        let _ = write!(
            item,
            " <small>({} <time datetime=\"{first}\"><del>{}</del></time>)</small>",
            t(lang, "originally"),
            escape(&locale::date_time(lang, first))
        );
    }
    for notice in r.notices.iter().filter(|n| n.reason.is_some()) {
        let _ = write!(
            item,
            "<br><small>{}: {} ({} → {})</small>",
            t(lang, "reason"),
            escape(reason_in(lang, notice)),
            escape(&locale::date_time(lang, &notice.logged)),
            escape(&locale::date_time(lang, &notice.release_time))
        );
    }
    item + "</li>"
}

/// The subject a table belongs to, from what it cross-classifies: a word key.
fn topic(table: &ProtectedTable) -> &'static str {
    let has = |ids: &[&str]| {
        table
            .dimensions
            .iter()
            .any(|d| ids.contains(&d.id.as_str()))
    };
    let measures = |words: &[&str]| {
        words
            .iter()
            .any(|w| table.id.contains(w) || table.unit.contains(w))
    };
    if has(&["grid_1km"]) {
        "topic_grid"
    } else if measures(&["household", "dwelling"]) {
        "topic_housing"
    } else if has(&["birthplace", "residence_1y"]) {
        "topic_migration"
    } else if has(&["education", "activity"]) || measures(&["employed", "working_age"]) {
        "topic_work"
    } else {
        "topic_population"
    }
}

/// The order topics are listed in.
const TOPICS: [&str; 5] = [
    "topic_population",
    "topic_housing",
    "topic_migration",
    "topic_work",
    "topic_grid",
];

/// Tables grouped by topic: a heading per topic that has tables, then `item` of each.
fn by_topic<'a>(
    lang: &str,
    tables: impl Iterator<Item = (&'a Bundle, &'a ProtectedTable)> + Clone,
    item: impl Fn(&Bundle, &ProtectedTable) -> String,
) -> String {
    let mut html = String::new();
    for key in TOPICS {
        let mut found = tables.clone().filter(|(_, t)| topic(t) == key).peekable();
        if found.peek().is_none() {
            continue;
        }
        let _ = write!(html, "<h3>{}</h3><ul class=\"tables\">", t(lang, key));
        for (b, table) in found {
            html.push_str(&item(b, table));
        }
        html.push_str("</ul>");
    }
    html
}

/// `/{lang}/search?q=`: the tables of the latest releases that hold every word of the
/// query, grouped by topic. A static copy cannot search: it says so and lists every
/// table instead.
pub fn search(lang: &str, catalog: &Catalog, now: u64, query: &str, static_copy: bool) -> String {
    let query = if static_copy { "" } else { query };
    let latest = catalog.latest(now);
    let tables = latest
        .iter()
        .flat_map(|b| b.tables.iter().map(move |t| (&***b, t)))
        .filter(|(b, t)| static_copy || (!query.trim().is_empty() && b.finds(&t.id, query)));
    let count = tables.clone().count();
    let listed = by_topic(lang, tables, |b, table| table_link(lang, b, table));
    let mut body = format!("<h1>{}</h1>", t(lang, "search"));
    if static_copy {
        let _ = write!(
            body,
            "<p class=\"warning\">{}</p>{listed}",
            t(lang, "static_search")
        );
        return page(lang, t(lang, "search"), "/search", &body);
    }
    let _ = write!(
        body,
        "{}<p>{}</p>",
        search_form(lang, query),
        t(lang, "search_hint")
    );
    if !query.trim().is_empty() {
        let _ = write!(
            body,
            "<h2 aria-live=\"polite\">{}: {count}</h2>{listed}",
            t(lang, "found")
        );
    }
    page(
        lang,
        t(lang, "search"),
        &format!("/search?q={}", encode(query)),
        &body,
    )
}

fn table_link(lang: &str, b: &Bundle, table: &ProtectedTable) -> String {
    format!(
        "<li><a href=\"/{lang}/releases/{name}/{id}\">{title}</a> <small>{release}</small></li>",
        name = b.name,
        id = table.id,
        title = escape(text(&table.title, lang)),
        release = escape(text(&b.manifest.title, lang)),
    )
}

fn release_link(lang: &str, b: &Bundle) -> String {
    format!(
        "<li><a href=\"/{lang}/releases/{name}\">{title}</a> <time datetime=\"{time}\">{local}</time> \
<small>{version} {v}</small></li>",
        name = b.name,
        title = escape(text(&b.manifest.title, lang)),
        time = escape(&b.manifest.release_time),
        local = escape(&locale::date_time(lang, &b.manifest.release_time)),
        version = t(lang, "version"),
        v = b.manifest.version,
    )
}

/// The home page; `alerts` when the site takes e-mail subscriptions.
pub fn home(lang: &str, catalog: &Catalog, now: u64, alerts: bool) -> String {
    let mut body = format!(
        "<h1>{}</h1><h2>{}</h2><ul class=\"releases\">",
        t(lang, "site"),
        t(lang, "latest")
    );
    let latest = catalog.latest(now);
    for b in &latest {
        body.push_str(&release_link(lang, b));
    }
    if latest.is_empty() {
        let _ = write!(body, "<li>{}</li>", t(lang, "none"));
    }
    let _ = write!(body, "</ul><h2>{}</h2>", t(lang, "tables"));
    body.push_str(&by_topic(
        lang,
        latest
            .iter()
            .flat_map(|b| b.tables.iter().map(move |t| (&***b, t))),
        |b, table| table_link(lang, b, table),
    ));
    let _ = write!(
        body,
        "<h2>{}</h2><ul class=\"calendar\">",
        t(lang, "upcoming")
    );
    let upcoming: Vec<&CalendarRelease> = catalog
        .calendar
        .iter()
        .flat_map(|c| &c.releases)
        .filter(|r| matches!(r.status, Status::Scheduled | Status::Postponed))
        .collect();
    for r in &upcoming {
        body.push_str(&calendar_item(lang, r));
    }
    if upcoming.is_empty() {
        let _ = write!(body, "<li>{}</li>", t(lang, "none"));
    }
    let _ = write!(
        body,
        "</ul><p class=\"follow\"><a href=\"/{lang}/feed.atom\">Atom</a>{}</p>",
        if alerts {
            format!(" · <a href=\"/{lang}/subscribe\">{}</a>", t(lang, "alerts"))
        } else {
            String::new()
        }
    );
    page(lang, t(lang, "home"), "/", &body)
}

/// The release calendar page: upcoming and past releases, with links to the
/// iCalendar and JSON forms.
pub fn calendar(lang: &str, catalog: &Catalog) -> String {
    let mut body = format!(
        "<h1>{}</h1><p><a href=\"/calendar.ics\">iCalendar</a> · <a href=\"/calendar.json\">JSON</a></p><ul class=\"calendar\">",
        t(lang, "calendar")
    );
    for r in catalog.calendar.iter().flat_map(|c| &c.releases) {
        body.push_str(&calendar_item(lang, r));
    }
    body.push_str("</ul>");
    page(lang, t(lang, "calendar"), "/calendar", &body)
}

/// What the browser's check says, in the page's language.
fn check_words(lang: &str) -> String {
    let sq = lang == "sq";
    serde_json::json!({
        "verified": t(lang, "verified"),
        "files": if sq { "skedarë të kontrolluar" } else { "files checked" },
        "listed": if sq { "skedarë në manifest; çdo skedar që shkarkoni këtu kontrollohet para se të ruhet" } else { "files in the manifest; each file you download here is checked before it is saved" },
        "check_all": if sq { "Kontrollo çdo skedar" } else { "Check every file" },
        "all_ok": if sq { "Çdo skedar përputhet me manifestin e nënshkruar" } else { "Every file matches the signed manifest" },
        "download_ok": if sq { "shkarkuar dhe kontrolluar" } else { "downloaded and checked" },
        "unsupported": if sq { "Ky shfletues nuk mund të kontrollojë nënshkrime Ed25519, prandaj nuk e kontrollon këtë publikim. Kontrollojeni me minisign (shih Vërtetësia)." } else { "This browser cannot check Ed25519 signatures, so it does not check this release. Check it with minisign (see Authenticity)." },
        "warning": if sq { "KUJDES, ky publikim nuk verifikohet" } else { "WARNING, this release does not verify" },
        "changed": if sq { "skedarë të ndryshuar" } else { "files changed" },
        "bad_signature": if sq { "nënshkrimi nuk përputhet me manifestin" } else { "the signature does not match the manifest" },
        "other_key": if sq { "nënshkruar nga një çelës tjetër" } else { "signed by another key" },
        "not_prehashed": if sq { "nënshkrim i një lloji të panjohur" } else { "a signature of an unknown kind" },
        "caveat": t(lang, "caveat"),
    })
    .to_string()
}

/// What the selection form's script says, in the page's language.
fn selection_words(lang: &str) -> String {
    let sq = lang == "sq";
    serde_json::json!({
        "all": if sq { "Të gjitha" } else { "All" },
        "none": if sq { "Asnjë" } else { "None" },
        "filter": if sq { "Filtro" } else { "Filter" },
        "cells": if sq { "qeliza" } else { "cells" },
        "static_selected": t(lang, "static_selected"),
        "too_many": t(lang, "too_many"),
        "bad_selection": t(lang, "bad_selection"),
    })
    .to_string()
}

/// A release page; with the office's key (the base64 line of its minisign file) the
/// browser checks the signature and every file itself.
pub fn release(
    lang: &str,
    b: &Bundle,
    versions: &[&std::sync::Arc<Bundle>],
    entry: Option<&CalendarRelease>,
    key: Option<&str>,
) -> String {
    let m = &b.meta;
    let mut body = format!(
        "<h1>{title}</h1><dl><dt>{period}</dt><dd>{p}</dd><dt>{released}</dt><dd><time datetime=\"{time}\">{local}</time></dd>\
<dt>{contact}</dt><dd>{c}</dd><dt>{signature}</dt><dd class=\"verified\">{verified} <code>{key}</code>{log}</dd></dl>",
        title = escape(text(&m.title, lang)),
        period = t(lang, "period"),
        p = escape(&m.reference_period),
        released = t(lang, "released"),
        time = escape(&m.release_time),
        local = escape(&locale::date_time(lang, &m.release_time)),
        contact = t(lang, "contact"),
        c = escape(&m.contact),
        signature = t(lang, "signature"),
        verified = t(lang, "verified"),
        key = escape(&b.key_id),
        log = b
            .log_index
            .map(|i| format!("; {} {i}", t(lang, "log")))
            .unwrap_or_default(),
    );
    if let Some(key) = key {
        let _ = write!(
            body,
            "<p class=\"check\" role=\"status\" aria-live=\"polite\" data-bundle=\"/releases/{}/\" data-key=\"{}\" data-words=\"{}\"><span class=\"verdict\">{}</span></p>",
            b.name,
            escape(key),
            escape(&check_words(lang)),
            t(lang, "checking")
        );
    }
    if let Some(r) = entry.filter(|r| r.status == Status::Withdrawn) {
        let reason = r.notices.last().map_or("", |n| reason_in(lang, n));
        let _ = write!(
            body,
            "<p class=\"warning\">{}: {}</p>",
            t(lang, "withdrawn"),
            escape(reason)
        );
    }
    let _ = write!(
        body,
        "<h2>{}</h2><p>{}</p>",
        t(lang, "methodology"),
        escape(text(&m.methodology, lang))
    );
    let _ = write!(body, "<h2>{}</h2>", t(lang, "tables"));
    body.push_str(&by_topic(lang, b.tables.iter().map(|t| (b, t)), |b, table| {
        format!(
            "<li><a href=\"/{lang}/releases/{name}/{id}\">{title}</a><br><small>{protection}: {method}, {audit}</small><br><small>{downloads}: {links}</small></li>",
            name = b.name,
            id = table.id,
            title = escape(text(&table.title, lang)),
            protection = t(lang, "protection"),
            method = escape(&table.protection.method),
            audit = if table.protection.audit.passed { t(lang, "audit_ok") } else { "" },
            downloads = t(lang, "downloads"),
            links = download_links(&b.name, table, lang),
        )
    }));
    if versions.len() > 1 {
        let _ = write!(body, "<h2>{}</h2><ul>", t(lang, "versions"));
        for v in versions {
            let reason = entry
                .and_then(|r| r.versions.iter().find(|p| p.version == v.manifest.version))
                .and_then(|p| p.reason.as_deref())
                .map(|r| format!(": {}", escape(r)))
                .unwrap_or_default();
            let _ = write!(
                body,
                "<li><a href=\"/{lang}/releases/{}\">{} {}</a> <time>{}</time>{reason}</li>",
                v.name,
                t(lang, "version"),
                v.manifest.version,
                escape(&v.manifest.release_time)
            );
        }
        body.push_str("</ul>");
    }
    let _ = write!(
        body,
        "<p><a href=\"/releases/{name}/manifest.json\">manifest.json</a> · \
<a href=\"/releases/{name}/manifest.json.minisig\">manifest.json.minisig</a> · \
<a href=\"/releases/{name}/transparency.json\">transparency.json</a></p>",
        name = b.name
    );
    page(
        lang,
        text(&m.title, lang),
        &format!("/releases/{}", b.name),
        &body,
    )
}

fn download_links(bundle: &str, table: &ProtectedTable, lang: &str) -> String {
    let id = &table.id;
    [
        ("CSV", format!("{id}.csv")),
        ("XLSX", format!("{id}.xlsx")),
        ("JSON-stat", format!("{id}.{lang}.json")),
        ("SDMX-CSV", format!("{id}.sdmx.csv")),
        ("SDMX structure", format!("{id}.sdmx.xml")),
        ("PX", format!("{id}.px")),
    ]
    .iter()
    .map(|(name, file)| format!("<a href=\"/releases/{bundle}/tables/{file}\">{name}</a>"))
    .collect::<Vec<_>>()
    .join(" · ")
}

/// Where a table page is shown: on the site, framed by another site (`/embed/`), or
/// in a static copy of the site (`site export`), which answers no selection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A page of the site.
    Page,
    /// Framed by another site, under `/embed/`.
    Embedded,
    /// A page of a static copy, where links take the place of the selection form.
    StaticCopy,
}

/// The table page: a selection form (GET, so every view is a link) and the selected
/// cells as a pivot table whose columns are one dimension and whose rows are the
/// others.
pub fn table(
    lang: &str,
    b: &Bundle,
    table: &ProtectedTable,
    params: &[(String, String)],
    chosen: &[Vec<usize>],
    frame: Frame,
) -> String {
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let cols = param("cols")
        .and_then(|c| table.dimensions.iter().position(|d| d.id == c))
        .unwrap_or(table.dimensions.len() - 1);
    let sort = param("sort").unwrap_or("");
    let mut body = format!(
        "<p><a href=\"/{lang}/releases/{name}\">{release}</a></p><h1>{title}</h1>",
        name = b.name,
        release = escape(text(&b.manifest.title, lang)),
        title = escape(text(&table.title, lang)),
    );
    if frame == Frame::StaticCopy {
        // A file server answers every address of a table with this page: the script
        // makes the selection the address asks from the table's signed JSON-stat file;
        // without it, the page says it shows the table whole. Downloads are the whole
        // table's signed files.
        let _ = write!(
            body,
            "<p class=\"warning static-note\">{}</p>{}<p class=\"downloads\">{}: {}</p>",
            t(lang, "static_copy"),
            selection_form(lang, table, &param, chosen, cols, sort).replacen(
                "<form ",
                &format!(
                    "<form data-static=\"/releases/{}/tables/{}.{lang}.json\" ",
                    b.name, table.id
                ),
                1
            ),
            t(lang, "downloads"),
            download_links(&b.name, table, lang)
        );
    } else {
        body.push_str(&selection_form(lang, table, &param, chosen, cols, sort));
        body.push_str(&selection_downloads(lang, b, table, params));
    }
    let sub = select::subtable(table, chosen);
    let results = table_results(lang, b, table, &sub, cols, sort);
    // The language switch keeps the view: the same selection, pivot and order.
    let view: Vec<String> = params
        .iter()
        .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
        .collect();
    let here = format!("/releases/{}/{}?{}", b.name, table.id, view.join("&"));
    match frame {
        Frame::Page | Frame::StaticCopy => {
            body.push_str(&results);
            page(lang, text(&table.title, lang), &escape(&here), &body)
        }
        Frame::Embedded => embedded(lang, text(&table.title, lang), &here, &results),
    }
}

/// The selection form: a GET, so that every view is a link.
fn selection_form<'p>(
    lang: &str,
    table: &ProtectedTable,
    param: &dyn Fn(&str) -> Option<&'p str>,
    chosen: &[Vec<usize>],
    cols: usize,
    sort: &str,
) -> String {
    let mut form = format!(
        "<form method=\"get\" class=\"selection\" data-words=\"{words}\"><fieldset><legend>{select}</legend>",
        words = escape(&selection_words(lang)),
        select = t(lang, "select"),
    );
    for (k, d) in table.dimensions.iter().enumerate() {
        form.push_str(&dimension_choice(lang, d, param(&d.id), &chosen[k]));
    }
    let _ = write!(form, "<label>{}<select name=\"cols\">", t(lang, "columns"));
    for (k, d) in table.dimensions.iter().enumerate() {
        let _ = write!(
            form,
            "<option value=\"{}\"{}>{}</option>",
            escape(&d.id),
            if k == cols { " selected" } else { "" },
            escape(&dimension_label(d, lang))
        );
    }
    let _ = write!(
        form,
        "</select></label><label>{}<select name=\"sort\">",
        t(lang, "sort")
    );
    for (value, word) in [("", "as_is"), ("desc", "descending"), ("asc", "ascending")] {
        let _ = write!(
            form,
            "<option value=\"{value}\"{}>{}</option>",
            if sort == value { " selected" } else { "" },
            t(lang, word)
        );
    }
    let _ = write!(
        form,
        "</select></label><button type=\"submit\">{}</button></fieldset></form>",
        t(lang, "show")
    );
    form
}

/// Links to the selection in every format, from the API.
fn selection_downloads(
    lang: &str,
    b: &Bundle,
    table: &ProtectedTable,
    params: &[(String, String)],
) -> String {
    let query: String = params
        .iter()
        .filter(|(n, _)| !select::RESERVED.contains(&n.as_str()))
        .map(|(n, v)| format!("{}={}", encode(n), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    let api = format!(
        "/api/v1/releases/{}/tables/{}/data?{query}",
        b.manifest.release, table.id
    );
    let mut links = format!("<p class=\"downloads\">{}: ", t(lang, "selection"));
    for (name, format) in [
        ("CSV", "csv"),
        ("XLSX", "xlsx"),
        ("JSON-stat", "jsonstat"),
        ("SDMX-CSV", "sdmx"),
        ("PX", "px"),
    ] {
        let _ = write!(
            links,
            "<a href=\"{}&amp;format={format}&amp;lang={lang}&amp;version={}\">{name}</a> ",
            escape(&api),
            b.manifest.version
        );
    }
    links + "</p>"
}

/// A table alone, for another site's frame: its title, the results, and a link to the
/// table on this site.
fn embedded(lang: &str, title: &str, here: &str, results: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · {site}</title><link rel=\"stylesheet\" href=\"{css}\"></head>\
<body class=\"embedded\"><main><h1>{title}</h1>{results}\
<p><a href=\"/{lang}{here}\" target=\"_top\">{site}: {open}</a></p></main></body></html>\n",
        title = escape(title),
        site = t(lang, "site"),
        css = asset_address("site.css"),
        here = escape(here),
        open = t(lang, "open_on_site"),
    )
}

/// What a table page shows of the selection: what the numbers are (unit, source,
/// reference period, how they are protected), the pivot table, a chart and a map where
/// they fit, and the flags' legend.
fn table_results(
    lang: &str,
    b: &Bundle,
    table: &ProtectedTable,
    sub: &ProtectedTable,
    cols: usize,
    sort: &str,
) -> String {
    let mut body = format!(
        "<dl class=\"about\"><dt>{unit_word}</dt><dd>{unit}</dd><dt>{source_word}</dt><dd>INSTAT</dd>\
<dt>{period_word}</dt><dd>{period}</dd><dt>{released_word}</dt><dd><time datetime=\"{time}\">{local}</time></dd></dl>",
        unit_word = t(lang, "unit"),
        unit = escape(&unit(lang, &table.unit)),
        source_word = t(lang, "source"),
        period_word = t(lang, "period"),
        period = escape(&b.meta.reference_period),
        released_word = t(lang, "released"),
        time = escape(&b.manifest.release_time),
        local = escape(&locale::date_time(lang, &b.manifest.release_time)),
    );
    if table.protection.method == "ckm" {
        let _ = write!(body, "<p class=\"note\">{}</p>", t(lang, "perturbed_note"));
    }
    let table_unit = unit(lang, &table.unit);
    let figure = |kind: &str, heading: &str, svg: String| {
        format!(
            "<h2>{}</h2><figure class=\"{kind}\">{svg}<figcaption>{}</figcaption></figure>",
            t(lang, heading),
            escape(&figure_caption(lang, b, table))
        )
    };
    let outlines = sub
        .dimensions
        .iter()
        .map(|d| b.outlines_of(&d.id))
        .find(|o| !o.is_empty())
        .unwrap_or_default();
    let map = charts::map(lang, sub, &table_unit, outlines).map(|svg| figure("map", "map", svg));
    // A table of thousands of places (the 1 km grid) opens on a summary and its map; a
    // bar chart of some of its squares would say nothing.
    let many_places = sub
        .dimensions
        .iter()
        .any(|d| d.categories.len() > MAX_LISTED);
    if many_places {
        if let Some(summary) = charts::summary(lang, sub, &table_unit) {
            let _ = write!(body, "<p class=\"summary\">{}</p>", escape(&summary));
        }
        body.push_str(map.as_deref().unwrap_or(""));
    }
    let caption = format!("{} ({table_unit})", text(&table.title, lang));
    let _ = write!(
        body,
        "<div class=\"pivot\" data-caption=\"{}\">",
        escape(&caption)
    );
    if sub.values.len() as u128 > MAX_HTML_CELLS {
        let _ = write!(body, "<p class=\"warning\">{}</p>", t(lang, "too_many"));
    } else {
        body.push_str(&pivot(lang, sub, cols, sort, &caption));
    }
    body.push_str("</div>");
    if !many_places {
        if let Some(svg) = charts::chart(lang, sub, &table_unit) {
            body.push_str(&figure("chart", "chart", svg));
        }
        body.push_str(map.as_deref().unwrap_or(""));
    }
    let _ = write!(body, "<h2>{}</h2><dl class=\"legend\">", t(lang, "legend"));
    for (symbol, sq, en) in LEGEND {
        let _ = write!(
            body,
            "<dt>{symbol}</dt><dd>{}</dd>",
            if lang == "sq" { sq } else { en }
        );
    }
    body + "</dl>"
}

/// What a chart or map shows, under it: the table, its unit, source and period.
fn figure_caption(lang: &str, b: &Bundle, table: &ProtectedTable) -> String {
    format!(
        "{} ({}). {}: INSTAT, {}",
        text(&table.title, lang),
        unit(lang, &table.unit),
        t(lang, "source"),
        b.meta.reference_period
    )
}

/// A table's unit in the reader's language.
fn unit(lang: &str, unit: &str) -> String {
    let sq = match unit {
        "person" | "persons" => "persona",
        "household" | "households" => "familje",
        "dwelling" | "dwellings" => "banesa",
        other => other,
    };
    let en = match unit {
        "person" => "persons",
        "household" => "households",
        "dwelling" => "dwellings",
        other => other,
    };
    if lang == "sq" { sq } else { en }.to_string()
}

/// Most categories a dimension's list shows; past that (the 1 km grid) the reader
/// types codes or a selection function instead of scrolling thousands of options.
const MAX_LISTED: usize = 500;

/// The choice of one dimension's categories in the selection form: a multiple select
/// whose hierarchy is grouped (each county with its municipalities, and options that
/// take a whole level or a county's parts), or a text field for very long lists.
/// `given` is the dimension's parameter as asked, `chosen` the categories it picked.
fn dimension_choice(lang: &str, d: &Dimension, given: Option<&str>, chosen: &[usize]) -> String {
    let id = escape(&d.id);
    let name = escape(&dimension_label(d, lang));
    let n = d.categories.len();
    if n > MAX_LISTED {
        return format!(
            "<label>{name}<input name=\"{id}\" value=\"{value}\" placeholder=\"*\" \
aria-describedby=\"{id}-hint\"><small id=\"{id}-hint\">{n} {hint}</small></label>",
            value = escape(given.unwrap_or("")),
            hint = t(lang, "codes_hint"),
        );
    }
    let items: Vec<&str> = given.map(select::items).unwrap_or_default();
    // A code is shown chosen when named, or picked by TOP, LAST or RANGE; not when
    // a level or a total's parts took it (that option is shown chosen instead).
    let by_group = items
        .iter()
        .any(|i| i.starts_with("LEVEL(") || i.starts_with("CHILDREN("));
    let all = chosen.len() == n;
    let option = |value: &str, label: &str, selected: bool, count: usize| {
        format!(
            "<option value=\"{}\" data-cells=\"{count}\"{}>{}</option>",
            escape(value),
            if selected { " selected" } else { "" },
            escape(label)
        )
    };
    // A code's option carries its level, so that a static copy's script can take
    // LEVEL(…) as the site does.
    let code_option = |k: usize| {
        let c = &d.categories[k];
        let selected =
            !all && (items.contains(&c.code.as_str()) || (!by_group && chosen.contains(&k)));
        option(&c.code, &label(c, lang), selected, 1).replacen(
            " data-cells",
            &format!(
                " data-level=\"{}\" data-cells",
                escape(select::level_of(d, k))
            ),
            1,
        )
    };
    let mut html = format!(
        "<label>{name}<select name=\"{id}\" multiple size=\"{}\" data-dimension>",
        n.min(8)
    );
    let levels = select::levels(d);
    if levels.len() > 1 {
        for level in &levels[1..] {
            let value = format!("LEVEL({level})");
            let count = (0..n).filter(|&k| select::level_of(d, k) == *level).count();
            let words = format!(
                "{}: {} ({count})",
                t(lang, "all_of_level"),
                level_name(d, level, lang)
            );
            html.push_str(&option(
                &value,
                &words,
                items.contains(&value.as_str()),
                count,
            ));
        }
    }
    // A total whose parts are all finest codes (a county) is a group: the total, an
    // option for all its parts, then the parts. Everything else comes in order.
    let is_total = |code: &String| d.sums.iter().any(|s| s.total == *code);
    let mut groups: Vec<&statvault_census::table::Sum> = d
        .sums
        .iter()
        .filter(|s| !s.parts.iter().any(is_total))
        .collect();
    // One group would be the whole list under its total (sex: Total, Male, Female).
    if groups.len() < 2 {
        groups.clear();
    }
    let in_group = |code: &String| groups.iter().any(|g| g.parts.contains(code));
    let position = |code: &String| d.categories.iter().position(|c| c.code == *code);
    for k in 0..n {
        let c = &d.categories[k];
        if in_group(&c.code) {
            continue;
        }
        let Some(group) = groups.iter().find(|g| g.total == c.code) else {
            html.push_str(&code_option(k));
            continue;
        };
        let _ = write!(html, "<optgroup label=\"{}\">", escape(&label(c, lang)));
        html.push_str(&code_option(k));
        let value = format!("CHILDREN({})", c.code);
        let words = format!(
            "{}: {} ({})",
            label(c, lang),
            t(lang, "all_parts"),
            group.parts.len()
        );
        let chosen_whole = items.contains(&value.as_str());
        html.push_str(&option(&value, &words, chosen_whole, group.parts.len()));
        for p in group.parts.iter().filter_map(position) {
            html.push_str(&code_option(p));
        }
        html.push_str("</optgroup>");
    }
    html + "</select></label>"
}

/// A level's name for the reader: the dimension's own for its finest codes, else what
/// its subtotals' labels say in parentheses ("Berat (county)": county).
fn level_name(d: &Dimension, level: &str, lang: &str) -> String {
    if level == d.id {
        return dimension_label(d, lang).to_lowercase();
    }
    (0..d.categories.len())
        .find(|&k| select::level_of(d, k) == level)
        .and_then(|k| {
            let text = label(&d.categories[k], lang);
            let (_, word) = text.rsplit_once(" (")?;
            Some(word.strip_suffix(')')?.to_string())
        })
        .unwrap_or_else(|| level.to_string())
}

/// The selection as a table whose columns are dimension `cols` and whose rows are the
/// others; `sort` orders the rows by their first column, totals and subtotals kept
/// first and in place.
fn pivot(lang: &str, sub: &ProtectedTable, cols: usize, sort: &str, caption: &str) -> String {
    let dims = &sub.dimensions;
    let stub: Vec<usize> = (0..dims.len()).filter(|&k| k != cols).collect();
    let strides = strides(dims);
    let rows: usize = stub.iter().map(|&k| dims[k].categories.len()).product();
    let ncols = dims[cols].categories.len();
    // Each row: the categories of the stub dimensions and its cells.
    let mut table_rows: Vec<(Vec<usize>, Vec<usize>)> = (0..rows)
        .map(|r| {
            let mut rest = r;
            let mut at = vec![0usize; dims.len()];
            for &k in stub.iter().rev() {
                at[k] = rest % dims[k].categories.len();
                rest /= dims[k].categories.len();
            }
            let cells = (0..ncols)
                .map(|c| {
                    at[cols] = c;
                    at.iter().zip(&strides).map(|(a, s)| a * s).sum()
                })
                .collect();
            (stub.iter().map(|&k| at[k]).collect(), cells)
        })
        .collect();
    let first = |row: &(Vec<usize>, Vec<usize>)| sub.values[row.1[0]].unwrap_or(i64::MIN);
    // A row of a total (any of its stub categories is one) is not an item to rank.
    let total = |row: &(Vec<usize>, Vec<usize>)| {
        stub.iter()
            .zip(&row.0)
            .any(|(&k, &i)| dims[k].categories[i].kind != CategoryKind::Code)
    };
    match sort {
        "desc" => table_rows.sort_by_key(|r| (!total(r), std::cmp::Reverse(first(r)))),
        "asc" => table_rows.sort_by_key(|r| (!total(r), first(r))),
        _ => {}
    }
    let mut html = format!(
        "<div class=\"scroll\" tabindex=\"0\" role=\"region\" aria-label=\"{caption}\"><table class=\"data\">\
<caption>{caption}</caption><thead><tr>",
        caption = escape(caption)
    );
    // The column dimension's name over its categories.
    if !stub.is_empty() {
        let _ = write!(html, "<td colspan=\"{}\"></td>", stub.len());
    }
    let _ = write!(
        html,
        "<th scope=\"colgroup\" colspan=\"{ncols}\">{}</th></tr><tr>",
        escape(&dimension_label(&dims[cols], lang))
    );
    for &k in &stub {
        let _ = write!(
            html,
            "<th scope=\"col\">{}</th>",
            escape(&dimension_label(&dims[k], lang))
        );
    }
    for c in &dims[cols].categories {
        let _ = write!(html, "<th scope=\"col\">{}</th>", escape(&label(c, lang)));
    }
    html.push_str("</tr></thead><tbody>");
    for (heads, cells) in &table_rows {
        html.push_str("<tr>");
        for (&k, &i) in stub.iter().zip(heads) {
            let _ = write!(
                html,
                "<th scope=\"row\">{}</th>",
                escape(&label(&dims[k].categories[i], lang))
            );
        }
        for &cell in cells {
            let flag = &sub.status[cell];
            let value =
                sub.values[cell].map_or_else(|| "..".to_string(), |v| locale::number(lang, v));
            let mark = if flag.is_empty() {
                String::new()
            } else {
                format!("<sup>{}</sup>", escape(flag))
            };
            let _ = write!(html, "<td>{value}{mark}</td>");
        }
        html.push_str("</tr>");
    }
    html + "</tbody></table></div>"
}

/// Percent-encodes a query component.
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.*(),".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The authenticity page: the release key, the log's checkpoint, and how to check
/// a download with minisign.
pub fn authenticity(lang: &str, catalog: &Catalog) -> String {
    let key = catalog
        .key
        .map(|k| (k.id_hex(), k.write()))
        .unwrap_or_default();
    let explain = if lang == "sq" {
        "Çdo publikim nënshkruhet me çelësin e mëposhtëm dhe regjistrohet në një regjistër transparence. Kontrollojeni vetë me minisign:"
    } else {
        "Every release is signed with the key below and recorded in a transparency log. Check it yourself with minisign:"
    };
    let body = format!(
        "<h1>{title}</h1><p>{explain}</p><h2>{key_title}</h2><p>ID <code>{id}</code></p><pre>{pubkey}</pre>\
<pre>minisign -Vm manifest.json -p key.pub\nstatvault release verify --pubkey key.pub --checkpoint checkpoint DIR</pre>\
<p><a href=\"/log/key.pub\">key.pub</a> · <a href=\"/log/checkpoint\">checkpoint</a> · <a href=\"/log/entries.jsonl\">entries.jsonl</a> · <a href=\"/log/verifier\">verifier</a></p>\
<h2>{verifier_title}</h2><pre>{verifier}</pre><p>{proofs}</p><p>{caveat}</p>\
<h2>{checkpoint_title}</h2><pre>{checkpoint}</pre>",
        verifier_title = t(lang, "verifier"),
        verifier = escape(&catalog.verifier_key().unwrap_or_default()),
        proofs = t(lang, "proofs"),
        caveat = t(lang, "caveat"),
        title = t(lang, "authenticity"),
        key_title = t(lang, "key"),
        id = escape(&key.0),
        pubkey = escape(&key.1),
        checkpoint_title = t(lang, "checkpoint"),
        checkpoint = escape(catalog.checkpoint.as_deref().unwrap_or("")),
    );
    page(lang, t(lang, "authenticity"), "/authenticity", &body)
}

/// The page for an address the site does not have.
pub fn not_found(lang: &str) -> String {
    problem(lang, "not_found", "")
}

/// An error page in the reader's language, inside the site: a heading (a word key)
/// and what was wrong.
pub fn problem(lang: &str, heading: &str, detail: &str) -> String {
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!("<p class=\"problem\" role=\"alert\">{}</p>", escape(detail))
    };
    let body = format!(
        "<h1>{}</h1>{detail}<p><a href=\"/{lang}/\">{}</a></p>",
        t(lang, heading),
        t(lang, "home")
    );
    page(lang, t(lang, heading), "/", &body)
}

/// The e-mail alerts form; `problem` says what was wrong with the last attempt.
pub fn alerts(lang: &str, problem: Option<&str>) -> String {
    let problem = problem
        .map(|p| format!("<p class=\"problem\" role=\"alert\">{}</p>", escape(p)))
        .unwrap_or_default();
    let body = format!(
        "<h1>{title}</h1><p>{intro}</p>{problem}<form class=\"alerts\" method=\"post\" \
action=\"/{lang}/subscribe\"><label for=\"email\">{email}</label> <input type=\"email\" \
id=\"email\" name=\"email\" required maxlength=\"254\" autocomplete=\"email\"> \
<button type=\"submit\">{subscribe}</button></form>",
        title = t(lang, "alerts"),
        intro = t(lang, "alerts_intro"),
        email = t(lang, "email"),
        subscribe = t(lang, "subscribe"),
    );
    page(lang, t(lang, "alerts"), "/subscribe", &body)
}

/// A page of the alerts that says `message` (a word key) and, with an `action`
/// (address, button word), offers one button that POSTs to it: links in letters only show the
/// button, because mail scanners open links and must not confirm or unsubscribe.
pub fn alerts_step(lang: &str, message: &str, action: Option<(&str, &str)>) -> String {
    let mut body = format!("<h1>{}</h1><p>{}</p>", t(lang, "alerts"), t(lang, message));
    if let Some((target, button)) = action {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"{}\"><button type=\"submit\">{}</button></form>",
            escape(&format!("/{lang}{target}")),
            t(lang, button)
        );
    }
    page(lang, t(lang, "alerts"), "/subscribe", &body)
}

/// An Atom feed of public releases and calendar changes, newest first.
pub fn feed(lang: &str, catalog: &Catalog, now: u64, base: &str) -> String {
    use statvault_release::tlog::EntryKind;
    // (updated, id, title, link, summary); ids carry the language, as each language's
    // feed is a feed of its own.
    let mut entries: Vec<(String, String, String, String, String)> = Vec::new();
    for b in catalog.public(now) {
        entries.push((
            b.manifest.release_time.clone(),
            format!(
                "urn:statvault:{}:v{}:{lang}",
                b.manifest.release, b.manifest.version
            ),
            format!(
                "{} ({} {})",
                text(&b.manifest.title, lang),
                t(lang, "version"),
                b.manifest.version
            ),
            format!("{base}/{lang}/releases/{}", b.name),
            format!(
                "{}: {}. {}: {}. {} {}.",
                t(lang, "period"),
                b.meta.reference_period,
                t(lang, "tables"),
                b.tables
                    .iter()
                    .map(|t| text(&t.title, lang))
                    .collect::<Vec<_>>()
                    .join("; "),
                t(lang, "signed_by"),
                b.key_id
            ),
        ));
    }
    for r in catalog.calendar.iter().flat_map(|c| &c.releases) {
        for n in r
            .notices
            .iter()
            .filter(|n| n.reason.is_some() || n.kind == EntryKind::Schedule)
        {
            let word = match n.kind {
                EntryKind::Schedule => t(lang, "scheduled"),
                EntryKind::Postponement => t(lang, "postponed"),
                EntryKind::Withdrawal => t(lang, "withdrawn"),
                EntryKind::Release | EntryKind::Revision => t(lang, "published"),
            };
            let when = locale::date_time(lang, &n.release_time);
            let reason = reason_in(lang, n);
            entries.push((
                n.logged.clone(),
                format!("urn:statvault:{}:log:{}:{lang}", r.release, n.log_index),
                format!("{}: {word} {when}", text(&r.title, lang)),
                format!("{base}/{lang}/calendar"),
                if reason.is_empty() {
                    format!("{word} {when}")
                } else {
                    format!("{}: {reason}", t(lang, "reason"))
                },
            ));
        }
    }
    entries.sort_by(|a, b| b.0.cmp(&a.0));
    let updated = entries
        .first()
        .map_or_else(|| utc_time(now), |e| e.0.clone());
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" xml:lang=\"{lang}\">\
<title>{}</title><id>urn:statvault:feed:{lang}</id><updated>{updated}</updated>\
<link rel=\"self\" href=\"{base}/{lang}/feed.atom\"/>",
        t(lang, "site")
    );
    for (time, id, title, link, summary) in entries {
        let _ = write!(
            xml,
            "<entry><id>{}</id><title>{}</title><updated>{}</updated><link href=\"{}\"/><summary>{}</summary><author><name>INSTAT</name></author></entry>",
            escape(&id),
            escape(&title),
            escape(&time),
            escape(&link),
            escape(&summary)
        );
    }
    xml + "</feed>\n"
}

/// The site's one style sheet, served at `/style.css`.
pub const CSS: &str = "\
body{font:16px/1.5 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fff}\
header{display:flex;flex-wrap:wrap;gap:.5rem 1.5rem;align-items:center;padding:.75rem 1rem;background:#8b0000;color:#fff}\
header a{color:#fff}.site{font-weight:700;text-decoration:none}nav{display:flex;flex-wrap:wrap;gap:1rem}\
main{max-width:70rem;margin:0 auto;padding:1rem}.problem{color:#8b0000;font-weight:700}form.alerts input{max-width:100%}a:focus,button:focus,select:focus{outline:3px solid #ffbf47}\
.scroll{overflow-x:auto}table.data{border-collapse:collapse}table.data td,table.data th{border:1px solid #ccc;padding:.25rem .5rem}\
table.data td{text-align:right;font-variant-numeric:tabular-nums}sup{color:#8b0000;margin-left:.15rem}\
.selection fieldset{display:flex;flex-wrap:wrap;align-items:flex-end;gap:1rem;border:1px solid #ccc}.selection label{display:flex;flex-direction:column}\
.warning{background:#fff3cd;padding:.5rem}.verified{color:#0b6b2b}pre{white-space:pre-wrap;word-break:break-all;background:#f4f4f4;padding:.5rem}\
.status{font-size:.85em;padding:0 .3rem;border:1px solid currentColor;border-radius:.2rem}\
svg.chart,svg.map{width:100%;height:auto;max-width:48rem}svg.map{max-height:80vh}\
.map-legend{display:flex;flex-wrap:wrap;gap:1rem;list-style:none;padding:0}\
.check{padding:.5rem;border:1px solid #ccc}.check.warning{border-color:#8b0000;font-weight:700}.check.verified{border-color:#0b6b2b}\
.tools{display:flex;gap:.25rem;margin:.25rem 0}.selection optgroup{font-weight:700}\
.skip{position:absolute;left:-999rem}.skip:focus{left:1rem;top:1rem;background:#fff;color:#000;padding:.5rem;z-index:2}\
.visually-hidden{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}\
form.search{display:flex;gap:.25rem;margin-left:auto}form.search input{min-width:0;max-width:12rem}main form.search{margin:0}\
.scroll{max-height:80vh;overflow:auto}table.data thead th{position:sticky;top:0;background:#fff}\
table.data thead tr:first-child th{top:0}table.data caption{text-align:left;font-weight:700;padding:.25rem 0}\
.about{display:grid;grid-template-columns:auto 1fr;gap:0 1rem}.about dd{margin:0}.note{font-size:.9em;color:#444}\
body.embedded main{max-width:none}ul.tables li{margin:.5rem 0}main li a,.downloads a{display:inline-block;min-height:24px;line-height:24px;margin-right:.25rem}\
@media (max-width:40rem){main{padding:.5rem}}\n";

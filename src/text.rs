//! Free-text comments: normalisation, word tokens, stop words and keyword
//! phrases, shared by `feedback_themes` (src/kpi/feedback.rs) and
//! `distinctive_terms` (src/terms.rs). No pyo3 here.
//!
//! Rules (docs/kpis.md, "Qualitative feedback"):
//! - **Normalisation**: Unicode NFKD (compatibility decomposition, so `ﬁ`, full-width
//!   letters and superscripts read as plain ones), combining marks dropped
//!   (accent-insensitive: `é` -> `e`, `İ` -> `i`), then lowercase with the case
//!   folds std's `to_lowercase` lacks: `ß`/`ẞ` -> `ss`, final `ς` -> `σ`; curly
//!   apostrophes (`’`, `ʼ`) become `'`. Turkish dotless `ı` stays `ı` (no locale).
//! - **Tokens**: the words of UAX #29 word boundaries that hold a letter or digit.
//!   An apostrophe inside a word keeps it whole (`don't`), except a French elision
//!   (`l'isolation` -> `isolation`, `qu'on` -> `on`) and an English `'s`
//!   (`rep's` -> `rep`). No stemming: `delivery` does not match `deliveries`
//!   (a keyword may end in `*` for that).
//! - **Clauses**: two tokens are adjacent when only spaces, quotes or one hyphen
//!   (`on-time`) separate them; other punctuation (`.,;:!?()/`, dashes between
//!   spaces, emoji) ends a clause. Phrases and bigrams never cross a clause end.
use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef};
use arrow_schema::DataType;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use unicode_segmentation::UnicodeSegmentation;

use crate::error::{Error, Result};

/// Append the normalised form of `text` to `out` (see the module rules).
pub fn normalize_into(text: &str, out: &mut String) {
    if text.is_ascii() {
        out.extend(text.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        return;
    }
    for c in text.nfkd() {
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'ß' | 'ẞ' => out.push_str("ss"),
            'ς' => out.push('σ'),
            '\u{2019}' | '\u{2018}' | '\u{02BC}' => out.push('\''),
            c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
            c => {
                for l in c.to_lowercase() {
                    // A lowercase letter that decomposes (rare) is folded once more.
                    if is_combining_mark(l) {
                        continue;
                    }
                    out.push(l);
                }
            }
        }
    }
}

/// The normalised form of `text`.
pub fn normalize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    normalize_into(text, &mut out);
    out
}

/// French elisions dropped from the front of a word (`l'isolation` -> `isolation`).
const ELISIONS: &[&str] = &["l", "d", "j", "m", "n", "s", "t", "c", "qu", "jusqu", "lorsqu", "puisqu"];

/// A comment as tokens: the normalised text and each token's byte span in it.
#[derive(Clone, Debug, Default)]
pub struct Tokens {
    text: String,
    spans: Vec<(u32, u32)>,
    /// `joined[i]`: token i follows token i - 1 in the same clause.
    joined: Vec<bool>,
    /// `starred[i]`: a `*` follows token i directly (keyword prefixes).
    starred: Vec<bool>,
}

/// What separates the previous word from the next segment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Gap {
    /// Start of text or a clause end.
    Hard,
    AfterWord,
    Space,
    Hyphen,
}

fn is_soft(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '«' | '»' | '“' | '”' | '„' | '`')
}

impl Tokens {
    /// Tokenise `text` into `self` (buffers are reused between comments).
    pub fn fill(&mut self, text: &str) {
        self.text.clear();
        self.spans.clear();
        self.joined.clear();
        self.starred.clear();
        normalize_into(text, &mut self.text);
        let mut gap = Gap::Hard;
        for (start, seg) in self.text.split_word_bound_indices() {
            if seg.chars().any(char::is_alphanumeric) {
                let (mut s, mut e) = (start, start + seg.len());
                if let Some(q) = seg.find('\'') {
                    let (head, tail) = (&seg[..q], &seg[q + 1..]);
                    if ELISIONS.contains(&head) && tail.chars().next().is_some_and(char::is_alphabetic) {
                        s += q + 1;
                    }
                }
                if e - s > 2 && self.text[s..e].ends_with("'s") {
                    e -= 2;
                }
                self.joined.push(matches!(gap, Gap::Space | Gap::Hyphen | Gap::AfterWord));
                self.spans.push((s as u32, e as u32));
                self.starred.push(false);
                gap = Gap::AfterWord;
                continue;
            }
            if seg == "*" && gap == Gap::AfterWord {
                if let Some(last) = self.starred.last_mut() {
                    *last = true;
                }
            }
            gap = if seg.chars().all(is_soft) {
                match gap {
                    Gap::Hyphen | Gap::Hard => Gap::Hard,
                    _ => Gap::Space,
                }
            } else if matches!(seg, "-" | "\u{2010}" | "\u{2011}") && gap == Gap::AfterWord {
                Gap::Hyphen
            } else {
                Gap::Hard
            };
        }
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Token `i` (normalised).
    #[inline]
    pub fn get(&self, i: usize) -> &str {
        let (s, e) = self.spans[i];
        &self.text[s as usize..e as usize]
    }

    /// True when token `i` follows token `i - 1` in the same clause.
    #[inline]
    pub fn joined(&self, i: usize) -> bool {
        self.joined[i]
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).map(|i| self.get(i))
    }
}

/// The tokens of `text` as owned strings (tests and the Python `tokenize`).
pub fn tokenize(text: &str) -> Vec<String> {
    let mut t = Tokens::default();
    t.fill(text);
    t.iter().map(str::to_string).collect()
}

// ---------------------------------------------------------------------------
// Stop words

/// The built-in stop words: English function words (articles, pronouns,
/// auxiliaries, prepositions, conjunctions, common adverbs), plus the commonest
/// French and Spanish articles, prepositions and pronouns, because B2B comments
/// in North America are often written in those languages. Negations (`no`,
/// `not`, `never`, `without`, `pas`, `sin`, ...) are deliberately **not** stop
/// words: "not happy" says the opposite of "happy".
/// (Each list is whitespace-separated words.)
pub const DEFAULT_STOP_WORDS: &[&str] = &[ENGLISH_STOP_WORDS, FRENCH_STOP_WORDS, SPANISH_STOP_WORDS];

const ENGLISH_STOP_WORDS: &str = "\
    a about above after again against all also am an and any are as at be because been before being \
    below between both but by can could did do does doing down during each even every few for from \
    further get got had has have having he her here hers herself him himself his how i if in into \
    is it its itself just let may me might more most much must my myself now of off on once one \
    only or other our ours ourselves out over own please same shall she should so some such than \
    that the their theirs them themselves then there these they this those through to too under \
    until up us very was we were what when where which while who whom why will with would you your \
    yours yourself yourselves i'm i've i'd i'll you're you've we're we've they're they've that's \
    there's it'll we'll ok okay";

const FRENCH_STOP_WORDS: &str = "\
    au aux avec ce ces cette dans de des du elle en et est il ils je la le les leur lui ma mais me \
    mes mon nos notre nous on ou par pour qu que qui sa se ses son sur ta te tes ton tu un une vos \
    votre vous y a sont ete tres";

const SPANISH_STOP_WORDS: &str = "\
    al con del el ella es esta este la las lo los mas mi muy nos nuestro nuestra para pero por que \
    se su sus un una uno y otra otro";

/// The built-in stop words, one by one.
pub fn default_stop_words() -> impl Iterator<Item = &'static str> {
    DEFAULT_STOP_WORDS.iter().flat_map(|list| list.split_whitespace())
}

/// A set of stop words, normalised like the comments.
#[derive(Clone, Debug)]
pub struct StopWords(HashSet<Box<str>>);

impl StopWords {
    /// The built-in list ([`DEFAULT_STOP_WORDS`]).
    pub fn default_list() -> Self {
        Self::from_words(default_stop_words())
    }

    /// A list of words; each is tokenised like a comment, and every token it gives is a stop word.
    pub fn from_words<'a>(words: impl IntoIterator<Item = &'a str>) -> Self {
        let mut set = HashSet::new();
        let mut t = Tokens::default();
        for w in words {
            t.fill(w);
            set.extend(t.iter().map(Box::from));
        }
        StopWords(set)
    }

    #[inline]
    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }
}

/// Call `f` with each term of the comment: every unigram that is neither a stop
/// word nor a number, and every bigram of two such tokens adjacent in one clause
/// (so no bigram spans a removed stop word: "out of stock" gives `stock` only).
pub fn for_each_term(tokens: &Tokens, stop: &StopWords, buf: &mut String, mut f: impl FnMut(&str)) {
    let keep = |w: &str| !stop.contains(w) && !w.chars().all(|c| c.is_numeric() || c == '.' || c == ',');
    let mut prev_kept = false;
    for i in 0..tokens.len() {
        let w = tokens.get(i);
        if !keep(w) {
            prev_kept = false;
            continue;
        }
        f(w);
        if prev_kept && tokens.joined(i) {
            buf.clear();
            buf.push_str(tokens.get(i - 1));
            buf.push(' ');
            buf.push_str(w);
            f(buf);
        }
        prev_kept = true;
    }
}

// ---------------------------------------------------------------------------
// Keyword phrases and the theme matcher

/// One keyword or phrase: its tokens, each matched exactly or, when it ended in
/// `*`, as a prefix.
#[derive(Clone, Debug, PartialEq)]
pub struct Phrase {
    pub words: Vec<(Box<str>, bool)>,
}

impl Phrase {
    /// Parse a keyword; `None` when it holds no word.
    pub fn parse(keyword: &str) -> Option<Phrase> {
        let mut t = Tokens::default();
        t.fill(keyword);
        let words: Vec<(Box<str>, bool)> =
            (0..t.len()).map(|i| (Box::from(t.get(i)), t.starred[i])).collect();
        (!words.is_empty()).then_some(Phrase { words })
    }

    #[inline]
    fn word_matches(&self, k: usize, token: &str) -> bool {
        let (w, prefix) = &self.words[k];
        if *prefix {
            token.starts_with(&**w)
        } else {
            token == &**w
        }
    }

    /// True when the phrase matches the tokens starting at `i` (within one clause).
    fn matches_at(&self, tokens: &Tokens, i: usize) -> bool {
        if i + self.words.len() > tokens.len() {
            return false;
        }
        (0..self.words.len())
            .all(|k| (k == 0 || tokens.joined(i + k)) && self.word_matches(k, tokens.get(i + k)))
    }
}

/// Finds which themes a comment mentions.
#[derive(Clone, Debug, Default)]
pub struct Matcher {
    phrases: Vec<(Phrase, usize)>,
    /// Phrases by their exact first word.
    by_first: hashbrown::HashMap<Box<str>, Vec<usize>>,
    /// Phrases whose first word is a prefix, by the prefix's first character.
    prefixed: hashbrown::HashMap<char, Vec<usize>>,
    themes: usize,
}

impl Matcher {
    /// `themes[i]` = (theme name, keywords); errors name the theme and keyword at fault.
    pub fn new(themes: &[(String, Vec<String>)]) -> Result<Matcher> {
        let mut m = Matcher { themes: themes.len(), ..Default::default() };
        for (t, (name, keywords)) in themes.iter().enumerate() {
            if keywords.is_empty() {
                return Err(Error::column(
                    "themes",
                    format!("theme '{name}' has no keywords: give it a list of words or phrases"),
                ));
            }
            for k in keywords {
                let phrase = Phrase::parse(k).ok_or_else(|| {
                    Error::column(
                        "themes",
                        format!("keyword {k:?} of theme '{name}' holds no word (letters or digits)"),
                    )
                })?;
                let id = m.phrases.len();
                match &phrase.words[0] {
                    (w, false) => m.by_first.entry(w.clone()).or_default().push(id),
                    (w, true) => {
                        let first = w.chars().next().expect("a token is never empty");
                        m.prefixed.entry(first).or_default().push(id)
                    }
                }
                m.phrases.push((phrase, t));
            }
        }
        Ok(m)
    }

    pub fn themes(&self) -> usize {
        self.themes
    }

    /// Set `hits[t]` for every theme the tokens mention (`hits` is cleared first).
    pub fn find(&self, tokens: &Tokens, hits: &mut [bool]) {
        hits.iter_mut().for_each(|h| *h = false);
        for i in 0..tokens.len() {
            let token = tokens.get(i);
            let exact = self.by_first.get(token).map(Vec::as_slice).unwrap_or_default();
            let first = token.chars().next().expect("a token is never empty");
            let prefixed = self.prefixed.get(&first).map(Vec::as_slice).unwrap_or_default();
            for &id in exact.iter().chain(prefixed) {
                let (p, t) = &self.phrases[id];
                if !hits[*t] && p.matches_at(tokens, i) {
                    hits[*t] = true;
                }
            }
        }
    }
}

/// A theme name as a column-name stem: normalised, runs of other characters than
/// letters and digits become `_` ("Stock availability" -> `stock_availability`).
pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for c in normalize(name).chars() {
        if c.is_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('_') {
            out.push('_');
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    if out.chars().next().is_some_and(|c| c.is_numeric()) {
        out.insert_str(0, "theme_");
    }
    out
}

/// The default theme dictionary for a building-materials distributor. Keywords
/// cover the usual English phrasing and the French and Spanish words such
/// customers write; `*` marks a prefix (`deliver*`: deliver, delivery, delivered).
pub const DEFAULT_THEMES: &[(&str, &[&str])] = &[
    (
        "delivery",
        &[
            "deliver*",
            "late",
            "lateness",
            "on time",
            "delay*",
            "truck*",
            "driver*",
            "shipping",
            "shipment*",
            "shipped",
            "lead time*",
            "arriv*",
            "dispatch*",
            "freight",
            "drop off",
            "livraison*",
            "livre",
            "retard*",
            "entrega*",
            "tardia",
            "tarde",
            "envio*",
        ],
    ),
    (
        "pricing",
        &[
            "price*",
            "pricing",
            "expensive",
            "overpriced",
            "cheap*",
            "cost*",
            "competitive",
            "discount*",
            "quote*",
            "rebate*",
            "prix",
            "cher",
            "chers",
            "tarif*",
            "precio*",
            "caro",
            "caros",
            "costoso*",
        ],
    ),
    (
        "stock_availability",
        &[
            "stock",
            "out of stock",
            "in stock",
            "backorder*",
            "back order*",
            "availab*",
            "unavailab*",
            "inventory",
            "shortage*",
            "sold out",
            "rupture*",
            "disponib*",
            "agotado*",
            "existencias",
        ],
    ),
    (
        "product_quality",
        &[
            "quality",
            "qualit*",
            "calidad",
            "damage*",
            "defect*",
            "broken",
            "crack*",
            "warp*",
            "bent",
            "straight",
            "rotten",
            "mold*",
            "mould*",
            "packing",
            "packaging",
            "durab*",
            "defectuos*",
        ],
    ),
    (
        "rep",
        &[
            "rep",
            "reps",
            "sales rep*",
            "representative*",
            "representant*",
            "representante*",
            "account manager*",
            "salesperson",
            "salesman",
            "vendeur*",
            "vendedor*",
        ],
    ),
    (
        "portal",
        &[
            "portal*",
            "portail*",
            "online",
            "website",
            "web site",
            "app",
            "apps",
            "login",
            "log in",
            "logging",
            "logged",
            "sign in",
            "e-commerce",
            "ecommerce",
            "en linea",
            "en ligne",
            "order status",
        ],
    ),
    (
        "billing",
        &[
            "bill",
            "bills",
            "billed",
            "billing",
            "invoice*",
            "factur*",
            "statement*",
            "credit*",
            "payment*",
            "charged",
            "overcharg*",
            "refund*",
            "pago*",
            "paiement*",
        ],
    ),
];

/// The default themes as owned pairs.
pub fn default_themes() -> Vec<(String, Vec<String>)> {
    DEFAULT_THEMES.iter().map(|(n, ks)| (n.to_string(), ks.iter().map(|k| k.to_string()).collect())).collect()
}

// ---------------------------------------------------------------------------
// Reading a text column

/// True for a column type comments can be read from: strings, binary (checked
/// as UTF-8 row by row), dictionaries of either, or all-null.
pub fn is_text(dt: &DataType) -> bool {
    match dt {
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::Null => true,
        DataType::Dictionary(_, v) => is_text(v) && **v != DataType::Null,
        _ => false,
    }
}

/// The error for a column that holds no text.
pub fn not_text(column: &str, role: &str, dt: &DataType) -> Error {
    Error::column(
        column,
        format!(
            "column '{column}' ({role}=) must hold text (strings), but has type {dt}. Convert it first, \
             e.g. df[col].astype(\"string\")."
        ),
    )
}

/// One row of a text column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text<'a> {
    Null,
    Str(&'a str),
    /// Bytes that are not UTF-8 (binary columns only).
    Bad(&'a [u8]),
}

/// A text column read in place (see [`is_text`]).
pub enum TextColumn<'a> {
    Utf8(&'a arrow_array::StringArray),
    Large(&'a arrow_array::LargeStringArray),
    View(&'a arrow_array::StringViewArray),
    Bin(&'a arrow_array::BinaryArray),
    LargeBin(&'a arrow_array::LargeBinaryArray),
    BinView(&'a arrow_array::BinaryViewArray),
    Dict { keys: Vec<usize>, nulls: Option<arrow_buffer::NullBuffer>, values: Box<TextColumn<'a>> },
    AllNull,
}

impl<'a> TextColumn<'a> {
    /// `None` for a type [`is_text`] rejects.
    pub fn new(array: &'a dyn Array) -> Option<Self> {
        Some(match array.data_type() {
            DataType::Utf8 => TextColumn::Utf8(array.as_string()),
            DataType::LargeUtf8 => TextColumn::Large(array.as_string()),
            DataType::Utf8View => TextColumn::View(array.as_string_view()),
            DataType::Binary => TextColumn::Bin(array.as_binary()),
            DataType::LargeBinary => TextColumn::LargeBin(array.as_binary()),
            DataType::BinaryView => TextColumn::BinView(array.as_binary_view()),
            DataType::Null => TextColumn::AllNull,
            DataType::Dictionary(_, _) => {
                let dict = array.as_any_dictionary();
                let values: &'a ArrayRef = dict.values();
                let inner = TextColumn::new(values.as_ref())?;
                // No dictionary values (an all-null categorical): every row is
                // null, and arrow cannot normalise keys into nothing.
                if values.is_empty() {
                    return Some(TextColumn::AllNull);
                }
                TextColumn::Dict {
                    keys: dict.normalized_keys(),
                    nulls: array.logical_nulls(),
                    values: Box::new(inner),
                }
            }
            _ => return None,
        })
    }

    #[inline]
    pub fn get(&self, row: usize) -> Text<'a> {
        fn bytes(b: &[u8]) -> Text<'_> {
            match std::str::from_utf8(b) {
                Ok(s) => Text::Str(s),
                Err(_) => Text::Bad(b),
            }
        }
        macro_rules! read {
            ($a:expr, $f:expr) => {
                if $a.is_null(row) {
                    Text::Null
                } else {
                    $f($a.value(row))
                }
            };
        }
        match self {
            TextColumn::Utf8(a) => read!(a, Text::Str),
            TextColumn::Large(a) => read!(a, Text::Str),
            TextColumn::View(a) => read!(a, Text::Str),
            TextColumn::Bin(a) => read!(a, bytes),
            TextColumn::LargeBin(a) => read!(a, bytes),
            TextColumn::BinView(a) => read!(a, bytes),
            TextColumn::Dict { keys, nulls, values } => {
                if nulls.as_ref().is_some_and(|n| n.is_null(row)) {
                    Text::Null
                } else {
                    values.get(keys[row])
                }
            }
            TextColumn::AllNull => Text::Null,
        }
    }
}

/// Bytes that are not UTF-8, shown for an error message (escaped, at most 40 bytes).
pub fn show_bytes(b: &[u8]) -> String {
    let cut = &b[..b.len().min(40)];
    let more = if b.len() > 40 { "..." } else { "" };
    format!("b\"{}{more}\"", cut.escape_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{BinaryArray, DictionaryArray, Int32Array, StringArray};
    use std::sync::Arc;

    fn toks(s: &str) -> Vec<String> {
        tokenize(s)
    }

    #[test]
    fn lowercase_accents_and_folds() {
        assert_eq!(normalize("Livraison arrivée en RETARD"), "livraison arrivee en retard");
        assert_eq!(normalize("Straße"), "strasse");
        assert_eq!(normalize("STRASSE"), normalize("straße"));
        assert_eq!(normalize("ﬁne ＡＢＣ x²"), "fine abc x2");
        assert_eq!(normalize("Ñandú Ærø"), "nandu ærø");
        // Turkish dotted capital I folds to i; dotless ı stays (no locale: a documented limitation).
        assert_eq!(normalize("İstanbul"), "istanbul");
        assert_eq!(normalize("ılık"), "ılık");
        assert_eq!(normalize("ΟΔΟΣ"), "οδοσ");
        assert_eq!(normalize("οδος"), "οδοσ");
    }

    #[test]
    fn words_and_apostrophes() {
        assert_eq!(toks("Delivery was LATE again!"), ["delivery", "was", "late", "again"]);
        assert_eq!(toks("don't, won’t"), ["don't", "won't"]);
        assert_eq!(toks("rupture de stock sur l'isolation"), ["rupture", "de", "stock", "sur", "isolation"]);
        assert_eq!(toks("prix qu'on achète"), ["prix", "on", "achete"]);
        assert_eq!(toks("the rep's phone"), ["the", "rep", "phone"]);
        assert_eq!(toks("O'Neil"), ["o'neil"]);
        assert_eq!(toks("entrega tardía"), ["entrega", "tardia"]);
        assert_eq!(toks("Thanks \u{2014} great 👍"), ["thanks", "great"]);
        assert_eq!(toks("12,5 m² at 3.5%"), ["12,5", "m2", "at", "3.5"]);
        assert!(toks("").is_empty());
        assert!(toks("  ... 👍 !!").is_empty());
    }

    #[test]
    fn clauses() {
        let mut t = Tokens::default();
        t.fill("on-time delivery. Late, again - sadly \"very\" late");
        let joined: Vec<bool> = (0..t.len()).map(|i| t.joined(i)).collect();
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            ["on", "time", "delivery", "late", "again", "sadly", "very", "late"]
        );
        assert_eq!(joined, [false, true, true, false, false, false, true, true]);
    }

    #[test]
    fn long_comment() {
        let long = "late delivery again ".repeat(50_000);
        let mut t = Tokens::default();
        t.fill(&long);
        assert_eq!(t.len(), 150_000);
        let m = Matcher::new(&[("d".into(), vec!["late delivery".into()])]).unwrap();
        let mut hits = [false];
        m.find(&t, &mut hits);
        assert!(hits[0]);
    }

    #[test]
    fn phrases_and_word_boundaries() {
        let themes = vec![
            ("delivery".to_string(), vec!["delivery".to_string()]),
            ("stock".to_string(), vec!["out of stock".to_string()]),
            ("price".to_string(), vec!["Précio*".to_string()]),
        ];
        let m = Matcher::new(&themes).unwrap();
        let mut t = Tokens::default();
        let mut hits = [false; 3];
        let mut check = |s: &str, want: [bool; 3]| {
            t.fill(s);
            m.find(&t, &mut hits);
            assert_eq!(hits, want, "{s}");
        };
        check("DELIVERY was late", [true, false, false]);
        check("the deliveryman was nice", [false, false, false]);
        check("items Out-of-Stock again", [false, true, false]);
        check("out of. stock", [false, false, false]);
        check("out of the stock", [false, false, false]);
        check("los precios subieron", [false, false, true]);
        check("", [false, false, false]);
        assert_eq!(Phrase::parse("deliver*").unwrap().words, vec![(Box::from("deliver"), true)]);
        assert!(Phrase::parse(" * ").is_none());
        assert!(Matcher::new(&[("x".into(), vec![])]).is_err());
        assert!(Matcher::new(&[("x".into(), vec!["!!".into()])]).is_err());
    }

    #[test]
    fn terms_skip_stop_words_and_numbers() {
        let stop = StopWords::default_list();
        let mut t = Tokens::default();
        t.fill("Items out of stock again, prices went up 20 percent. Not happy");
        let mut terms = Vec::new();
        let mut buf = String::new();
        for_each_term(&t, &stop, &mut buf, |w| terms.push(w.to_string()));
        assert_eq!(
            terms,
            ["items", "stock", "prices", "went", "prices went", "percent", "not", "happy", "not happy"]
        );
        let custom = StopWords::from_words(["Prices", "NOT"]);
        assert!(custom.contains("prices") && custom.contains("not") && !custom.contains("items"));
    }

    #[test]
    fn snake_case_names() {
        assert_eq!(snake_case("Stock availability"), "stock_availability");
        assert_eq!(snake_case("  Qualité / produit! "), "qualite_produit");
        assert_eq!(snake_case("24h service"), "theme_24h_service");
        assert_eq!(snake_case("!!!"), "");
    }

    #[test]
    fn binary_columns_are_read_as_utf8() {
        let a = BinaryArray::from(vec![Some(b"ok".as_ref()), None, Some(b"\xff\xfe".as_ref())]);
        let c = TextColumn::new(&a).unwrap();
        assert_eq!(c.get(0), Text::Str("ok"));
        assert_eq!(c.get(1), Text::Null);
        assert_eq!(c.get(2), Text::Bad(b"\xff\xfe"));
        assert_eq!(show_bytes(b"\xff\xfe"), "b\"\\xff\\xfe\"");
        let d = DictionaryArray::new(
            Int32Array::from(vec![Some(1), None, Some(0)]),
            Arc::new(StringArray::from(vec!["a", "b"])),
        );
        let c = TextColumn::new(&d).unwrap();
        assert_eq!([c.get(0), c.get(1), c.get(2)], [Text::Str("b"), Text::Null, Text::Str("a")]);
        assert!(TextColumn::new(&Int32Array::from(vec![1])).is_none());
        // An all-null categorical has no dictionary values at all.
        let empty = DictionaryArray::new(
            Int32Array::from(vec![None, None]),
            Arc::new(StringArray::from(Vec::<&str>::new())),
        );
        let c = TextColumn::new(&empty).unwrap();
        assert_eq!([c.get(0), c.get(1)], [Text::Null, Text::Null]);
        assert!(!is_text(&DataType::Int64) && is_text(&DataType::Binary));
    }

    #[test]
    fn default_themes_parse() {
        let m = Matcher::new(&default_themes()).unwrap();
        assert_eq!(m.themes(), DEFAULT_THEMES.len());
        for (name, _) in DEFAULT_THEMES {
            assert_eq!(snake_case(name), *name);
        }
    }
}

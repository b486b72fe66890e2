//! Survey comments assembled from phrase templates, written straight into the
//! string builder (no per-row allocation). Topics and tone follow the score.

use std::fmt::Write;

use super::columns::StrCol;
use super::rng::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sentiment {
    Negative,
    Neutral,
    Positive,
}

const NEG_DELIVERY: &[&str] = &[
    "delivery was late again",
    "the truck showed up two days after the promised date",
    "missed our delivery window and the crew waited all morning",
    "la livraison est arrivée en retard",
    "entrega tardía otra vez",
    "deliveries keep slipping, hard to plan the job site",
    "order arrived short and the rest came a week later",
];
const NEG_PRICING: &[&str] = &[
    "prices went up without notice",
    "too expensive compared to other yards",
    "prix trop élevés pour le volume qu'on achète",
    "pricing is not competitive on lumber",
    "los precios subieron demasiado",
    "quotes came back higher than last month",
];
const NEG_STOCK: &[&str] = &[
    "items out of stock again",
    "backorders on drywall every other week",
    "rupture de stock sur l'isolation",
    "sin stock de tornillos ni clavos",
    "stock availability is a real problem",
    "had to buy roofing elsewhere, nothing in stock",
];
const NEG_PORTAL: &[&str] = &[
    "the portal is slow and keeps logging me out",
    "hard to find order status online",
    "le portail est compliqué à utiliser",
    "the app crashes when I upload a takeoff",
    "online ordering is confusing",
];
const NEG_BILLING: &[&str] = &[
    "invoice errors, we were billed twice",
    "billing mistakes take weeks to fix",
    "factura incorrecta, falta el descuento",
    "credits never show up on the statement",
    "erreur de facturation sur la dernière commande",
];
const NEG_TOPICS: &[&[&str]] = &[NEG_DELIVERY, NEG_PRICING, NEG_STOCK, NEG_PORTAL, NEG_BILLING];
const NEG_TOPIC_CUM: [f64; 5] = [0.30, 0.52, 0.72, 0.86, 1.0];
const NEG_OPENERS: &[&str] =
    &["", "", "Disappointed: ", "Honestly, ", "Again ", "Not happy - ", "Décevant : "];
const NEG_CLOSERS: &[&str] = &["", ".", ".", "!", ". Please fix this.", ". Considering other suppliers."];

const POS_REP: &[&str] = &[
    "our rep is always responsive",
    "great rep, knows our jobs and our crews",
    "excellent suivi de notre représentant",
    "the rep goes above and beyond",
    "nuestro representante siempre responde rápido",
    "rep sorted out a tricky order in minutes",
];
const POS_DELIVERY: &[&str] = &[
    "on-time delivery every time",
    "entrega rápida y sin problemas",
    "livraison très rapide",
    "driver placed everything exactly where we needed it",
    "deliveries are reliable, the crew can plan around them",
];
const POS_QUALITY: &[&str] = &[
    "product quality is excellent",
    "lumber was straight and dry",
    "très bien, produits de qualité",
    "calidad excelente en los materiales",
    "no damaged sheets this time, great packing",
];
const POS_TOPICS: &[&[&str]] = &[POS_REP, POS_DELIVERY, POS_QUALITY];
const POS_TOPIC_CUM: [f64; 3] = [0.35, 0.70, 1.0];
const POS_OPENERS: &[&str] =
    &["", "", "Great job! ", "Merci ! ", "Thanks \u{2014} ", "Muy bien, ", "Love it: "];
const POS_CLOSERS: &[&str] = &["", ".", "!", ". Keep it up.", " \u{1F44D}", ", très bien."];

const NEUTRAL: &[&str] = &[
    "ok overall",
    "service is fine",
    "bien dans l'ensemble",
    "decent, nothing special",
    "todo bien en general",
    "average experience",
];
const NEUTRAL_BUT: &[&str] = &[
    "delivery could be faster",
    "prices are a bit high",
    "some items were on backorder",
    "the portal could be easier",
    "invoices are sometimes confusing",
    "the rep is hard to reach in peak season",
];

#[inline]
fn one<'a>(rng: &mut Rng, list: &[&'a str]) -> &'a str {
    list[rng.below(list.len() as u64) as usize]
}

/// Capitalises the first letter when it is ASCII (accented first letters are
/// left as they are).
fn write_sentence(b: &mut StrCol, s: &str, capital: bool) {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if capital && c.is_ascii_lowercase() => {
            let _ = b.write_char(c.to_ascii_uppercase());
            let _ = b.write_str(chars.as_str());
        }
        _ => {
            let _ = b.write_str(s);
        }
    }
}

/// Appends one comment value to `b`.
pub(crate) fn append_comment(b: &mut StrCol, rng: &mut Rng, sentiment: Sentiment) {
    match sentiment {
        Sentiment::Negative => {
            let opener = one(rng, NEG_OPENERS);
            let _ = b.write_str(opener);
            let t = rng.pick(&NEG_TOPIC_CUM);
            write_sentence(b, one(rng, NEG_TOPICS[t]), opener.is_empty() || opener.ends_with("! "));
            if rng.chance(0.3) {
                let t2 = (t + 1 + rng.below(4) as usize) % 5;
                let _ = b.write_str(if rng.chance(0.5) { ", and " } else { ". Also " });
                write_sentence(b, one(rng, NEG_TOPICS[t2]), false);
            }
            let _ = b.write_str(one(rng, NEG_CLOSERS));
        }
        Sentiment::Positive => {
            let opener = one(rng, POS_OPENERS);
            let _ = b.write_str(opener);
            let t = rng.pick(&POS_TOPIC_CUM);
            write_sentence(b, one(rng, POS_TOPICS[t]), opener.is_empty() || opener.ends_with("! "));
            if rng.chance(0.25) {
                let t2 = (t + 1 + rng.below(2) as usize) % 3;
                let _ = b.write_str(", ");
                write_sentence(b, one(rng, POS_TOPICS[t2]), false);
            }
            let _ = b.write_str(one(rng, POS_CLOSERS));
        }
        Sentiment::Neutral => {
            write_sentence(b, one(rng, NEUTRAL), true);
            if rng.chance(0.6) {
                let _ = b.write_str(", but ");
                let _ = b.write_str(one(rng, NEUTRAL_BUT));
            }
            if rng.chance(0.5) {
                let _ = b.write_str(".");
            }
        }
    }
    b.finish_value();
}

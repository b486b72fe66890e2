//! Row generators: one function per table, each filling one chunk of rows
//! from its own random stream. Rows are sorted by time: row `i` of `n` takes
//! the stratified quantile `(i + U) / n` of the table's calendar.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::ArrayRef;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{Datelike, NaiveDate};

use super::columns::{
    a_bool, a_bool_opt, a_date, a_date_opt, a_f64, a_f64_opt, a_i32, a_i64, a_i64_opt, a_ts, a_ts_opt, cats,
    Cat, StrCol,
};
use super::rng::{logistic, logit, norm_ppf, Rng};
use super::text::{append_comment, Sentiment};
use super::world::{World, MICROS_PER_DAY, MICROS_PER_HOUR, REGIONS};

/// The demo tables, in output order.
pub(crate) const TABLE_NAMES: [&str; 11] = [
    "responses",
    "orders",
    "order_lines",
    "tickets",
    "quotes",
    "invoices",
    "leads",
    "carts",
    "events",
    "interactions",
    "spend",
];

const DIMS: [&str; 4] = ["customer_id", "partner_id", "rep_id", "region"];

/// The Arrow schema of a demo table (see docs/demo-data.md).
pub(crate) fn schema(table: &str) -> SchemaRef {
    use DataType::{Boolean, Date32, Float64, Int32, Int64, Utf8};
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, None);
    let mut f: Vec<Field> = Vec::new();
    let mut add = |name: &str, dt: DataType, nullable: bool| f.push(Field::new(name, dt, nullable));
    let dims = |add: &mut dyn FnMut(&str, DataType, bool)| {
        for d in DIMS {
            add(d, Utf8, false);
        }
    };
    match table {
        "responses" => {
            add("response_id", Int64, false);
            add("responded_at", ts(), false);
            add("survey_type", Utf8, false);
            dims(&mut add);
            add("channel", Utf8, false);
            add("score", Int64, true);
            add("comment", Utf8, true);
        }
        "orders" => {
            add("order_id", Int64, false);
            add("ordered_at", ts(), false);
            dims(&mut add);
            add("channel", Utf8, false);
            add("amount", Float64, false);
            add("quantity", Float64, false);
            add("quantity_delivered", Float64, true);
            add("promised_date", Date32, false);
            add("delivered_date", Date32, true);
            add("accurate", Boolean, false);
            add("error_count", Int64, false);
            add("error_type", Utf8, true);
            add("has_addon", Boolean, false);
        }
        "order_lines" => {
            add("order_id", Int64, false);
            add("line_no", Int32, false);
            add("product_line", Utf8, false);
            add("quantity", Float64, false);
            add("amount", Float64, false);
            add("upgrade", Boolean, false);
        }
        "tickets" => {
            add("ticket_id", Int64, false);
            add("opened_at", ts(), false);
            add("resolved_at", ts(), true);
            dims(&mut add);
            add("priority", Utf8, false);
            add("category", Utf8, false);
            add("contacts", Int64, false);
            add("first_contact_resolved", Boolean, false);
        }
        "quotes" => {
            add("quote_id", Int64, false);
            add("requested_at", ts(), false);
            add("quoted_at", ts(), true);
            add("quote_type", Utf8, false);
            dims(&mut add);
            add("amount", Float64, false);
            add("won", Boolean, true);
        }
        "invoices" => {
            add("invoice_id", Int64, false);
            add("order_id", Int64, false);
            dims(&mut add);
            add("invoice_date", Date32, false);
            add("due_date", Date32, false);
            add("paid_date", Date32, true);
            add("amount", Float64, false);
            add("credit_limit", Float64, false);
        }
        "leads" => {
            add("lead_id", Int64, false);
            add("created_at", ts(), false);
            add("converted_at", ts(), true);
            add("rep_id", Utf8, false);
            add("region", Utf8, false);
            add("source", Utf8, false);
        }
        "carts" => {
            add("cart_id", Int64, false);
            add("created_at", ts(), false);
            add("checked_out_at", ts(), true);
            dims(&mut add);
            add("channel", Utf8, false);
            add("amount", Float64, false);
        }
        "events" => {
            add("event_id", Int64, false);
            add("occurred_at", ts(), false);
            dims(&mut add);
            add("event_type", Utf8, false);
        }
        "interactions" => {
            add("interaction_id", Int64, false);
            add("occurred_at", ts(), false);
            dims(&mut add);
            add("interaction_type", Utf8, false);
        }
        "spend" => {
            add("month", Date32, false);
            add("region", Utf8, false);
            add("amount", Float64, false);
        }
        other => unreachable!("unknown demo table {other}"),
    }
    Arc::new(Schema::new(f))
}

// ---------------------------------------------------------------------------
// Column helpers.

#[inline]
fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[inline]
fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

const REGION_CATS: [Cat; 5] = cats![REGIONS[0], REGIONS[1], REGIONS[2], REGIONS[3], REGIONS[4]];

/// The four shared dimension columns.
struct Dims {
    customer: StrCol,
    partner: StrCol,
    rep: StrCol,
    region: StrCol,
}

impl Dims {
    fn new(rows: usize) -> Self {
        Dims {
            customer: StrCol::new(rows, 7),
            partner: StrCol::new(rows, 5),
            rep: StrCol::new(rows, 4),
            region: StrCol::new(rows, 6),
        }
    }

    #[inline]
    fn push(&mut self, w: &World, c: usize) {
        let (p, r, g) = w.owner(c);
        self.customer.push_fixed(&w.cust_ids[c]);
        self.partner.push_fixed(&w.partner_ids[p]);
        self.rep.push_fixed(&w.rep_ids[r]);
        self.region.push_cat(&REGION_CATS[g]);
    }

    fn finish(self, cols: &mut Vec<ArrayRef>) {
        cols.push(self.customer.finish());
        cols.push(self.partner.finish());
        cols.push(self.rep.finish());
        cols.push(self.region.finish());
    }
}

/// Day index and timestamp of row `i` of `n` on a calendar.
#[inline]
fn row_time(
    w: &World,
    sampler: &super::world::TimeSampler,
    rng: &mut Rng,
    i: usize,
    n: usize,
    cursor: &mut usize,
) -> (usize, i64) {
    let u = (i as f64 + rng.f64()) / n as f64;
    let (day, micros) = sampler.at(u, cursor);
    (day, w.ts(day, micros))
}

/// Busy-season pressure on the supply chain (0 off-season, 1 peak).
#[inline]
fn peak(month: u8) -> f64 {
    match month {
        5..=7 => 1.0,
        3 | 4 | 8 => 0.5,
        _ => 0.0,
    }
}

// ---------------------------------------------------------------------------
// responses

const SURVEY_TYPES: [Cat; 3] = cats!["nps", "csat", "ces"];
const SURVEY_CUM: [f64; 3] = [0.5, 0.8, 1.0];
const SURVEY_CHANNELS: [Cat; 3] = cats!["email", "sms", "portal"];
const SURVEY_CHANNEL_CUM: [f64; 3] = [0.55, 0.75, 1.0];
/// Score distributions at average rep quality (ordinal probit cut points).
const NPS_P: [f64; 11] = [0.01, 0.005, 0.008, 0.012, 0.015, 0.03, 0.04, 0.15, 0.23, 0.24, 0.26];
const CSAT_P: [f64; 5] = [0.03, 0.05, 0.12, 0.40, 0.40];
const CES_P: [f64; 5] = [0.04, 0.08, 0.18, 0.38, 0.32];

fn cut_points(p: &[f64]) -> Vec<f64> {
    let mut acc = 0.0;
    p[..p.len() - 1]
        .iter()
        .map(|x| {
            acc += x;
            norm_ppf(acc)
        })
        .collect()
}

pub(crate) fn responses(w: &World, rng: &mut Rng, rows: Range<usize>, n: usize) -> Vec<ArrayRef> {
    let m = rows.len();
    let cuts = [cut_points(&NPS_P), cut_points(&CSAT_P), cut_points(&CES_P)];
    let mut id = Vec::with_capacity(m);
    let mut at = Vec::with_capacity(m);
    let mut survey = StrCol::new(m, 4);
    let mut dims = Dims::new(m);
    let mut channel = StrCol::new(m, 5);
    let mut score = Vec::with_capacity(m);
    let mut comment = StrCol::new(m, 20);
    let mut cursor = 0;
    for i in rows {
        let (day, ts) = row_time(w, &w.digital, rng, i, n, &mut cursor);
        let c = w.customer(&w.cust_flat, rng, day);
        let (p, r, _) = w.owner(c);
        let t = rng.pick(&SURVEY_CUM);
        let ch = rng.pick(&SURVEY_CHANNEL_CUM);
        // Latent satisfaction: rep quality, partner mood, a slight upward
        // trend and an off-season bonus; unit variance at the mean.
        let month = w.day_month[day];
        let trend = 0.15 * (day as f64 / w.n_days as f64 - 0.5) - 0.06 * (peak(month) - 0.4);
        let z = 0.45 * w.rep_quality[r] + 0.3 * w.partner_mood[p] + 0.84 * rng.normal() + trend;
        let s = cuts[t].iter().filter(|&&k| k < z).count() as i64 + if t == 0 { 0 } else { 1 };
        let skipped = rng.chance(0.01);
        let sentiment = if skipped {
            Sentiment::Neutral
        } else if (t == 0 && s <= 6) || (t > 0 && s <= 2) {
            Sentiment::Negative
        } else if (t == 0 && s <= 8) || (t > 0 && s == 3) {
            Sentiment::Neutral
        } else {
            Sentiment::Positive
        };
        let p_comment = match sentiment {
            Sentiment::Negative => 0.5,
            Sentiment::Neutral => 0.24,
            Sentiment::Positive => 0.31,
        };
        id.push(i as i64 + 1);
        at.push(ts);
        survey.push_cat(&SURVEY_TYPES[t]);
        dims.push(w, c);
        channel.push_cat(&SURVEY_CHANNELS[ch]);
        score.push(if skipped { None } else { Some(s) });
        if rng.chance(p_comment) {
            append_comment(&mut comment, rng, sentiment);
        } else {
            comment.push_null();
        }
    }
    let mut cols = vec![a_i64(id), a_ts(at), survey.finish()];
    dims.finish(&mut cols);
    cols.push(channel.finish());
    cols.push(a_i64_opt(score));
    cols.push(comment.finish());
    cols
}

// ---------------------------------------------------------------------------
// orders, order_lines, invoices

const SELF_CHANNELS: [Cat; 4] = cats!["portal", "app", "web", "edi"];
const SELF_CUM: [f64; 4] = [0.45, 0.65, 0.87, 1.0];
const ASSISTED_CHANNELS: [Cat; 3] = cats!["phone", "branch", "rep"];
const ASSISTED_CUM: [f64; 3] = [0.45, 0.78, 1.0];
const PRODUCTS: [Cat; 7] =
    cats!["lumber", "roofing", "insulation", "drywall", "concrete", "fasteners", "tools"];
const PRODUCT_CUM: [f64; 7] = [0.28, 0.44, 0.56, 0.72, 0.84, 0.94, 1.0];
/// Median line value per product line.
const LINE_MEDIAN: [f64; 7] = [1400.0, 1800.0, 900.0, 700.0, 600.0, 250.0, 400.0];
/// Currency units per tonne per product line.
const PRICE_PER_TONNE: [f64; 7] = [650.0, 900.0, 1200.0, 350.0, 120.0, 2500.0, 6000.0];
const LINES_CUM: [f64; 6] = [0.40, 0.65, 0.80, 0.90, 0.96, 1.0];
const LEAD_DAYS_CUM: [f64; 10] = [0.12, 0.32, 0.50, 0.64, 0.75, 0.83, 0.89, 0.94, 0.97, 1.0];
const EARLY_CUM: [f64; 3] = [0.78, 0.94, 1.0];
const ERROR_TYPES: [Cat; 3] = cats!["picking", "packing", "loading"];
const ERROR_CUM: [f64; 3] = [0.5, 0.8, 1.0];

/// One chunk of orders with its lines and invoices (invoices without
/// `invoice_id`, which is assigned once all chunks are known).
pub(crate) struct OrdersChunk {
    pub orders: Vec<ArrayRef>,
    pub lines: Vec<ArrayRef>,
    pub invoices: Vec<ArrayRef>,
    pub n_invoices: usize,
}

pub(crate) fn orders(w: &World, rng: &mut Rng, rows: Range<usize>, n: usize) -> OrdersChunk {
    let m = rows.len();
    let end_day = w.end_day;
    let mut id = Vec::with_capacity(m);
    let mut at = Vec::with_capacity(m);
    let mut dims = Dims::new(m);
    let mut channel = StrCol::new(m, 5);
    let mut amount = Vec::with_capacity(m);
    let mut quantity = Vec::with_capacity(m);
    let mut qty_delivered = Vec::with_capacity(m);
    let mut promised = Vec::with_capacity(m);
    let mut delivered = Vec::with_capacity(m);
    let mut accurate = Vec::with_capacity(m);
    let mut error_count = Vec::with_capacity(m);
    let mut error_type = StrCol::new(m, 1);
    let mut has_addon = Vec::with_capacity(m);

    let ml = m * 2 + 16;
    let mut l_order = Vec::with_capacity(ml);
    let mut l_no = Vec::with_capacity(ml);
    let mut l_product = StrCol::new(ml, 7);
    let mut l_qty = Vec::with_capacity(ml);
    let mut l_amount = Vec::with_capacity(ml);
    let mut l_upgrade = Vec::with_capacity(ml);

    let mut i_order = Vec::with_capacity(m);
    let mut i_dims = Dims::new(m);
    let mut i_date = Vec::with_capacity(m);
    let mut i_due = Vec::with_capacity(m);
    let mut i_paid = Vec::with_capacity(m);
    let mut i_amount = Vec::with_capacity(m);
    let mut i_credit = Vec::with_capacity(m);

    let mut cursor = 0;
    for i in rows {
        let order_id = i as i64 + 1;
        let (day, ts) = row_time(w, &w.business, rng, i, n, &mut cursor);
        let c = w.customer(&w.cust_orders, rng, day);
        let (p, r, _) = w.owner(c);
        let q = w.rep_quality[r];
        let month = w.day_month[day];
        let progress = day as f64 / w.n_days as f64;
        let order_day = w.start_day + day as i32;

        // Channel: self-service grows over time and with the partner's habits.
        let self_service = rng.chance(logistic(logit(0.40) + 0.9 * progress + w.partner_digital[p]));
        let ch = if self_service {
            &SELF_CHANNELS[rng.pick(&SELF_CUM)]
        } else {
            &ASSISTED_CHANNELS[rng.pick(&ASSISTED_CUM)]
        };

        // Lines: mostly one product line; sometimes cross-sold or upgraded.
        let k = 1 + rng.pick(&LINES_CUM);
        let primary = rng.pick(&PRODUCT_CUM);
        let size = (1.0 + 0.12 * w.partner_weight[p].ln()).max(0.4);
        let p_upgrade = logistic(logit(0.05) + 0.3 * q + 0.4 * self_service as u8 as f64);
        let (mut total_amount, mut total_qty) = (0.0, 0.0);
        let mut addon = false;
        for j in 0..k {
            let prod = if j == 0 || rng.chance(0.82) { primary } else { rng.pick(&PRODUCT_CUM) };
            let upgrade = rng.chance(p_upgrade);
            addon |= upgrade || prod != primary;
            let value = cents(rng.lognormal(LINE_MEDIAN[prod] * size * if upgrade { 0.4 } else { 1.0 }, 0.8))
                .max(1.0);
            let tonnes = round3(value / PRICE_PER_TONNE[prod] * rng.lognormal(1.0, 0.1)).max(0.001);
            l_order.push(order_id);
            l_no.push(j as i32 + 1);
            l_product.push_cat(&PRODUCTS[prod]);
            l_qty.push(tonnes);
            l_amount.push(value);
            l_upgrade.push(upgrade);
            total_amount += value;
            total_qty += tonnes;
        }
        let total_amount = cents(total_amount);
        let total_qty = round3(total_qty);

        // Delivery.
        let lead = 1 + rng.pick(&LEAD_DAYS_CUM) as i32;
        let promise = order_day + lead;
        let p_on_time = logistic(logit(0.93) + 0.5 * q - 0.45 * peak(month) + 0.2 * progress);
        let actual = if rng.chance(p_on_time) {
            (promise - rng.pick(&EARLY_CUM) as i32).max(order_day)
        } else {
            promise + 1 + rng.poisson(1.2) as i32
        };
        let lost = rng.chance(0.002);
        let deliv = if lost || actual >= end_day { None } else { Some(actual) };
        let in_full = rng.chance(logistic(logit(0.96) + 0.4 * q));
        let shipped =
            if in_full { total_qty } else { round3(total_qty * rng.uniform(0.55, 0.97)).max(0.001) };
        let ok = rng.chance(logistic(logit(0.97) + 0.5 * q - 0.2 * peak(month)));

        id.push(order_id);
        at.push(ts);
        dims.push(w, c);
        channel.push_cat(ch);
        amount.push(total_amount);
        quantity.push(total_qty);
        qty_delivered.push(deliv.map(|_| shipped));
        promised.push(promise);
        delivered.push(deliv);
        accurate.push(ok);
        if ok {
            error_count.push(0);
            error_type.push_null();
        } else {
            error_count.push(1 + rng.poisson(0.35) as i64);
            error_type.push_cat(&ERROR_TYPES[rng.pick(&ERROR_CUM)]);
        }
        has_addon.push(addon);

        // Invoice on delivery.
        if let Some(d) = deliv {
            let terms = w.partner_terms[p];
            let due = d + terms;
            let paid = if rng.chance(0.006) {
                None
            } else {
                let delay = (w.partner_pay_delay[p] + 6.0 * rng.normal()).round() as i32;
                let paid = (due + delay).max(d);
                (paid < end_day).then_some(paid)
            };
            i_order.push(order_id);
            i_dims.push(w, c);
            i_date.push(d);
            i_due.push(due);
            i_paid.push(paid);
            i_amount.push(cents(total_amount * shipped / total_qty).max(0.01));
            i_credit.push(w.partner_credit[p]);
        }
    }

    let mut orders = vec![a_i64(id), a_ts(at)];
    dims.finish(&mut orders);
    orders.extend([
        channel.finish(),
        a_f64(amount),
        a_f64(quantity),
        a_f64_opt(qty_delivered),
        a_date(promised),
        a_date_opt(delivered),
        a_bool(accurate),
        a_i64(error_count),
        error_type.finish(),
        a_bool(has_addon),
    ]);
    let lines = vec![
        a_i64(l_order),
        a_i32(l_no),
        l_product.finish(),
        a_f64(l_qty),
        a_f64(l_amount),
        a_bool(l_upgrade),
    ];
    let n_invoices = i_order.len();
    let mut invoices = vec![a_i64(i_order)];
    i_dims.finish(&mut invoices);
    invoices.extend([a_date(i_date), a_date(i_due), a_date_opt(i_paid), a_f64(i_amount), a_f64(i_credit)]);
    OrdersChunk { orders, lines, invoices, n_invoices }
}

// ---------------------------------------------------------------------------
// tickets

const PRIORITIES: [Cat; 2] = cats!["high", "standard"];
const CATEGORIES: [Cat; 5] = cats!["delivery", "billing", "product", "portal", "other"];
const CATEGORY_CUM: [f64; 5] = [0.35, 0.55, 0.75, 0.87, 1.0];

pub(crate) fn tickets(w: &World, rng: &mut Rng, rows: Range<usize>, n: usize) -> Vec<ArrayRef> {
    let m = rows.len();
    let end_ts = w.end_ts();
    let mut id = Vec::with_capacity(m);
    let mut opened = Vec::with_capacity(m);
    let mut resolved = Vec::with_capacity(m);
    let mut dims = Dims::new(m);
    let mut priority = StrCol::new(m, 6);
    let mut category = StrCol::new(m, 7);
    let mut contacts = Vec::with_capacity(m);
    let mut fcr = Vec::with_capacity(m);
    let mut cursor = 0;
    for i in rows {
        let (day, ts) = row_time(w, &w.business, rng, i, n, &mut cursor);
        let c = w.customer(&w.cust_orders, rng, day);
        let (_, r, _) = w.owner(c);
        let q = w.rep_quality[r];
        let cat = rng.pick(&CATEGORY_CUM);
        let high = rng.chance(if cat == 0 { 0.35 } else { 0.2 });
        let cat_shift = match cat {
            1 | 3 => 0.2,
            2 => -0.3,
            _ => 0.0,
        };
        let first = rng.chance(logistic(logit(0.71) + 0.5 * q + cat_shift));
        let n_contacts = if first { 1 } else { 2 + rng.poisson(0.7) as i64 };
        let median_h = if high { 20.0 } else { 40.0 } * (-0.2 * q).exp() * if first { 0.8 } else { 1.5 };
        let hours = rng.lognormal(median_h, 0.85);
        let done = ts + (hours * MICROS_PER_HOUR) as i64;
        let stuck = rng.chance(0.004);
        let res = if stuck || done >= end_ts { None } else { Some(done) };
        id.push(i as i64 + 1);
        opened.push(ts);
        resolved.push(res);
        dims.push(w, c);
        priority.push_cat(&PRIORITIES[if high { 0 } else { 1 }]);
        category.push_cat(&CATEGORIES[cat]);
        contacts.push(n_contacts);
        fcr.push(first && res.is_some());
    }
    let mut cols = vec![a_i64(id), a_ts(opened), a_ts_opt(resolved)];
    dims.finish(&mut cols);
    cols.extend([priority.finish(), category.finish(), a_i64(contacts), a_bool(fcr)]);
    cols
}

// ---------------------------------------------------------------------------
// quotes

const QUOTE_TYPES: [Cat; 2] = cats!["standard", "custom"];

pub(crate) fn quotes(w: &World, rng: &mut Rng, rows: Range<usize>, n: usize) -> Vec<ArrayRef> {
    let m = rows.len();
    let end_ts = w.end_ts();
    let mut id = Vec::with_capacity(m);
    let mut requested = Vec::with_capacity(m);
    let mut quoted = Vec::with_capacity(m);
    let mut kind = StrCol::new(m, 8);
    let mut dims = Dims::new(m);
    let mut amount = Vec::with_capacity(m);
    let mut won = Vec::with_capacity(m);
    let mut cursor = 0;
    for i in rows {
        let (day, ts) = row_time(w, &w.business, rng, i, n, &mut cursor);
        let c = w.customer(&w.cust_orders, rng, day);
        let (p, r, _) = w.owner(c);
        let q = w.rep_quality[r];
        let custom = rng.chance(0.25);
        let size = (1.0 + 0.12 * w.partner_weight[p].ln()).max(0.4);
        let value =
            cents(if custom { rng.lognormal(18_000.0, 1.0) } else { rng.lognormal(2_500.0, 0.9) } * size);
        let median_h = if custom { 12.0 * (-0.3 * q).exp() } else { 0.7 * (-0.35 * q).exp() };
        let hours = rng.lognormal(median_h, if custom { 0.8 } else { 1.1 });
        let sent = ts + (hours * MICROS_PER_HOUR) as i64;
        let ignored = rng.chance(0.008);
        let sent = if ignored || sent >= end_ts { None } else { Some(sent) };
        let outcome = match sent {
            None => (end_ts - ts > 30 * MICROS_PER_DAY).then_some(false),
            Some(s) => {
                // Faster answers win more often.
                let base = if custom { 0.30 } else { 0.40 };
                let p_win = logistic(logit(base) + 0.3 * q - 0.25 * (hours / median_h.max(1e-9)).ln());
                let lag_days = rng.lognormal(if custom { 10.0 } else { 4.0 }, 0.8);
                let decided = s + (lag_days * MICROS_PER_DAY as f64) as i64;
                let win = rng.chance(p_win);
                (decided < end_ts).then_some(win)
            }
        };
        id.push(i as i64 + 1);
        requested.push(ts);
        quoted.push(sent);
        kind.push_cat(&QUOTE_TYPES[if custom { 1 } else { 0 }]);
        dims.push(w, c);
        amount.push(value.max(1.0));
        won.push(outcome);
    }
    let mut cols = vec![a_i64(id), a_ts(requested), a_ts_opt(quoted), kind.finish()];
    dims.finish(&mut cols);
    cols.extend([a_f64(amount), a_bool_opt(won)]);
    cols
}

// ---------------------------------------------------------------------------
// leads

const SOURCES: [Cat; 4] = cats!["web", "referral", "trade_show", "cold_call"];
const SOURCE_CUM: [f64; 4] = [0.40, 0.60, 0.75, 1.0];
const SOURCE_CONVERSION: [f64; 4] = [0.15, 0.38, 0.22, 0.07];

pub(crate) fn leads(w: &World, rng: &mut Rng, rows: Range<usize>, n: usize) -> Vec<ArrayRef> {
    let m = rows.len();
    let end_ts = w.end_ts();
    let mut id = Vec::with_capacity(m);
    let mut created = Vec::with_capacity(m);
    let mut converted = Vec::with_capacity(m);
    let mut rep = StrCol::new(m, 4);
    let mut region = StrCol::new(m, 6);
    let mut source = StrCol::new(m, 6);
    let mut cursor = 0;
    for i in rows {
        let (_, ts) = row_time(w, &w.business, rng, i, n, &mut cursor);
        let r = w.rep_alias.sample(rng);
        let s = rng.pick(&SOURCE_CUM);
        let p = (SOURCE_CONVERSION[s] * (0.3 * w.rep_quality[r]).exp()).min(0.95);
        let conv = if rng.chance(p) {
            let days = rng.lognormal(25.0, 0.7);
            let t = ts + (days * MICROS_PER_DAY as f64) as i64;
            (t < end_ts).then_some(t)
        } else {
            None
        };
        id.push(i as i64 + 1);
        created.push(ts);
        converted.push(conv);
        rep.push_fixed(&w.rep_ids[r]);
        region.push_cat(&REGION_CATS[w.rep_region[r] as usize]);
        source.push_cat(&SOURCES[s]);
    }
    vec![a_i64(id), a_ts(created), a_ts_opt(converted), rep.finish(), region.finish(), source.finish()]
}

// ---------------------------------------------------------------------------
// carts

const CART_CHANNELS: [Cat; 3] = cats!["portal", "app", "web"];
const CART_CUM: [f64; 3] = [0.5, 0.75, 1.0];

pub(crate) fn carts(w: &World, rng: &mut Rng, rows: Range<usize>, n: usize) -> Vec<ArrayRef> {
    let m = rows.len();
    let end_ts = w.end_ts();
    let mut id = Vec::with_capacity(m);
    let mut created = Vec::with_capacity(m);
    let mut checked_out = Vec::with_capacity(m);
    let mut dims = Dims::new(m);
    let mut channel = StrCol::new(m, 5);
    let mut amount = Vec::with_capacity(m);
    let mut cursor = 0;
    for i in rows {
        let (day, ts) = row_time(w, &w.digital, rng, i, n, &mut cursor);
        let c = w.customer(&w.cust_flat, rng, day);
        let (p, _, _) = w.owner(c);
        let ch = rng.pick(&CART_CUM);
        let size = (1.0 + 0.1 * w.partner_weight[p].ln()).max(0.4);
        let value = cents(rng.lognormal(1_100.0 * size, 0.9)).max(1.0);
        let p_checkout =
            (0.31 + if ch == 1 { 0.06 } else { 0.0 } + 0.03 * w.partner_digital[p]).clamp(0.05, 0.9);
        let out = if rng.chance(p_checkout) {
            let minutes = rng.lognormal(12.0, 1.0);
            let t = ts + (minutes * 60_000_000.0) as i64;
            (t < end_ts).then_some(t)
        } else {
            None
        };
        id.push(i as i64 + 1);
        created.push(ts);
        checked_out.push(out);
        dims.push(w, c);
        channel.push_cat(&CART_CHANNELS[ch]);
        amount.push(value);
    }
    let mut cols = vec![a_i64(id), a_ts(created), a_ts_opt(checked_out)];
    dims.finish(&mut cols);
    cols.extend([channel.finish(), a_f64(amount)]);
    cols
}

// ---------------------------------------------------------------------------
// events

const EVENT_TYPES: [Cat; 4] =
    cats!["portal_login", "training_attended", "early_buy_enrolment", "catalog_download"];

pub(crate) fn events(w: &World, rng: &mut Rng, rows: Range<usize>, n: usize) -> Vec<ArrayRef> {
    let m = rows.len();
    let mut id = Vec::with_capacity(m);
    let mut at = Vec::with_capacity(m);
    let mut dims = Dims::new(m);
    let mut kind = StrCol::new(m, 12);
    let mut cursor = 0;
    for i in rows {
        let (day, ts) = row_time(w, &w.digital, rng, i, n, &mut cursor);
        let c = w.customer(&w.cust_flat, rng, day);
        let month = w.day_month[day];
        // Early-buy programmes run in the off-season, training in winter.
        let training = if month <= 2 { 0.10 } else { 0.05 };
        let early = if month >= 9 || month <= 1 { 0.12 } else { 0.015 };
        let cum = [0.72, 0.72 + training, 0.72 + training + early, 0.72 + training + early + 0.13];
        id.push(i as i64 + 1);
        at.push(ts);
        dims.push(w, c);
        kind.push_cat(&EVENT_TYPES[rng.pick(&cum)]);
    }
    let mut cols = vec![a_i64(id), a_ts(at)];
    dims.finish(&mut cols);
    cols.push(kind.finish());
    cols
}

// ---------------------------------------------------------------------------
// interactions

const INTERACTION_TYPES: [Cat; 3] = cats!["call", "email", "meeting"];

pub(crate) fn interactions(w: &World, rng: &mut Rng, rows: Range<usize>, n: usize) -> Vec<ArrayRef> {
    let m = rows.len();
    let mut id = Vec::with_capacity(m);
    let mut at = Vec::with_capacity(m);
    let mut dims = Dims::new(m);
    let mut kind = StrCol::new(m, 5);
    let mut cursor = 0;
    for i in rows {
        let (day, ts) = row_time(w, &w.business, rng, i, n, &mut cursor);
        let c = w.customer(&w.cust_flat, rng, day);
        let (p, _, _) = w.owner(c);
        // Big partners get more face time.
        let meeting = (0.10 + 0.03 * w.partner_weight[p].ln()).clamp(0.03, 0.35);
        let cum = [0.55, 0.55 + (0.45 - meeting), 1.0];
        id.push(i as i64 + 1);
        at.push(ts);
        dims.push(w, c);
        kind.push_cat(&INTERACTION_TYPES[rng.pick(&cum)]);
    }
    let mut cols = vec![a_i64(id), a_ts(at)];
    dims.finish(&mut cols);
    cols.push(kind.finish());
    cols
}

// ---------------------------------------------------------------------------
// spend

/// Marketing spend leads demand by about a month.
const SPEND_MONTH_WEIGHT: [f64; 12] = [0.8, 0.95, 1.15, 1.25, 1.2, 1.1, 1.0, 0.95, 0.95, 0.9, 0.8, 0.7];

pub(crate) fn spend(
    w: &World,
    rng: &mut Rng,
    start: NaiveDate,
    end: NaiveDate,
    n_orders: usize,
) -> Vec<ArrayRef> {
    // Regional budgets follow the regions' business, blended with an even split.
    let mut region_w = [0.0f64; 5];
    for (p, &r) in w.partner_rep.iter().enumerate() {
        region_w[w.rep_region[r as usize] as usize] += w.partner_weight[p];
    }
    let total: f64 = region_w.iter().sum::<f64>().max(1e-9);
    let share: Vec<f64> = region_w.iter().map(|x| 0.5 * x / total + 0.1).collect();

    let last = end.pred_opt().unwrap_or(end);
    let n_months = ((last.year() - start.year()) * 12 + last.month0() as i32 - start.month0() as i32 + 1)
        .max(1) as usize;
    // About 3% of revenue (average order ~2,700) goes to sales and marketing.
    let monthly = n_orders as f64 * 2_700.0 * 0.03 * 30.4 / w.n_days as f64;
    let mut month_col = Vec::with_capacity(n_months * 5);
    let mut region_col = StrCol::new(n_months * 5, 6);
    let mut amount = Vec::with_capacity(n_months * 5);
    if n_orders > 0 {
        let (mut y, mut mo) = (start.year(), start.month());
        for k in 0..n_months {
            let first = NaiveDate::from_ymd_opt(y, mo, 1).expect("valid month");
            let next = if mo == 12 {
                NaiveDate::from_ymd_opt(y + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(y, mo + 1, 1)
            }
            .expect("valid month");
            // Partial months at either end get a pro-rated budget.
            let lo = first.max(start);
            let hi = next.min(end);
            let covered = (hi - lo).num_days().max(0) as f64 / (next - first).num_days() as f64;
            let growth = 1.0 + 0.08 * k as f64 / 12.0;
            for (g, region) in REGION_CATS.iter().enumerate() {
                let a = monthly
                    * share[g]
                    * SPEND_MONTH_WEIGHT[mo as usize - 1]
                    * growth
                    * covered
                    * rng.lognormal(1.0, 0.12);
                month_col.push(super::world::epoch_days(first));
                region_col.push_cat(region);
                amount.push(cents(a));
            }
            (y, mo) = if mo == 12 { (y + 1, 1) } else { (y, mo + 1) };
        }
    }
    vec![a_date(month_col), region_col.finish(), a_f64(amount)]
}

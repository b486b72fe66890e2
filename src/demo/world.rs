//! The hidden "world" behind the demo tables: reps, partners, customer
//! accounts, their sizes and lifecycles, and the calendar (seasonal day
//! weights and intraday profiles). Built once per `generate` call from the
//! seed and `n_orders` only, so every table sees the same world.

use chrono::{Datelike, NaiveDate};

use super::columns::code;
use super::rng::{Alias, Rng};

pub(crate) const REGIONS: [&str; 5] = ["North", "South", "East", "West", "Central"];

pub(crate) const MICROS_PER_DAY: i64 = 86_400_000_000;
pub(crate) const MICROS_PER_HOUR: f64 = 3_600_000_000.0;

/// Most partners a demo has: `P` + 4 digits.
pub(crate) const MAX_PARTNERS: usize = 9_999;

/// Relative demand per month of year (January first): the building season
/// April-October is busier.
const MONTH_WEIGHT: [f64; 12] = [0.62, 0.68, 0.88, 1.08, 1.22, 1.28, 1.25, 1.24, 1.18, 1.08, 0.85, 0.60];

/// Intraday profile of branch / sales activity (orders, tickets, quotes...).
const BUSINESS_HOURS: [f64; 24] = [
    0.0, 0.0, 0.0, 0.0, 0.02, 0.2, 1.0, 2.2, 3.0, 3.0, 2.8, 2.4, 1.8, 2.4, 2.6, 2.3, 1.8, 1.0, 0.5, 0.3, 0.2,
    0.1, 0.02, 0.0,
];
/// Intraday profile of digital activity (surveys, carts, portal events).
const DIGITAL_HOURS: [f64; 24] = [
    0.1, 0.05, 0.03, 0.03, 0.05, 0.2, 0.6, 1.2, 1.8, 2.0, 2.0, 1.8, 1.6, 1.8, 1.8, 1.7, 1.6, 1.5, 1.6, 1.8,
    1.9, 1.6, 1.0, 0.4,
];

/// Days since 1970-01-01.
pub(crate) fn epoch_days(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - 719_163
}

/// Maps a quantile u in [0, 1) to a timestamp, monotonically: seasonal day
/// weights pick the day, an intraday profile the time of day. Feeding it
/// stratified quantiles `(i + U) / n` gives rows sorted by time.
#[derive(Clone, Debug)]
pub(crate) struct TimeSampler {
    day_cum: Vec<f64>,
    hour_cum: [f64; 25],
    /// `hour_start[b]`: the hour holding quantile `b / HOUR_BUCKETS`, a
    /// starting point for the intraday search.
    hour_start: [u8; HOUR_BUCKETS],
}

const HOUR_BUCKETS: usize = 256;

impl TimeSampler {
    fn new(day_weights: &[f64], hours: &[f64; 24]) -> Self {
        let total: f64 = day_weights.iter().sum();
        let mut day_cum = Vec::with_capacity(day_weights.len() + 1);
        let mut acc = 0.0;
        day_cum.push(0.0);
        for w in day_weights {
            acc += w / total;
            day_cum.push(acc);
        }
        let n = day_cum.len() - 1;
        day_cum[n] = 1.0;
        let htotal: f64 = hours.iter().sum();
        let mut hour_cum = [0.0; 25];
        for h in 0..24 {
            hour_cum[h + 1] = hour_cum[h] + hours[h] / htotal;
        }
        hour_cum[24] = 1.0;
        let mut hour_start = [0u8; HOUR_BUCKETS];
        for (b, hs) in hour_start.iter_mut().enumerate() {
            *hs = Self::last_at_most(&hour_cum, 0, b as f64 / HOUR_BUCKETS as f64) as u8;
        }
        TimeSampler { day_cum, hour_cum, hour_start }
    }

    /// The largest `k < cum.len() - 1` with `cum[k] <= u`, searching forward
    /// from `from` (which must satisfy `cum[from] <= u`).
    #[inline]
    fn last_at_most(cum: &[f64], from: usize, u: f64) -> usize {
        let last = cum.len() - 2;
        let mut k = from;
        while k < last && cum[k + 1] <= u {
            k += 1;
        }
        k
    }

    /// (day index from `start`, microseconds into the day) for quantile `u`.
    /// `cursor` carries the day found for the previous (smaller or equal)
    /// quantile of a chunk; the result does not depend on it.
    #[inline]
    pub(crate) fn at(&self, u: f64, cursor: &mut usize) -> (usize, i64) {
        let from = if *cursor < self.day_cum.len() - 1 && self.day_cum[*cursor] <= u { *cursor } else { 0 };
        let from = if from == 0 {
            // First row of a chunk: binary search.
            self.day_cum.partition_point(|&c| c <= u).max(1) - 1
        } else {
            from
        };
        let d = Self::last_at_most(&self.day_cum, from.min(self.day_cum.len() - 2), u);
        *cursor = d;
        let (lo, hi) = (self.day_cum[d], self.day_cum[d + 1]);
        let r = if hi > lo { ((u - lo) / (hi - lo)).clamp(0.0, 1.0 - 1e-12) } else { 0.0 };
        let b = ((r * HOUR_BUCKETS as f64) as usize).min(HOUR_BUCKETS - 1);
        let h = Self::last_at_most(&self.hour_cum, self.hour_start[b] as usize, r);
        let (hlo, hhi) = (self.hour_cum[h], self.hour_cum[h + 1]);
        let r2 = if hhi > hlo { ((r - hlo) / (hhi - hlo)).clamp(0.0, 1.0 - 1e-12) } else { 0.0 };
        let micros = ((h as f64 + r2) * MICROS_PER_HOUR) as i64;
        (d, micros.min(MICROS_PER_DAY - 1))
    }
}

pub(crate) struct World {
    /// Epoch day of `start` (day index 0).
    pub start_day: i32,
    /// Epoch day of `end`: nothing is observed on or after it.
    pub end_day: i32,
    pub n_days: usize,
    /// Month of year (0 = January) of each day index.
    pub day_month: Vec<u8>,

    /// `R` + 3 digits.
    pub rep_ids: Vec<[u8; 4]>,
    pub rep_region: Vec<u8>,
    /// Hidden rep quality ~ N(0, 1).
    pub rep_quality: Vec<f64>,
    /// Relative lead volume per rep.
    pub rep_alias: Alias,

    /// `P` + 4 digits.
    pub partner_ids: Vec<[u8; 5]>,
    pub partner_rep: Vec<u32>,
    /// Partner size (relative order share).
    pub partner_weight: Vec<f64>,
    /// Hidden partner relationship mood ~ N(0, 1) (shifts survey scores).
    pub partner_mood: Vec<f64>,
    /// Payment terms in days (30 or 60).
    pub partner_terms: Vec<i32>,
    /// Typical payment delay relative to the due date, days.
    pub partner_pay_delay: Vec<f64>,
    pub partner_credit: Vec<f64>,
    /// Propensity to use self-service channels (logit shift).
    pub partner_digital: Vec<f64>,

    /// `C` + 6 digits, from `C000101`.
    pub cust_ids: Vec<[u8; 7]>,
    pub cust_partner: Vec<u32>,
    /// First and last+1 active day index of the account.
    pub cust_from: Vec<i32>,
    pub cust_to: Vec<i32>,
    /// Accounts weighted by order volume.
    pub cust_orders: Alias,
    /// Accounts weighted by a flattened volume (surveys, events, contacts).
    pub cust_flat: Alias,

    pub business: TimeSampler,
    pub digital: TimeSampler,
}

impl World {
    pub(crate) fn new(seed: u64, n_orders: usize, start: NaiveDate, end: NaiveDate) -> Self {
        let mut rng = Rng::derive(seed, 0x5EED_0001, n_orders as u64);
        let start_day = epoch_days(start);
        let end_day = epoch_days(end);
        let n_days = (end_day - start_day).max(1) as usize;

        // Calendar.
        let mut day_month = Vec::with_capacity(n_days);
        let mut business_w = Vec::with_capacity(n_days);
        let mut digital_w = Vec::with_capacity(n_days);
        for i in 0..n_days {
            let date = start + chrono::Days::new(i as u64);
            let month = date.month0() as usize;
            day_month.push(month as u8);
            let dow = (start_day + i as i32 + 3).rem_euclid(7); // 0 = Monday
            let years = i as f64 / 365.25;
            let growth = 1.0 + 0.10 * years;
            let holiday = matches!((date.month(), date.day()), (1, 1) | (12, 25) | (12, 26) | (7, 4));
            let noise = rng.lognormal(1.0, 0.12);
            let base = MONTH_WEIGHT[month] * growth * noise * if holiday { 0.1 } else { 1.0 };
            let (bw, dw) = match dow {
                5 => (0.30, 0.55),
                6 => (0.08, 0.45),
                _ => (1.0, 1.0),
            };
            business_w.push(base * bw);
            // Digital activity is less seasonal.
            digital_w.push((0.5 + 0.5 * base) * dw);
        }
        let business = TimeSampler::new(&business_w, &BUSINESS_HOURS);
        let digital = TimeSampler::new(&digital_w, &DIGITAL_HOURS);

        // Partners and reps.
        let n_partners = (n_orders / 150).clamp(10, MAX_PARTNERS);
        let n_reps = (n_partners / 15).clamp(3, 999);
        let region_offset = rng.below(5) as usize;
        let rep_ids: Vec<[u8; 4]> = (1..=n_reps).map(|i| code(b'R', i)).collect();
        let rep_region: Vec<u8> = (0..n_reps).map(|i| ((i + region_offset) % 5) as u8).collect();
        let rep_quality: Vec<f64> = (0..n_reps).map(|_| rng.normal()).collect();

        let partner_ids: Vec<[u8; 5]> = (1..=n_partners).map(|i| code(b'P', i)).collect();
        let mut partner_rep = Vec::with_capacity(n_partners);
        let mut partner_weight = Vec::with_capacity(n_partners);
        let mut partner_mood = Vec::with_capacity(n_partners);
        let mut partner_terms = Vec::with_capacity(n_partners);
        let mut partner_pay_delay = Vec::with_capacity(n_partners);
        let mut partner_credit = Vec::with_capacity(n_partners);
        let mut partner_digital = Vec::with_capacity(n_partners);
        for p in 0..n_partners {
            // Every rep gets at least one partner.
            let rep = if p < n_reps { p } else { rng.below(n_reps as u64) as usize };
            partner_rep.push(rep as u32);
            // Log-normal sizes (median 1), capped: a few big partners place
            // most orders, a long tail of small ones buy now and then.
            let w = rng.lognormal(1.0, 1.7).clamp(0.01, 300.0);
            partner_weight.push(w);
            partner_mood.push(rng.normal());
            partner_terms.push(if w > 3.0 && rng.chance(0.5) || rng.chance(0.2) { 60 } else { 30 });
            partner_pay_delay.push(rng.normal() * 5.0 - 2.0 + if rng.chance(0.1) { 15.0 } else { 0.0 });
            let credit = 15_000.0 * w.powf(0.8) * rng.lognormal(1.0, 0.3);
            partner_credit.push(((credit / 5_000.0).round() * 5_000.0).max(5_000.0));
            partner_digital.push(rng.normal() * 0.8);
        }
        // Leads follow the size of a rep's book, loosely.
        let mut rep_book = vec![1.0; n_reps];
        for p in 0..n_partners {
            rep_book[partner_rep[p] as usize] += partner_weight[p].sqrt();
        }
        let rep_alias = Alias::new(&rep_book);

        // Customer accounts: 1-8 per partner (more for big partners). The
        // first is the main account; most others are job-site accounts that
        // buy only now and then. Lifecycles with acquisition and churn.
        let mut cust_ids = Vec::new();
        let mut cust_partner = Vec::new();
        let mut cust_from = Vec::new();
        let mut cust_to = Vec::new();
        let mut cust_weight = Vec::new();
        let mut occasional: Vec<(usize, f64)> = Vec::new();
        let span = n_days as i32;
        for (p, &w) in partner_weight.iter().enumerate() {
            let k = (1.0 + (rng.exp1() * (3.2 + 0.4 * w.ln()).max(1.0)).floor()).min(8.0) as usize;
            // Big partners are mostly long-standing; small ones come and go.
            let pre_existing = rng.chance(if w > 2.0 { 0.85 } else { 0.55 });
            let onboard =
                if pre_existing { -(1 + rng.below(2000) as i32) } else { rng.below(span as u64) as i32 };
            let churn = if rng.chance(if w > 2.0 { 0.08 } else { 0.30 }) {
                (onboard.max(0) + 60 + rng.below(span as u64) as i32).min(i32::MAX / 2)
            } else {
                i32::MAX / 2
            };
            let first = cust_weight.len();
            let mut regular_total = 0.0;
            for j in 0..k {
                let c = cust_ids.len();
                cust_ids.push(code(b'C', c + 101));
                cust_partner.push(p as u32);
                let from =
                    if j == 0 { onboard } else { onboard.max(-1) + rng.below(span as u64 / 2 + 1) as i32 };
                let to = if rng.chance(0.08) {
                    (from.max(0) + 30 + rng.below(span as u64) as i32).min(churn)
                } else {
                    churn
                };
                cust_from.push(from);
                cust_to.push(to.max(from + 1));
                if j > 0 && rng.chance(0.85) {
                    occasional.push((c, rng.lognormal(1.0, 0.9) * (1.0 + 0.2 * w.ln()).max(0.5)));
                    cust_weight.push(0.0);
                } else {
                    let share = (j as f64 + 1.0).powf(-1.3) * rng.lognormal(1.0, 0.6);
                    regular_total += share;
                    cust_weight.push(share);
                }
            }
            for cw in &mut cust_weight[first..] {
                *cw *= w / regular_total;
            }
        }
        // Occasional accounts place about three orders over the whole range.
        let regular: f64 = cust_weight.iter().sum();
        for (c, f) in occasional {
            cust_weight[c] = f * regular * 3.0 / n_orders.max(1) as f64;
        }
        let cust_orders = Alias::new(&cust_weight);
        let flat: Vec<f64> = cust_weight.iter().map(|w| w.sqrt()).collect();
        let cust_flat = Alias::new(&flat);

        World {
            start_day,
            end_day,
            n_days,
            day_month,
            rep_ids,
            rep_region,
            rep_quality,
            rep_alias,
            partner_ids,
            partner_rep,
            partner_weight,
            partner_mood,
            partner_terms,
            partner_pay_delay,
            partner_credit,
            partner_digital,
            cust_ids,
            cust_partner,
            cust_from,
            cust_to,
            cust_orders,
            cust_flat,
            business,
            digital,
        }
    }

    /// An account active on day index `day`, drawn from `alias`.
    #[inline]
    pub(crate) fn customer(&self, alias: &Alias, rng: &mut Rng, day: usize) -> usize {
        let day = day as i32;
        for _ in 0..48 {
            let c = alias.sample(rng);
            if self.cust_from[c] <= day && day < self.cust_to[c] {
                return c;
            }
        }
        alias.sample(rng)
    }

    /// (partner, rep, region) of an account.
    #[inline]
    pub(crate) fn owner(&self, c: usize) -> (usize, usize, usize) {
        let p = self.cust_partner[c] as usize;
        let r = self.partner_rep[p] as usize;
        (p, r, self.rep_region[r] as usize)
    }

    /// Timestamp (µs since epoch) for day index `day` and time of day.
    #[inline]
    pub(crate) fn ts(&self, day: usize, micros: i64) -> i64 {
        (self.start_day as i64 + day as i64) * MICROS_PER_DAY + micros
    }

    /// Epoch micros of `end` (exclusive observation horizon).
    #[inline]
    pub(crate) fn end_ts(&self) -> i64 {
        self.end_day as i64 * MICROS_PER_DAY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_sampler_cursor_does_not_change_results() {
        let start = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let w = World::new(3, 1_000, start, NaiveDate::from_ymd_opt(2024, 3, 1).unwrap());
        let mut rng = Rng::new(9);
        let mut us: Vec<f64> = (0..5_000).map(|_| rng.f64()).collect();
        us.extend([0.0, 1.0 - 1e-15]);
        us.sort_by(|a, b| a.partial_cmp(b).unwrap());
        for s in [&w.business, &w.digital] {
            let mut cursor = 0;
            let mut prev = (0, 0);
            for &u in &us {
                let got = s.at(u, &mut cursor);
                assert_eq!(got, s.at(u, &mut 0), "u = {u}");
                assert!(got >= prev && got.0 < w.n_days && got.1 < MICROS_PER_DAY);
                prev = got;
            }
        }
    }
}

//! Business hours: a time zone, opening intervals per weekday and holidays, and the arithmetic
//! SLA timers need: how much business time lies between two instants, when a business-time
//! budget runs out, and whether (or when next) the business is open. Intervals are local wall
//! time, so a 09:00–17:00 day is 8 hours except when a daylight-saving change falls inside it.

use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Days examined at most when looking for open time (a calendar with no hours never opens).
const HORIZON_DAYS: i32 = 3 * 366;

/// Opening hours as written by people: `"09:00"`–`"17:30"` per weekday, holidays as dates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// IANA time zone, e.g. `Europe/London`.
    pub timezone: String,
    /// Intervals `[start, end)` per weekday, `mon` … `sun`; a missing day is closed.
    #[serde(default)]
    pub hours: WeeklyHours,
    /// Closed all day (local dates, `YYYY-MM-DD`).
    #[serde(default)]
    pub holidays: Vec<String>,
}

/// Intervals per weekday.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    #[serde(default)]
    pub mon: Vec<[String; 2]>,
    #[serde(default)]
    pub tue: Vec<[String; 2]>,
    #[serde(default)]
    pub wed: Vec<[String; 2]>,
    #[serde(default)]
    pub thu: Vec<[String; 2]>,
    #[serde(default)]
    pub fri: Vec<[String; 2]>,
    #[serde(default)]
    pub sat: Vec<[String; 2]>,
    #[serde(default)]
    pub sun: Vec<[String; 2]>,
}

/// A validated calendar, ready for arithmetic.
#[derive(Debug, Clone)]
pub struct Calendar {
    tz: TimeZone,
    /// Minutes from local midnight, `[start, end)`, sorted and disjoint; index 0 = Monday.
    week: [Vec<(u16, u16)>; 7],
    holidays: Vec<Date>,
}

fn minutes(hhmm: &str) -> Option<u16> {
    let (h, m) = hhmm.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    ((h < 24 && m < 60) || (h == 24 && m == 0)).then_some(h * 60 + m)
}

impl Calendar {
    /// Validates a spec, naming each bad field.
    pub fn from_spec(spec: &CalendarSpec) -> Result<Self, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let tz = TimeZone::get(&spec.timezone)
            .map_err(|_| ("timezone".to_owned(), "not an IANA time zone".to_owned()));
        let days = [
            &spec.hours.mon,
            &spec.hours.tue,
            &spec.hours.wed,
            &spec.hours.thu,
            &spec.hours.fri,
            &spec.hours.sat,
            &spec.hours.sun,
        ];
        let names = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
        let mut week: [Vec<(u16, u16)>; 7] = Default::default();
        for (i, intervals) in days.iter().enumerate() {
            for (j, [a, b]) in intervals.iter().enumerate() {
                match (minutes(a), minutes(b)) {
                    (Some(s), Some(e)) if s < e => week[i].push((s, e)),
                    _ => errors.push((
                        format!("hours.{}[{j}]", names[i]),
                        "use [\"HH:MM\", \"HH:MM\"] with start before end".to_owned(),
                    )),
                }
            }
            week[i].sort_unstable();
            if week[i].windows(2).any(|w| w[0].1 > w[1].0) {
                errors.push((
                    format!("hours.{}", names[i]),
                    "intervals overlap".to_owned(),
                ));
            }
        }
        let mut holidays = Vec::new();
        for (i, h) in spec.holidays.iter().enumerate() {
            match h.parse::<Date>() {
                Ok(d) => holidays.push(d),
                Err(_) => errors.push((format!("holidays[{i}]"), "use YYYY-MM-DD".to_owned())),
            }
        }
        if spec.holidays.len() > 1000 {
            errors.push(("holidays".to_owned(), "at most 1000".to_owned()));
        }
        let tz = match tz {
            Ok(tz) => Some(tz),
            Err(e) => {
                errors.push(e);
                None
            }
        };
        match tz {
            Some(tz) if errors.is_empty() => {
                holidays.sort_unstable();
                Ok(Self { tz, week, holidays })
            }
            _ => Err(errors),
        }
    }

    /// The open intervals of one local date as absolute instants (DST-correct).
    fn intervals_on(&self, date: Date) -> Vec<(i64, i64)> {
        if self.holidays.binary_search(&date).is_ok() {
            return Vec::new();
        }
        let weekday = usize::from(date.weekday().to_monday_zero_offset().unsigned_abs());
        let at = |m: u16| -> Option<i64> {
            let local = if m == 24 * 60 {
                date.tomorrow()
                    .ok()?
                    .to_datetime(jiff::civil::Time::midnight())
            } else {
                DateTime::new(
                    date.year(),
                    date.month(),
                    date.day(),
                    i8::try_from(m / 60).ok()?,
                    i8::try_from(m % 60).ok()?,
                    0,
                    0,
                )
                .ok()?
            };
            Some(
                local
                    .to_zoned_datetime(self.tz.clone())
                    .ok()?
                    .timestamp()
                    .as_millisecond(),
            )
        };
        self.week[weekday]
            .iter()
            .filter_map(|(s, e)| Some((at(*s)?, at(*e)?)))
            .filter(|(s, e)| s < e)
            .collect()
    }

    fn local_date(&self, ms: i64) -> Option<Date> {
        Some(
            Timestamp::from_millisecond(ms)
                .ok()?
                .to_zoned_datetime(self.tz.clone())
                .date(),
        )
    }

    /// Business milliseconds in `[from, to)`.
    pub fn business_ms_between(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let (Some(mut day), Some(last)) = (self.local_date(from), self.local_date(to)) else {
            return 0;
        };
        let mut total = 0;
        while day <= last {
            for (s, e) in self.intervals_on(day) {
                total += (e.min(to) - s.max(from)).max(0);
            }
            match day.tomorrow() {
                Ok(d) => day = d,
                Err(_) => break,
            }
        }
        total
    }

    /// The instant at which `budget_ms` of business time after `from` is used up (an SLA
    /// deadline); `None` when the calendar has no open time within three years.
    pub fn add_business_ms(&self, from: i64, budget_ms: i64) -> Option<i64> {
        let mut left = budget_ms.max(0);
        let mut day = self.local_date(from)?;
        for _ in 0..HORIZON_DAYS {
            for (s, e) in self.intervals_on(day) {
                let start = s.max(from);
                if start >= e {
                    continue;
                }
                if left <= e - start {
                    return Some(start + left);
                }
                left -= e - start;
            }
            day = day.tomorrow().ok()?;
        }
        None
    }

    /// Whether the business is open at `at`.
    pub fn is_open(&self, at: i64) -> bool {
        self.local_date(at).is_some_and(|d| {
            // An interval of the previous local day may not reach into this one, but check both
            // so a 24:00 end is honoured across midnight.
            let yesterday = d.yesterday().ok();
            [Some(d), yesterday].into_iter().flatten().any(|day| {
                self.intervals_on(day)
                    .iter()
                    .any(|(s, e)| *s <= at && at < *e)
            })
        })
    }

    /// The next instant at or after `at` when the business is open.
    pub fn next_open(&self, at: i64) -> Option<i64> {
        if self.is_open(at) {
            return Some(at);
        }
        let mut day = self.local_date(at)?;
        for _ in 0..HORIZON_DAYS {
            if let Some((s, _)) = self.intervals_on(day).into_iter().find(|(_, e)| *e > at) {
                return Some(s.max(at));
            }
            day = day.tomorrow().ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3_600_000;

    fn spec(tz: &str) -> CalendarSpec {
        let day = vec![["09:00".to_owned(), "17:00".to_owned()]];
        CalendarSpec {
            timezone: tz.into(),
            hours: WeeklyHours {
                mon: day.clone(),
                tue: day.clone(),
                wed: day.clone(),
                thu: day.clone(),
                fri: day,
                ..Default::default()
            },
            holidays: vec!["2026-12-25".into()],
        }
    }

    fn at(s: &str) -> i64 {
        s.parse::<Timestamp>().unwrap().as_millisecond()
    }

    #[test]
    fn counts_only_open_hours_in_the_calendars_time_zone() {
        let cal = Calendar::from_spec(&spec("Europe/London")).unwrap();
        // Friday 16:00 → Monday 10:00 London (winter, UTC+0): 1 h Friday + 1 h Monday.
        assert_eq!(
            cal.business_ms_between(at("2026-11-27T16:00:00Z"), at("2026-11-30T10:00:00Z")),
            2 * HOUR
        );
        // Christmas Day is a holiday.
        assert_eq!(
            cal.business_ms_between(at("2026-12-25T00:00:00Z"), at("2026-12-26T00:00:00Z")),
            0
        );
        let ny = Calendar::from_spec(&spec("America/New_York")).unwrap();
        // 09:00–17:00 New York is 14:00–22:00 UTC in winter.
        assert!(ny.is_open(at("2026-11-30T21:59:00Z")));
        assert!(!ny.is_open(at("2026-11-30T13:59:00Z")));
    }

    #[test]
    fn deadlines_skip_nights_weekends_and_holidays() {
        let cal = Calendar::from_spec(&spec("Europe/London")).unwrap();
        // 4 business hours from Thursday 24 Dec 15:00: 2 h that day, Friday is Christmas, the
        // weekend is closed, so the remaining 2 h end Monday 28 Dec at 11:00.
        assert_eq!(
            cal.add_business_ms(at("2026-12-24T15:00:00Z"), 4 * HOUR),
            Some(at("2026-12-28T11:00:00Z"))
        );
        assert_eq!(
            cal.next_open(at("2026-12-24T18:00:00Z")),
            Some(at("2026-12-28T09:00:00Z"))
        );
        let closed = Calendar::from_spec(&CalendarSpec {
            timezone: "UTC".into(),
            hours: WeeklyHours::default(),
            holidays: vec![],
        })
        .unwrap();
        assert_eq!(closed.add_business_ms(0, HOUR), None);
    }

    #[test]
    fn daylight_saving_days_are_shorter_or_longer_in_real_time() {
        let mut s = spec("Europe/London");
        s.hours.sun = vec![["00:00".to_owned(), "24:00".to_owned()]];
        let cal = Calendar::from_spec(&s).unwrap();
        // Sunday 29 March 2026 lasts 23 hours in London; Sunday 25 October 2026 lasts 25.
        assert_eq!(
            cal.business_ms_between(at("2026-03-28T23:00:00Z"), at("2026-03-29T23:00:00Z")),
            23 * HOUR
        );
        assert_eq!(
            cal.business_ms_between(at("2026-10-24T23:00:00Z"), at("2026-10-26T00:00:00Z")),
            25 * HOUR
        );
    }

    #[test]
    fn specs_are_validated_field_by_field() {
        let mut s = spec("Mars/Olympus_Mons");
        s.hours.sat = vec![
            ["18:00".into(), "09:00".into()],
            ["25:00".into(), "26:00".into()],
        ];
        s.hours.sun = vec![
            ["09:00".into(), "12:00".into()],
            ["11:00".into(), "13:00".into()],
        ];
        s.holidays.push("25/12/2026".into());
        let errs = Calendar::from_spec(&s).unwrap_err();
        let fields: Vec<_> = errs.iter().map(|(f, _)| f.as_str()).collect();
        assert_eq!(
            fields,
            [
                "hours.sat[0]",
                "hours.sat[1]",
                "hours.sun",
                "holidays[1]",
                "timezone"
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn budgets_and_measurements_agree(start in 1_700_000_000_000_i64..1_900_000_000_000, budget_min in 0_i64..20_000) {
            let cal = Calendar::from_spec(&spec("Europe/Berlin")).unwrap();
            let budget = budget_min * 60_000;
            let deadline = cal.add_business_ms(start, budget).unwrap();
            proptest::prop_assert!(deadline >= start);
            proptest::prop_assert_eq!(cal.business_ms_between(start, deadline), budget);
        }
    }
}

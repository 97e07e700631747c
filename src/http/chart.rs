//! The dashboard's activity chart laid out as SVG shapes, rendered by the template: three
//! bands (sign-ins, refreshes, reuse), each scaled to its own largest period, since refreshes
//! outnumber sign-ins by orders of magnitude. No JavaScript, and a data table beside it.

use super::admin_views::grouped;
use crate::auth::{ActivityChart, ActivityPoint};
use time::macros::format_description;
use time::OffsetDateTime;

/// One bar of the chart.
pub struct Bar {
    /// Left edge.
    pub x: i64,
    /// Top edge.
    pub y: i64,
    /// Width.
    pub w: i64,
    /// Height.
    pub h: i64,
    /// Tooltip and accessible text.
    pub title: String,
}

/// One series of the chart, drawn as its own band with its own scale.
pub struct Series {
    /// Name.
    pub label: &'static str,
    /// CSS class of its bars.
    pub class: &'static str,
    /// Top of the band.
    pub top: i64,
    /// Baseline y.
    pub base: i64,
    /// Total over the chart, grouped.
    pub total: String,
    /// Largest period, grouped.
    pub max: String,
    /// The bars.
    pub bars: Vec<Bar>,
}

/// An axis label.
pub struct Tick {
    /// Centre.
    pub x: i64,
    /// Text.
    pub text: String,
}

/// The chart laid out.
pub struct ChartView {
    /// viewBox width.
    pub width: i64,
    /// viewBox height.
    pub height: i64,
    /// Per hour (else per day).
    pub hourly: bool,
    /// The three bands.
    pub series: Vec<Series>,
    /// Axis labels.
    pub ticks: Vec<Tick>,
    /// (period, sign-ins, refreshes, reuses) for the data table.
    pub table: Vec<(String, String, String, String)>,
}

/// (name, CSS class, unit, value of a period).
type SeriesDef = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ActivityPoint) -> i64,
);

const LEFT: i64 = 150;
const BAND: i64 = 90;
const WIDTH: i64 = 760;

impl ChartView {
    /// Lays out the chart: three bands, each scaled to its own largest period.
    pub fn new(c: &ActivityChart) -> Self {
        let label = |start: i64| {
            let t = OffsetDateTime::from_unix_timestamp(start).ok();
            let s = if c.hourly {
                t.and_then(|t| t.format(format_description!("[hour]:00")).ok())
            } else {
                t.and_then(|t| {
                    t.format(format_description!("[day padding:none] [month repr:short]"))
                        .ok()
                })
            };
            s.unwrap_or_default()
        };
        let n = c.points.len().max(1) as i64;
        let slot = (WIDTH - LEFT - 10) / n;
        let defs: [SeriesDef; 3] = [
            ("Sign-ins", "bar-signin", "sign-ins", |p| p.sign_ins),
            ("Refreshes", "bar-refresh", "refreshes", |p| p.refreshes),
            ("Reuse detected", "bar-reuse", "reuse detections", |p| {
                p.reuses
            }),
        ];
        let series = defs
            .iter()
            .enumerate()
            .map(|(i, (name, class, unit, get))| {
                let top = 10 + i as i64 * (BAND + 10);
                let base = top + BAND;
                let max = c.points.iter().map(get).max().unwrap_or(0);
                let bars = c
                    .points
                    .iter()
                    .enumerate()
                    .map(|(j, p)| {
                        let v = get(p);
                        let h = if max == 0 {
                            0
                        } else {
                            (v * (BAND - 4) / max).max(i64::from(v > 0))
                        };
                        Bar {
                            x: LEFT + j as i64 * slot + slot / 8,
                            y: base - h,
                            w: (slot * 3 / 4).max(1),
                            h,
                            title: format!("{}: {} {unit}", label(p.start), grouped(v)),
                        }
                    })
                    .collect();
                Series {
                    label: name,
                    class,
                    top,
                    base,
                    total: grouped(c.points.iter().map(get).sum()),
                    max: grouped(max),
                    bars,
                }
            })
            .collect();
        let every = if c.hourly { 6 } else { 2 };
        let ticks = c
            .points
            .iter()
            .enumerate()
            .filter(|(j, _)| (c.points.len() - 1 - j).is_multiple_of(every))
            .map(|(j, p)| Tick {
                x: LEFT + j as i64 * slot + slot / 2,
                text: label(p.start),
            })
            .collect();
        let table = c
            .points
            .iter()
            .map(|p| {
                (
                    label(p.start),
                    grouped(p.sign_ins),
                    grouped(p.refreshes),
                    grouped(p.reuses),
                )
            })
            .collect();
        Self {
            width: WIDTH,
            height: 10 + 3 * (BAND + 10) + 20,
            hourly: c.hourly,
            series,
            ticks,
            table,
        }
    }
}

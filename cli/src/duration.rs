//! Durations on the command line (`--duration 10s`, `--crash-every 500ms`, `--budget 5m`),
//! bounded so that a load, a benchmark or an inference always stops by itself.

use std::time::Duration;

/// The longest run `--duration` accepts.
pub const MAX_DURATION: Duration = Duration::from_secs(600);

/// The longest `--budget` of `tokenlife infer`: a day (lifetimes of hours are measured
/// with a real clock only by waiting for them).
pub const MAX_BUDGET: Duration = Duration::from_secs(86_400);

/// Parses `10s`, `250ms`, `2m` or a plain number of seconds (`1.5`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let d = parse_any(text)?;
    if d > MAX_DURATION {
        return Err(format!(
            "`{text}` is longer than the {} s a benchmark may run",
            MAX_DURATION.as_secs()
        ));
    }
    Ok(d)
}

/// Parses a budget: as [`parse_duration`], and `h`, up to [`MAX_BUDGET`].
pub fn parse_budget(text: &str) -> Result<Duration, String> {
    let d = parse_any(text)?;
    if d > MAX_BUDGET || d.is_zero() {
        return Err(format!(
            "`{text}`: a budget is longer than 0 s and at most {} h",
            MAX_BUDGET.as_secs() / 3600
        ));
    }
    Ok(d)
}

fn parse_any(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (e.g. 10s, 500ms, 1m)"))?;
    let seconds = value * scale;
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(format!("`{text}` is not a duration (e.g. 10s, 500ms, 1m)"));
    }
    if seconds > MAX_BUDGET.as_secs_f64() {
        return Err(format!("`{text}` is too long"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("11m").is_err());
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("1h").is_err());
        assert_eq!(parse_budget("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_budget("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_budget("0s").is_err());
        assert!(parse_budget("25h").is_err());
    }
}

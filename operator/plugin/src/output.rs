//! How the plugin prints: aligned tables and trees (`├──`, `└──`) with NAME / KIND / STATUS /
//! AGE / INFO columns like `kubectl argo rollouts get`, status icons, colour only on a
//! terminal, ages as kubectl shows them, and `-o json|yaml`.

use std::fmt::Write as _;
use std::io::IsTerminal;

use anyhow::Result;
use clap::ValueEnum;
use serde::Serialize;

/// `-o json|yaml`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

/// Serializes `value` in `format`, ending with a newline.
pub fn serialize<T: Serialize>(value: &T, format: Format) -> Result<String> {
    Ok(match format {
        Format::Json => format!("{}\n", serde_json::to_string_pretty(value)?),
        Format::Yaml => serde_saphyr::to_string(value)?,
    })
}

/// Writes `text` to stdout. A reader that went away (`| head`) ends the command quietly: see
/// [`is_broken_pipe`].
pub fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Whether an error is stdout's reader having gone away.
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Whether to colour: only on a terminal, never with `--no-color` or `$NO_COLOR`.
pub fn use_color(no_color: bool) -> bool {
    !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// How a thing stands, with its icon and colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// ✔ done, passed, counted.
    Good,
    /// ✖ failed, rejected, not counted.
    Bad,
    /// … waiting for something else.
    Waiting,
    /// ◌ running.
    Progressing,
    /// ॥ waiting for a person.
    Paused,
    /// ⚠ needs a look.
    Warning,
    /// • nothing to say.
    Neutral,
}

impl Tone {
    pub fn icon(self) -> &'static str {
        match self {
            Tone::Good => "✔",
            Tone::Bad => "✖",
            Tone::Waiting => "…",
            Tone::Progressing => "◌",
            Tone::Paused => "॥",
            Tone::Warning => "⚠",
            Tone::Neutral => "•",
        }
    }

    fn color(self) -> Option<&'static str> {
        match self {
            Tone::Good => Some("32"),
            Tone::Bad => Some("31"),
            Tone::Waiting | Tone::Paused | Tone::Warning => Some("33"),
            Tone::Progressing => Some("36"),
            Tone::Neutral => None,
        }
    }
}

/// An icon and a word: `✔ Passed`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    pub tone: Tone,
    pub text: String,
}

pub fn status(tone: Tone, text: impl Into<String>) -> Status {
    Status {
        tone,
        text: text.into(),
    }
}

impl Status {
    pub fn plain(&self) -> String {
        format!("{} {}", self.tone.icon(), self.text)
    }

    pub fn paint(&self, color: bool) -> String {
        paint(&self.plain(), self.tone, color)
    }
}

fn paint(text: &str, tone: Tone, color: bool) -> String {
    match tone.color().filter(|_| color) {
        Some(code) => format!("\x1b[{code}m{text}\x1b[0m"),
        None => text.to_string(),
    }
}

/// One row of a table or tree.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row {
    pub name: String,
    pub kind: String,
    pub status: Option<Status>,
    /// Seconds since the epoch the thing started; shown as an age.
    pub since: Option<i64>,
    pub info: String,
    pub children: Vec<Row>,
}

impl Row {
    pub fn new(name: impl Into<String>, kind: &str) -> Row {
        Row {
            name: name.into(),
            kind: kind.to_string(),
            ..Default::default()
        }
    }

    /// A heading that groups children: `# gates`.
    pub fn group(name: impl Into<String>, children: Vec<Row>) -> Row {
        Row {
            name: format!("# {}", name.into()),
            children,
            ..Default::default()
        }
    }

    pub fn status(mut self, status: Status) -> Row {
        self.status = Some(status);
        self
    }

    pub fn since(mut self, since: Option<i64>) -> Row {
        self.since = since;
        self
    }

    pub fn info(mut self, info: impl Into<String>) -> Row {
        self.info = info.into();
        self
    }

    pub fn children(mut self, children: Vec<Row>) -> Row {
        self.children = children;
        self
    }
}

/// Renders rows (and their children, as a tree) under NAME / KIND / STATUS / AGE / INFO.
pub fn tree(rows: &[Row], now: i64, color: bool) -> String {
    let mut lines = Vec::new();
    for row in rows {
        flatten(row, "", "", now, &mut lines);
    }
    let header = ["NAME", "KIND", "STATUS", "AGE", "INFO"].map(String::from);
    table(&header, &lines, color)
}

/// One cell: its plain text (for widths) and how to print it.
#[derive(Clone, Debug)]
pub struct Cell {
    pub text: String,
    pub tone: Option<Tone>,
}

impl From<String> for Cell {
    fn from(text: String) -> Cell {
        Cell { text, tone: None }
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Cell {
        Cell::from(text.to_string())
    }
}

impl From<&Status> for Cell {
    fn from(status: &Status) -> Cell {
        Cell {
            text: status.plain(),
            tone: Some(status.tone),
        }
    }
}

fn flatten(row: &Row, prefix: &str, indent: &str, now: i64, out: &mut Vec<Vec<Cell>>) {
    out.push(vec![
        Cell::from(format!("{prefix}{}", row.name)),
        Cell::from(row.kind.as_str()),
        row.status.as_ref().map_or(Cell::from(""), Cell::from),
        Cell::from(row.since.map(|t| age(now - t)).unwrap_or_default()),
        Cell::from(row.info.as_str()),
    ]);
    let last = row.children.len().saturating_sub(1);
    for (i, child) in row.children.iter().enumerate() {
        let (branch, next) = if i == last {
            ("└──", "   ")
        } else {
            ("├──", "│  ")
        };
        let child_prefix = format!(
            "{indent}{branch}{}",
            if child.name.starts_with('#') { "" } else { " " }
        );
        flatten(child, &child_prefix, &format!("{indent}{next}"), now, out);
    }
}

/// An aligned table: two spaces between columns, trailing blanks trimmed.
pub fn table(header: &[String], rows: &[Vec<Cell>], color: bool) -> String {
    let columns = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| width(h)).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(columns) {
            widths[i] = widths[i].max(width(&cell.text));
        }
    }
    let mut out = String::new();
    let header: Vec<Cell> = header.iter().map(|h| Cell::from(h.as_str())).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(columns) {
            let text = match cell.tone {
                Some(tone) => paint(&cell.text, tone, color),
                None => cell.text.clone(),
            };
            line.push_str(&text);
            if i + 1 < columns {
                line.push_str(&" ".repeat(widths[i] - width(&cell.text) + 2));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}

fn width(text: &str) -> usize {
    text.chars().count()
}

/// `Label:  value` lines, values aligned.
pub fn fields(pairs: &[(&str, String)]) -> String {
    let width = pairs.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 2;
    let mut out = String::new();
    for (label, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        let mut lines = value.lines();
        let first = lines.next().unwrap_or_default();
        let _ = writeln!(out, "{:width$}{first}", format!("{label}:"));
        for more in lines {
            let _ = writeln!(out, "{:width$}{more}", "");
        }
    }
    out
}

/// An age as kubectl prints it (`42s`, `3m12s`, `5h`, `2d3h`).
pub fn age(seconds: i64) -> String {
    if seconds < 0 {
        return "0s".into();
    }
    let (m, h, d) = (seconds / 60, seconds / 3600, seconds / 86_400);
    let pair = |a: i64, ua: &str, b: i64, ub: &str| {
        if b == 0 {
            format!("{a}{ua}")
        } else {
            format!("{a}{ua}{b}{ub}")
        }
    };
    match seconds {
        s if s < 120 => format!("{s}s"),
        _ if m < 10 => pair(m, "m", seconds % 60, "s"),
        _ if m < 180 => format!("{m}m"),
        _ if h < 8 => pair(h, "h", m % 60, "m"),
        _ if h < 48 => format!("{h}h"),
        _ if h < 192 => pair(d, "d", h % 24, "h"),
        _ if d < 730 => format!("{d}d"),
        _ if d < 2920 => pair(d / 365, "y", d % 365, "d"),
        _ => format!("{}y", d / 365),
    }
}

/// Seconds since the epoch of an RFC 3339 time.
pub fn epoch(rfc3339: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp())
}

/// Seconds since the epoch of an object's creation.
pub fn created(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<i64> {
    meta.creation_timestamp.as_ref().map(|t| t.0.as_second())
}

/// The time now, in seconds since the epoch.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        let cases = [
            (5, "5s"),
            (119, "119s"),
            (130, "2m10s"),
            (600, "10m"),
            (3 * 3600 + 60, "3h1m"),
            (20 * 3600, "20h"),
            (3 * 86_400 + 7200, "3d2h"),
            (40 * 86_400, "40d"),
        ];
        for (seconds, text) in cases {
            assert_eq!(age(seconds), text);
        }
    }

    #[test]
    fn trees_align_columns_and_draw_branches() {
        let rows = [Row::new("root", "Plan")
            .status(status(Tone::Good, "Ready"))
            .since(Some(0))
            .children(vec![
                Row::group(
                    "one",
                    vec![Row::new("a", "Model").info("x"), Row::new("bb", "Model")],
                ),
                Row::group(
                    "two",
                    vec![Row::new("c", "Job").status(status(Tone::Bad, "Failed"))],
                ),
            ])];
        let text = tree(&rows, 30, false);
        assert_eq!(
            text,
            "NAME       KIND   STATUS    AGE  INFO\n\
             root       Plan   ✔ Ready   30s\n\
             ├──# one\n\
             │  ├── a   Model                 x\n\
             │  └── bb  Model\n\
             └──# two\n\
             \x20  └── c   Job    ✖ Failed\n"
        );
        assert!(tree(&rows, 30, true).contains("\x1b[32m✔ Ready\x1b[0m"));
    }
}

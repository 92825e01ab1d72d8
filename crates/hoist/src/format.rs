//! `--format` as podman takes it, one way for every listing verb: `json`, a Go template
//! (`{{.Names}}`), or `table` and a template for aligned columns under a header. Templates run
//! on `gtmpl` (Go's text/template for Rust), with podman's `json`, `upper`, `lower` and `join`
//! functions added.

use std::collections::HashMap;

use anyhow::Context;
use gtmpl_value::{FuncError, Number, Value};
use serde_json::Value as Json;

/// How to print a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    /// The verb's own table.
    Default,
    Json,
    /// A template per item; `table` ones get a header and aligned columns.
    Template {
        text: String,
        table: bool,
    },
}

impl Format {
    pub fn parse(format: Option<&str>) -> Format {
        match format.map(str::trim) {
            None | Some("") | Some("table") => Format::Default,
            Some("json") => Format::Json,
            Some(text) => {
                // podman reads `\t` and `\n` typed in single quotes as a tab and a newline.
                let text = text.replace("\\t", "\t").replace("\\n", "\n");
                match text.strip_prefix("table") {
                    Some(rest) => Format::Template {
                        text: rest.trim_start_matches([' ', '\t']).to_string(),
                        table: true,
                    },
                    None => Format::Template { text, table: false },
                }
            }
        }
    }
}

/// Prints `items` (objects: JSON keys for `json`, template fields for templates) as `format`
/// asks; `default` is the verb's own template, `headers` the column titles of its fields.
pub fn render(
    format: &Format,
    json: &[Json],
    fields: &[Json],
    default: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<String> {
    let (text, table) = match format {
        Format::Json => return Ok(serde_json::to_string_pretty(json)? + "\n"),
        Format::Default => (default, true),
        Format::Template { text, table } => (text.as_str(), *table),
    };
    let mut lines = Vec::new();
    if table {
        lines.push(header(text, headers));
    }
    for item in fields {
        lines.push(apply(text, item)?);
    }
    let mut out = if table {
        align(&lines)
    } else {
        lines.join("\n")
    };
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// What an `inspect` verb prints of `items` (podman's shape): a JSON array, or each item
/// through the template on a line of its own.
pub fn inspected(format: Option<&str>, items: &[Json]) -> anyhow::Result<String> {
    match Format::parse(format) {
        Format::Template { text, .. } => items
            .iter()
            .map(|item| apply(&text, item).map(|line| line + "\n"))
            .collect(),
        _ => Ok(serde_json::to_string_pretty(items)? + "\n"),
    }
}

/// One item through a template.
pub fn apply(text: &str, item: &Json) -> anyhow::Result<String> {
    let mut template = gtmpl::Template::default();
    template.add_funcs(&[
        ("json", json_func as gtmpl_value::Func),
        ("upper", upper),
        ("lower", lower),
        ("join", join),
    ]);
    template
        .parse(text)
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("--format {text:?} is not a valid template"))?;
    let rendered = template
        .render(&gtmpl::Context::from(to_value(item)))
        .map_err(|e| anyhow::anyhow!("{e}"))
        .with_context(|| format!("--format {text:?}"))?;
    Ok(rendered.trim_end_matches('\n').to_string())
}

/// The header of a `table` template: each `{{.Field}}` becomes its column's title.
fn header(text: &str, headers: &[(&str, &str)]) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find("}}") else {
            break;
        };
        let action = rest[start + 2..start + end].trim();
        let field = action
            .split_whitespace()
            .find_map(|word| word.strip_prefix('.'))
            .unwrap_or(action);
        let title = headers
            .iter()
            .find(|(name, _)| *name == field)
            .map_or_else(|| field.to_uppercase(), |(_, title)| title.to_string());
        out.push_str(&title);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    out
}

/// Tab-separated cells in aligned columns, as podman's tabwriter sets them: each at least 12
/// wide, with two spaces after the widest cell.
fn align(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter(|r| i + 1 < r.len())
                .map(|r| r[i].chars().count())
                .max()
                .map_or(0, |w| (w + 2).max(12))
        })
        .collect();
    rows.iter()
        .map(|row| {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i + 1 < row.len() {
                    line.push_str(&format!("{cell:<width$}", width = widths[i]));
                } else {
                    line.push_str(cell);
                }
            }
            line.trim_end().to_string() + "\n"
        })
        .collect()
}

fn to_value(json: &Json) -> Value {
    match json {
        Json::Null => Value::Nil,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
            (Some(u), _, _) => Value::Number(Number::from(u)),
            (_, Some(i), _) => Value::Number(Number::from(i)),
            (_, _, Some(f)) => Value::Number(Number::from(f)),
            _ => Value::Nil,
        },
        Json::String(s) => Value::String(s.clone()),
        Json::Array(items) => Value::Array(items.iter().map(to_value).collect()),
        Json::Object(map) => Value::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), to_value(v)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

fn to_json(value: &Value) -> Json {
    match value {
        Value::NoValue | Value::Nil | Value::Function(_) => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::String(s) => Json::String(s.clone()),
        Value::Number(n) => serde_json::from_str(&n.to_string()).unwrap_or(Json::Null),
        Value::Array(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Object(map) | Value::Map(map) => {
            // Sorted keys: the same item always prints the same.
            let sorted: std::collections::BTreeMap<_, _> =
                map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
            Json::Object(sorted.into_iter().collect())
        }
    }
}

fn one_arg<'a>(name: &str, args: &'a [Value]) -> Result<&'a Value, FuncError> {
    match args {
        [value] => Ok(value),
        _ => Err(FuncError::ExactlyXArgs(name.to_string(), 1)),
    }
}

fn json_func(args: &[Value]) -> Result<Value, FuncError> {
    let value = one_arg("json", args)?;
    Ok(Value::String(to_json(value).to_string()))
}

fn upper(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        one_arg("upper", args)?.to_string().to_uppercase(),
    ))
}

fn lower(args: &[Value]) -> Result<Value, FuncError> {
    Ok(Value::String(
        one_arg("lower", args)?.to_string().to_lowercase(),
    ))
}

fn join(args: &[Value]) -> Result<Value, FuncError> {
    match args {
        [Value::Array(items), separator] => Ok(Value::String(
            items
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(&separator.to_string()),
        )),
        [other, _] => Ok(Value::String(other.to_string())),
        _ => Err(FuncError::ExactlyXArgs("join".into(), 2)),
    }
}

/// podman's words for how long ago something was ("3 minutes"), from go-units' HumanDuration.
pub fn human_duration(elapsed: std::time::Duration) -> String {
    let seconds = elapsed.as_secs();
    let minutes = seconds / 60;
    let hours = (elapsed.as_secs_f64() / 3600.0).round() as u64;
    match () {
        _ if seconds < 1 => "Less than a second".into(),
        _ if seconds == 1 => "1 second".into(),
        _ if seconds < 60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn formats_are_json_templates_or_tables() {
        assert_eq!(Format::parse(None), Format::Default);
        assert_eq!(Format::parse(Some("json")), Format::Json);
        assert_eq!(
            Format::parse(Some(r"table {{.ID}}\t{{.Names}}")),
            Format::Template {
                text: "{{.ID}}\t{{.Names}}".into(),
                table: true
            }
        );
        let items = [json!({"ID": "abc", "Names": "web", "Labels": {"a": "1"}})];
        let template = Format::parse(Some("{{.Names}} {{json .Labels}} {{upper .Names}}"));
        assert_eq!(
            render(&template, &[], &items, "", &[]).unwrap(),
            "web {\"a\":\"1\"} WEB\n"
        );
        let table = Format::parse(Some(r"table {{.ID}}\t{{.Names}}"));
        assert_eq!(
            render(&table, &[], &items, "", &[("ID", "CONTAINER ID")]).unwrap(),
            "CONTAINER ID  NAMES\nabc           web\n"
        );
        assert_eq!(
            render(&Format::Json, &[json!({"Id": "abc"})], &[], "", &[]).unwrap(),
            "[\n  {\n    \"Id\": \"abc\"\n  }\n]\n"
        );
        assert!(render(&Format::parse(Some("{{.Names")), &[], &items, "", &[]).is_err());
    }

    #[test]
    fn durations_read_as_podmans() {
        let secs = std::time::Duration::from_secs;
        assert_eq!(human_duration(secs(0)), "Less than a second");
        assert_eq!(human_duration(secs(5)), "5 seconds");
        assert_eq!(human_duration(secs(90)), "About a minute");
        assert_eq!(human_duration(secs(600)), "10 minutes");
        assert_eq!(human_duration(secs(3 * 3600)), "3 hours");
        assert_eq!(human_duration(secs(3 * 86400)), "3 days");
    }
}

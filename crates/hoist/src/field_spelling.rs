//! podman's templates name Go struct fields (`{{.Host.CgroupsVersion}}`, `{{.Host.OCIRuntime}}`)
//! where hoist's items carry the JSON keys podman prints for them (`host.cgroupVersion`,
//! `host.ociRuntime`). A template's field chains from the top are respelled as the item's keys
//! are, matched without regard to case or `_` (or by podman's own name where its field and key
//! differ in more), so both spellings work. Chains inside `range`,
//! `with`, `block` and `define`, whose dot may be another value, are left as written.

use serde_json::Value as Json;

/// `template` with each `.A.B.C` chain that starts at the top written as `item` spells it.
pub fn respell(template: &str, item: &Json) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    // The open blocks, each with whether its dot may be another value than the item's.
    let mut blocks: Vec<bool> = Vec::new();
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}") else {
            break;
        };
        out.push_str(&rest[..start]);
        let action = &rest[start..start + len];
        // A block's own arguments are read with the dot outside it.
        let dot_is_item = !blocks.contains(&true);
        match keyword(action) {
            "range" | "with" | "block" | "define" => blocks.push(true),
            "if" => blocks.push(false),
            "end" => drop(blocks.pop()),
            _ => {}
        }
        match dot_is_item {
            true => out.push_str(&respell_action(action, item)),
            false => out.push_str(action),
        }
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

/// The first word of an action (`{{- range .X}}` gives `range`).
fn keyword(action: &str) -> &str {
    let inner = action.trim_start_matches("{{").trim_start_matches('-');
    inner.split_whitespace().next().unwrap_or("")
}

fn respell_action(action: &str, item: &Json) -> String {
    let mut out = String::with_capacity(action.len());
    let mut chars = action.char_indices().peekable();
    let mut previous = ' ';
    while let Some((at, c)) = chars.next() {
        let starts_chain = c == '.' && !is_ident(previous) && !matches!(previous, ')' | '.' | '$');
        if !starts_chain {
            out.push(c);
            previous = c;
            continue;
        }
        // The whole chain: `.Name` repeated.
        let mut end = at;
        while action[end..].starts_with('.') {
            let name_len = action[end + 1..]
                .find(|ch: char| !is_ident(ch))
                .unwrap_or(action.len() - end - 1);
            if name_len == 0 {
                break;
            }
            end += 1 + name_len;
        }
        if end == at {
            out.push(c);
            previous = c;
            continue;
        }
        out.push_str(&respell_chain(&action[at..end], item));
        while chars.peek().is_some_and(|(i, _)| *i < end) {
            chars.next();
        }
        previous = 'x';
    }
    out
}

/// `.A.B` as the keys of `item` spell it, as far as they go.
fn respell_chain(chain: &str, item: &Json) -> String {
    let mut out = String::new();
    let mut value = Some(item);
    for name in chain.split('.').skip(1) {
        let key = value
            .and_then(Json::as_object)
            .and_then(|map| match map.contains_key(name) {
                true => Some(name.to_string()),
                false => map.keys().find(|k| same_field(k, name)).cloned(),
            });
        out.push('.');
        match key {
            Some(key) => {
                value = value.and_then(|v| v.get(&key));
                out.push_str(&key);
            }
            None => {
                value = None;
                out.push_str(name);
            }
        }
    }
    out
}

/// podman's Go fields whose JSON keys differ from them in more than case (its
/// `libpod/define/info.go`).
const RENAMED_FIELDS: &[(&str, &str)] = &[
    ("CgroupsVersion", "cgroupVersion"),
    ("DefaultCapabilities", "capabilities"),
];

fn same_field(key: &str, name: &str) -> bool {
    if RENAMED_FIELDS.contains(&(name, key)) {
        return true;
    }
    let plain = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_')
            .flat_map(char::to_lowercase)
            .collect()
    };
    plain(key) == plain(name)
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn go_field_names_become_the_items_keys() {
        let info = json!({
            "host": {"os": "linux", "ociRuntime": {"name": "hoist"}, "cgroupVersion": "v2",
                     "security": {"capabilities": "CAP_KILL"},
                     "idMappings": {"uidmap": [{"container_id": 0}]}},
            "store": {"containerStore": {"number": 1}},
            "Version": {"Version": "1"}
        });
        let cases = [
            (
                "{{.Host.OS}} {{.Store.ContainerStore.Number}}",
                "{{.host.os}} {{.store.containerStore.number}}",
            ),
            (
                "{{.Host.OCIRuntime.Name}}/{{ .Host.CgroupsVersion }}",
                "{{.host.ociRuntime.name}}/{{ .host.cgroupVersion }}",
            ),
            ("{{json .Host.IDMappings}}", "{{json .host.idMappings}}"),
            (
                "{{.Host.Security.DefaultCapabilities}}",
                "{{.host.security.capabilities}}",
            ),
            (
                "{{.host.os}} {{.Version.Version}}",
                "{{.host.os}} {{.Version.Version}}",
            ),
            // Unknown fields, variables, and what follows a call are left as written.
            ("{{.Host.Nothing.Os}}", "{{.host.Nothing.Os}}"),
            (
                "{{$x.Host}} {{(index .Host).Os}}",
                "{{$x.Host}} {{(index .host).Os}}",
            ),
            ("text .Host {{.}}", "text .Host {{.}}"),
            // Inside range and with the dot is another value; their arguments are the item's.
            (
                "{{range .Host.IDMappings.Uidmap}}{{.Host}}{{end}} {{.Host.OS}}",
                "{{range .host.idMappings.uidmap}}{{.Host}}{{end}} {{.host.os}}",
            ),
            (
                "{{with .Store}}{{if .Host}}{{.Host}}{{end}}{{end}}{{if .Host}}{{.Host.OS}}{{end}}",
                "{{with .store}}{{if .Host}}{{.Host}}{{end}}{{end}}{{if .host}}{{.host.os}}{{end}}",
            ),
        ];
        for (template, respelled) in cases {
            assert_eq!(respell(template, &info), respelled, "{template}");
        }
    }
}

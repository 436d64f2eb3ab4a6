//! The subset of Go templates `docker inspect --format` is used with: literal text and
//! `{{...}}` actions that are a field path (`.Config.Env`) or a function applied to
//! one (`json .Config`, `index .Config.Labels "k"`, `join .Config.Env ","`, `len .X`,
//! `upper`, `lower`). Values print as Go's `%v` prints docker's types.

use serde_json::Value;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("template {template:?}: {reason}")]
    Parse { template: String, reason: String },
    #[error("template {template:?}: executing {action:?}: {reason}")]
    Exec {
        template: String,
        action: String,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    Path(Vec<String>),
    Str(String),
    Int(i64),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Action {
        source: String,
        func: Option<String>,
        args: Vec<Arg>,
    },
}

#[derive(Debug, Clone)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

const FUNCS: [&str; 6] = ["json", "index", "join", "len", "upper", "lower"];

impl Template {
    pub fn parse(source: &str) -> Result<Template, TemplateError> {
        let err = |reason: String| TemplateError::Parse {
            template: source.to_string(),
            reason,
        };
        let mut parts = Vec::new();
        let mut rest = source;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                parts.push(Part::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| err("unclosed action".into()))?;
            let body = after[..end]
                .trim()
                .trim_start_matches('-')
                .trim_end_matches('-')
                .trim();
            parts.push(parse_action(body).map_err(err)?);
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(Template {
            source: source.to_string(),
            parts,
        })
    }

    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Action { source, func, args } => {
                    let err = |reason: String| TemplateError::Exec {
                        template: self.source.clone(),
                        action: source.clone(),
                        reason,
                    };
                    let values: Vec<Option<Value>> = args
                        .iter()
                        .map(|a| match a {
                            Arg::Path(p) => lookup(data, p),
                            Arg::Str(s) => Some(Value::from(s.clone())),
                            Arg::Int(i) => Some(Value::from(*i)),
                        })
                        .collect();
                    out.push_str(&call(func.as_deref(), &values).map_err(err)?);
                }
            }
        }
        Ok(out)
    }
}

fn parse_action(body: &str) -> Result<Part, String> {
    let tokens = tokenize(body)?;
    let Some(first) = tokens.first() else {
        return Err("empty action".into());
    };
    let (func, arg_tokens) = if FUNCS.contains(&first.as_str()) {
        (Some(first.clone()), &tokens[1..])
    } else if first.starts_with('.') {
        (None, &tokens[..])
    } else {
        return Err(format!(
            "function {first:?} not defined (supported: {})",
            FUNCS.join(", ")
        ));
    };
    let mut args = Vec::new();
    for t in arg_tokens {
        if let Some(s) = t.strip_prefix('"') {
            args.push(Arg::Str(s.trim_end_matches('"').to_string()));
        } else if t == "." {
            args.push(Arg::Path(Vec::new()));
        } else if let Some(p) = t.strip_prefix('.') {
            args.push(Arg::Path(p.split('.').map(str::to_string).collect()));
        } else if let Ok(i) = t.parse::<i64>() {
            args.push(Arg::Int(i));
        } else {
            return Err(format!("unexpected {t:?} in action"));
        }
    }
    let want = match func.as_deref() {
        None => 1,
        Some("index") | Some("join") => 2,
        Some(_) => 1,
    };
    if args.len() != want && !(func.as_deref() == Some("index") && args.len() > 2) {
        return Err(format!(
            "{} takes {want} argument(s), got {}",
            func.as_deref().unwrap_or("a field"),
            args.len()
        ));
    }
    Ok(Part::Action {
        source: body.to_string(),
        func,
        args,
    })
}

fn tokenize(body: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut s = String::from("\"");
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            s.push(match n {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => s.push(c),
                }
            }
            if !closed {
                return Err("unterminated string".into());
            }
            s.push('"');
            tokens.push(s);
        } else if c == '|' || c == '(' || c == ')' || c == '$' {
            return Err(format!(
                "{c:?} is not supported (field paths and one function call only)"
            ));
        } else {
            let mut s = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                s.push(c);
                chars.next();
            }
            tokens.push(s);
        }
    }
    Ok(tokens)
}

fn lookup(data: &Value, path: &[String]) -> Option<Value> {
    let mut v = data;
    for key in path {
        v = v.as_object()?.get(key)?;
    }
    Some(v.clone())
}

fn call(func: Option<&str>, args: &[Option<Value>]) -> Result<String, String> {
    match func {
        None => Ok(args[0]
            .as_ref()
            .map(go_format)
            .unwrap_or_else(|| "<no value>".into())),
        Some("json") => Ok(args[0]
            .as_ref()
            .map(|v| v.to_string())
            .unwrap_or_else(|| "null".into())),
        Some("len") => match &args[0] {
            Some(Value::Array(a)) => Ok(a.len().to_string()),
            Some(Value::Object(o)) => Ok(o.len().to_string()),
            Some(Value::String(s)) => Ok(s.len().to_string()),
            Some(Value::Null) | None => Ok("0".into()),
            Some(other) => Err(format!("len of {other}")),
        },
        Some("upper") => Ok(args[0]
            .as_ref()
            .map(go_format)
            .unwrap_or_default()
            .to_uppercase()),
        Some("lower") => Ok(args[0]
            .as_ref()
            .map(go_format)
            .unwrap_or_default()
            .to_lowercase()),
        Some("join") => {
            let sep = args[1].as_ref().and_then(Value::as_str).unwrap_or("");
            match &args[0] {
                Some(Value::Array(a)) => Ok(a.iter().map(go_format).collect::<Vec<_>>().join(sep)),
                Some(Value::Null) | None => Ok(String::new()),
                Some(other) => Err(format!("join of a non-list {other}")),
            }
        }
        Some("index") => {
            let mut v = args[0].clone();
            for key in &args[1..] {
                v = match (v, key) {
                    (Some(Value::Object(o)), Some(Value::String(k))) => o.get(k).cloned(),
                    (Some(Value::Array(a)), Some(Value::Number(n))) => {
                        let i = n.as_u64().ok_or("negative index")? as usize;
                        Some(
                            a.get(i)
                                .cloned()
                                .ok_or_else(|| format!("index {i} out of range"))?,
                        )
                    }
                    (Some(Value::Null), _) | (None, _) => None,
                    (Some(other), _) => return Err(format!("cannot index {other}")),
                };
            }
            Ok(v.as_ref()
                .map(go_format)
                .unwrap_or_else(|| "<no value>".into()))
        }
        Some(other) => Err(format!("unknown function {other}")),
    }
}

/// Go's `%v` of the value docker's structs hold.
pub fn go_format(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_format).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            format!(
                "map[{}]",
                keys.iter()
                    .map(|k| format!("{k}:{}", go_format(&o[*k])))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().render(v).unwrap()
    }

    #[test]
    fn fields_and_functions() {
        let v = json!({"Os": "linux", "Config": {"Env": ["A=1", "B=2"], "Labels": {"k": "v", "a": "b"}, "Cmd": null}, "Size": 42});
        assert_eq!(render("{{.Os}}", &v), "linux");
        assert_eq!(
            render("os={{ .Os }} size={{.Size}}", &v),
            "os=linux size=42"
        );
        assert_eq!(render("{{.Config.Env}}", &v), "[A=1 B=2]");
        assert_eq!(render("{{.Config.Labels}}", &v), "map[a:b k:v]");
        assert_eq!(render("{{json .Config.Env}}", &v), r#"["A=1","B=2"]"#);
        assert_eq!(render("{{index .Config.Labels \"k\"}}", &v), "v");
        assert_eq!(render("{{index .Config.Env 1}}", &v), "B=2");
        assert_eq!(render("{{join .Config.Env \",\"}}", &v), "A=1,B=2");
        assert_eq!(render("{{len .Config.Env}}", &v), "2");
        assert_eq!(render("{{.Config.Cmd}}", &v), "<nil>");
        assert_eq!(render("{{.Nope.Deeper}}", &v), "<no value>");
        assert_eq!(render("{{json .}}", &json!({"a":1})), r#"{"a":1}"#);
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "{{.Os",
            "{{printf .Os}}",
            "{{.Os | json}}",
            "{{index .A}}",
            "{{}}",
            "{{json .A .B}}",
        ] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }
}

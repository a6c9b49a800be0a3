//! Finds where a field path points in JSON source text, so that errors found
//! after parsing (node id out of range, an unknown operation, …) can still
//! name a line and column.

/// One step of a field path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seg {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// Renders a path as `faults[2].groups[0]`.
pub fn render(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The 1-based (line, column) of the value at `path`, or of the deepest
/// enclosing value that exists (a defaulted field points at its parent).
pub fn locate(src: &str, path: &[Seg]) -> (usize, usize) {
    let b = src.as_bytes();
    let mut pos = skip_ws(b, 0);
    for seg in path {
        match find_child(b, pos, seg) {
            Some(p) => pos = p,
            None => break,
        }
    }
    line_col(src, pos)
}

fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = &src[..pos.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The members of the object starting at `pos`: (key, value start, value end).
fn members(b: &[u8], pos: usize) -> Option<Vec<(String, usize, usize)>> {
    if b.get(pos) != Some(&b'{') {
        return None;
    }
    let mut out = Vec::new();
    let mut i = skip_ws(b, pos + 1);
    while i < b.len() && b[i] == b'"' {
        let end = skip_string(b, i)?;
        let key: String = serde_json::from_slice(&b[i..end]).ok()?;
        i = skip_ws(b, end);
        if b.get(i) != Some(&b':') {
            return Some(out);
        }
        let start = skip_ws(b, i + 1);
        let Some(stop) = skip_value(b, start) else {
            out.push((key, start, b.len()));
            return Some(out);
        };
        out.push((key, start, stop));
        i = skip_ws(b, stop);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
    }
    Some(out)
}

/// Position of the child `seg` of the value starting at `pos`.
fn find_child(b: &[u8], pos: usize, seg: &Seg) -> Option<usize> {
    match (b.get(pos)?, seg) {
        (b'{', Seg::Key(want)) => members(b, pos)?
            .into_iter()
            .find(|(k, _, _)| k == want)
            .map(|(_, start, _)| start),
        (b'[', Seg::Index(want)) => {
            let mut i = skip_ws(b, pos + 1);
            let mut n = 0;
            while i < b.len() && b[i] != b']' {
                if n == *want {
                    return Some(i);
                }
                i = skip_ws(b, skip_value(b, i)?);
                if b.get(i) == Some(&b',') {
                    i = skip_ws(b, i + 1);
                }
                n += 1;
            }
            None
        }
        _ => None,
    }
}

/// The member of the object at `path` whose value holds the 1-based
/// (`line`, `col`) position (serde reports a position just past the bad
/// value). Used to name the field when serde could not (tagged enums).
pub fn member_at(src: &str, path: &[Seg], line: usize, col: usize) -> Option<String> {
    let b = src.as_bytes();
    let mut pos = skip_ws(b, 0);
    for seg in path {
        pos = find_child(b, pos, seg)?;
    }
    let offset = offset_of(src, line, col)?;
    members(b, pos)?
        .into_iter()
        .find(|(_, start, end)| *start < offset && offset <= *end + 1)
        .map(|(k, _, _)| k)
}

/// The path of the innermost object on `path` (the path itself when it
/// leads to an object, else its parent), rendered; `None` if `src` does
/// not parse.
pub fn object_path(src: &str, path: &[Seg]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(src).ok()?;
    let mut at = &v;
    let mut depth = 0;
    let mut last_object = 0;
    for seg in path {
        at = match (seg, at) {
            (Seg::Key(k), serde_json::Value::Object(o)) => o.get(k)?,
            (Seg::Index(i), serde_json::Value::Array(a)) => a.get(*i)?,
            _ => return None,
        };
        depth += 1;
        if at.is_object() {
            last_object = depth;
        }
    }
    Some(render(&path[..last_object]))
}

/// The member of the innermost object on `path` whose value serde would
/// describe as `desc` in an "invalid type" error (`string "x"`,
/// `integer `5``, `boolean `true``, `null`, `sequence`, `map`, …).
pub fn member_described(src: &str, path: &[Seg], desc: &str) -> Option<String> {
    use serde_json::Value as J;
    let v: J = serde_json::from_str(src).ok()?;
    let mut at = &v;
    let mut object = v.as_object();
    for seg in path {
        at = match (seg, at) {
            (Seg::Key(k), J::Object(o)) => o.get(k)?,
            (Seg::Index(i), J::Array(a)) => a.get(*i)?,
            _ => return None,
        };
        if let J::Object(o) = at {
            object = Some(o);
        }
    }
    let describe = |x: &J| match x {
        J::Null => "null".to_string(),
        J::Bool(b) => format!("boolean `{b}`"),
        J::Number(n) if n.is_u64() || n.is_i64() => format!("integer `{n}`"),
        J::Number(n) => format!("floating point `{n}`"),
        J::String(s) => format!("string {s:?}"),
        J::Array(_) => "sequence".to_string(),
        J::Object(_) => "map".to_string(),
    };
    object?
        .iter()
        .find(|(_, x)| describe(x) == desc)
        .map(|(k, _)| k.clone())
}

fn offset_of(src: &str, line: usize, col: usize) -> Option<usize> {
    let start: usize = src
        .split_inclusive('\n')
        .take(line.checked_sub(1)?)
        .map(str::len)
        .sum();
    let text = src.get(start..)?;
    let within: usize = text
        .chars()
        .take(col.saturating_sub(1))
        .map(char::len_utf8)
        .sum();
    Some(start + within)
}

/// Parses a path as serde_path_to_error renders it (`faults[0].groups[1]`).
pub fn parse_path(s: &str) -> Vec<Seg> {
    let mut out = Vec::new();
    for part in s.split('.') {
        let (name, rest) = part.split_once('[').map_or((part, ""), |(n, r)| (n, r));
        if !name.is_empty() {
            out.push(Seg::Key(name.to_string()));
        }
        for idx in rest.split('[') {
            if let Ok(i) = idx.trim_end_matches(']').parse() {
                out.push(Seg::Index(i));
            }
        }
    }
    out
}

fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    i += 1;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            while j < b.len() {
                match b[j] {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            None
        }
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']') && !b[j].is_ascii_whitespace()
            {
                j += 1;
            }
            Some(j)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(s: &str) -> Seg {
        Seg::Key(s.into())
    }

    #[test]
    fn finds_nested_values() {
        let src = "{\n  \"a\": 1,\n  \"faults\": [\n    {\"x\": \"}\", \"node\": 9},\n    {\"node\": 7}\n  ]\n}";
        assert_eq!(locate(src, &[k("a")]), (2, 8));
        assert_eq!(
            locate(src, &[k("faults"), Seg::Index(1), k("node")]),
            (5, 14)
        );
        assert_eq!(
            locate(src, &[k("faults"), Seg::Index(0), k("node")]),
            (4, 24)
        );
        // Missing members point at the deepest existing parent.
        assert_eq!(locate(src, &[k("faults"), Seg::Index(1), k("zzz")]), (5, 5));
        assert_eq!(
            render(&[k("faults"), Seg::Index(1), k("node")]),
            "faults[1].node"
        );
    }

    #[test]
    fn names_the_member_at_a_position() {
        let src = "{\"faults\": [{\"kind\": \"heal\", \"at_ms\": -5}]}";
        // serde_json reports the column just past `-5`.
        let col = src.find("-5").unwrap() + 3;
        let path = parse_path("faults[0]");
        assert_eq!(path, vec![k("faults"), Seg::Index(0)]);
        assert_eq!(member_at(src, &path, 1, col).as_deref(), Some("at_ms"));
        assert_eq!(
            parse_path("a.b[2][3]"),
            vec![k("a"), k("b"), Seg::Index(2), Seg::Index(3)]
        );
    }
}

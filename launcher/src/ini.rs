//! The INI files of vsc-zk (`zkrs.conf`, zkinitree's config), read as Python's
//! ConfigParser reads them: `[section]` headers, `key = value` or `key: value`, keys in lower
//! case, `#` and `;` comment lines, blank lines; every entry keeps its line for messages.

/// One `key = value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key, in lower case.
    pub key: String,
    /// The value, trimmed.
    pub value: String,
    /// Its line in the file (from 1).
    pub line: usize,
}

/// One `[section]` and its entries, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name between the brackets, as written.
    pub name: String,
    /// The header's line.
    pub line: usize,
    /// Its entries.
    pub entries: Vec<Entry>,
}

impl Section {
    /// The last value given for `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }
}

/// Parses `text`; `file` names it in errors, which name the line.
pub fn parse(text: &str, file: &str) -> Result<Vec<Section>, String> {
    let mut sections: Vec<Section> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let name = rest.strip_suffix(']').ok_or_else(|| {
                format!("{file} line {line}: {trimmed:?} opens a section without closing it: write [name]")
            })?;
            if sections.iter().any(|s| s.name == name) {
                return Err(format!(
                    "{file} line {line}: section [{name}] is given twice: merge the two"
                ));
            }
            sections.push(Section {
                name: name.to_owned(),
                line,
                entries: Vec::new(),
            });
            continue;
        }
        let at = trimmed
            .find(['=', ':'])
            .ok_or_else(|| format!("{file} line {line}: {trimmed:?} is not key=value"))?;
        let (key, value) = (&trimmed[..at], &trimmed[at + 1..]);
        let key = key.trim().to_ascii_lowercase();
        if key.is_empty() {
            return Err(format!(
                "{file} line {line}: {trimmed:?} has no key before '='"
            ));
        }
        let section = sections.last_mut().ok_or_else(|| {
            format!(
                "{file} line {line}: {key} is outside any section: put a [section] header above it"
            )
        })?;
        section.entries.push(Entry {
            key,
            value: value.trim().to_owned(),
            line,
        });
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_keys_and_lines() {
        let text =
            "# c\n[MAIN]\nServers = a:1,b:2\n; c\ndepth: 3\n\n[/admin/rsync]\nrwcd=rsync\nr =\n";
        let s = parse(text, "f").unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name, "MAIN");
        assert_eq!(s[0].get("servers").unwrap().value, "a:1,b:2");
        assert_eq!(s[0].get("depth").unwrap().line, 5);
        assert_eq!(s[1].name, "/admin/rsync");
        assert_eq!(s[1].entries[1].value, "");
    }

    #[test]
    fn errors_name_the_line() {
        for (text, want) in [
            ("[a\n", "f line 1: \"[a\" opens a section"),
            ("x=1\n", "f line 1: x is outside any section"),
            ("[a]\nnothing\n", "f line 2: \"nothing\" is not key=value"),
            ("[a]\n[a]\n", "f line 2: section [a] is given twice"),
            ("[a]\n=1\n", "f line 2: \"=1\" has no key"),
        ] {
            let e = parse(text, "f").unwrap_err();
            assert!(e.starts_with(want), "{e}");
        }
    }
}

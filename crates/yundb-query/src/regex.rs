//! MongoDB regexes (PCRE syntax and flags) on the `regex` crate.
//!
//! The pattern is translated so that it means what PCRE means: `\d \w \s \b` are ASCII, `$`
//! (without `m`) also matches before a final newline, `\Z` likewise, `\Q..\E` quotes, and the
//! `x` flag ignores white space and `#` comments outside character classes only. PCRE syntax the
//! `regex` crate cannot run (look-around, back-references) and syntax PCRE rejects (`\u`, `\U`,
//! `\L`, `\l`, `\N{..}`) are compile errors.

use std::fmt::Write as _;

/// A compiled MongoDB regex.
#[derive(Debug, Clone)]
pub struct MongoRegex {
    pattern: String,
    options: String,
    regex: regex::Regex,
}

impl PartialEq for MongoRegex {
    fn eq(&self, other: &Self) -> bool {
        self.pattern == other.pattern && self.options == other.options
    }
}

impl MongoRegex {
    /// Compiles `pattern` with MongoDB `options` (`i`, `m`, `s`, `x`, `u`).
    pub fn new(pattern: &str, options: &str) -> Result<MongoRegex, String> {
        let (mut i, mut m, mut s, mut x) = (false, false, false, false);
        for flag in options.chars() {
            match flag {
                'i' => i = true,
                'm' => m = true,
                's' => s = true,
                'x' => x = true,
                'u' => {}
                other => return Err(format!("invalid flag in regex options: {other}")),
            }
        }
        let translated = translate(pattern, m, x)?;
        let regex = regex::RegexBuilder::new(&translated)
            .case_insensitive(i)
            .multi_line(m)
            .dot_matches_new_line(s)
            .size_limit(1 << 22)
            .build()
            .map_err(|e| match e {
                regex::Error::Syntax(msg) => {
                    if pattern.contains("(?=")
                        || pattern.contains("(?!")
                        || pattern.contains("(?<=")
                        || pattern.contains("(?<!")
                    {
                        "look-around is not supported by yundb's regex engine".to_owned()
                    } else {
                        msg.lines()
                            .last()
                            .unwrap_or("invalid regular expression")
                            .trim()
                            .to_owned()
                    }
                }
                other => other.to_string(),
            })?;
        Ok(MongoRegex {
            pattern: pattern.to_owned(),
            options: options.to_owned(),
            regex,
        })
    }

    /// Whether the regex matches somewhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The options as given.
    pub fn options(&self) -> &str {
        &self.options
    }
}

const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = "\\t\\n\\x0B\\x0C\\r ";

fn translate(pattern: &str, multiline: bool, extended: bool) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    let mut class_start = false;
    while let Some(c) = chars.next() {
        let at_class_start = class_start;
        class_start = false;
        match c {
            '\\' => {
                let Some(e) = chars.next() else {
                    return Err("\\ at end of pattern".into());
                };
                match e {
                    'd' | 'w' | 's' => {
                        let set = class_body(e);
                        if in_class {
                            out.push_str(set);
                        } else {
                            let _ = write!(out, "[{set}]");
                        }
                    }
                    'D' | 'W' | 'S' => {
                        let _ = write!(out, "[^{}]", class_body(e.to_ascii_lowercase()));
                    }
                    'b' if !in_class => out.push_str("(?-u:\\b)"),
                    'B' if !in_class => out.push_str("(?-u:\\B)"),
                    'Z' if !in_class => out.push_str("(?:\\n?\\z)"),
                    'Q' => {
                        // Quote until \E (or the end).
                        let mut quoted = String::new();
                        while let Some(q) = chars.next() {
                            if q == '\\' && chars.peek() == Some(&'E') {
                                chars.next();
                                break;
                            }
                            quoted.push(q);
                        }
                        out.push_str(&regex::escape(&quoted));
                    }
                    'E' => {}
                    'u' | 'U' | 'L' | 'l' | 'N' => {
                        return Err("PCRE does not support \\L, \\l, \\N{name}, \\U, or \\u".into())
                    }
                    '1'..='9' if !in_class => {
                        return Err(
                            "back-references are not supported by yundb's regex engine".into()
                        )
                    }
                    _ => {
                        out.push('\\');
                        out.push(e);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
                // A `]` right after `[` or `[^` is a literal in PCRE.
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push_str("\\]");
                }
            }
            '[' if in_class => {
                // POSIX classes like [:alpha:] pass through; a lone `[` is literal in PCRE.
                if chars.peek() == Some(&':') {
                    out.push('[');
                } else {
                    out.push_str("\\[");
                }
            }
            ']' if in_class && !at_class_start => {
                in_class = false;
                out.push(']');
            }
            '$' if !in_class && !multiline => out.push_str("(?:\\n?\\z)"),
            '#' if extended && !in_class => {
                for n in chars.by_ref() {
                    if n == '\n' {
                        break;
                    }
                }
            }
            c if extended && !in_class && c.is_ascii_whitespace() => {}
            '&' | '~' | '-' if in_class && chars.peek() == Some(&c) => {
                // The regex crate gives `&&`, `~~` and `--` meanings PCRE does not have.
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    if in_class {
        return Err("missing terminating ] for character class".into());
    }
    Ok(out)
}

fn class_body(kind: char) -> &'static str {
    match kind {
        'd' => DIGIT,
        'w' => WORD,
        _ => SPACE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, o: &str, t: &str) -> bool {
        MongoRegex::new(p, o).unwrap().is_match(t)
    }

    #[test]
    fn pcre_meanings() {
        assert!(!m("^\\d$", "", "٣"), "\\d is ASCII");
        assert!(m("^\\w+$", "", "abc_1"));
        assert!(!m("^\\w+$", "", "é"));
        assert!(m("a$", "", "a\n"), "$ matches before a final newline");
        assert!(!m("a$", "", "a\nb"));
        assert!(m("a$", "m", "a\nb"));
        assert!(m("\\Qa.b\\E", "", "a.b"));
        assert!(!m("\\Qa.b\\E", "", "axb"));
        assert!(m("a b # comment\n c", "x", "abc"));
        assert!(m("[ ]", "x", " "), "x keeps white space in classes");
        assert!(m("[]a]", "", "]"));
        assert!(m("[a-c]", "", "b"));
        assert!(m("[\\d-]", "", "-"));
        assert!(m("ÉCOLE", "i", "école"));
        assert!(m("a.b", "s", "a\nb"));
        assert!(!m("a.b", "", "a\nb"));
    }

    #[test]
    fn rejects_what_pcre_or_the_engine_rejects() {
        for (p, o) in [
            ("^(a|b", ""),
            ("*a", ""),
            ("caf\\u00e9", ""),
            ("[^]", ""),
            ("(?=a)", ""),
            ("(.)\\1", ""),
            ("a", "g"),
            ("a", "iy"),
        ] {
            assert!(MongoRegex::new(p, o).is_err(), "{p} /{o}");
        }
    }
}

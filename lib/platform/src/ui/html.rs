//! HTML building blocks: escaping, the page layout, tables, forms and inline SVG charts. Every
//! text that did not come from this file goes through [`esc`].

use std::fmt::Write;

use serde_json::Value;

/// `s` escaped for HTML text and double-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query or path component.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A JSON value as display text (strings unquoted, null empty).
pub fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Epoch seconds or milliseconds as an RFC 3339 time (seconds precision).
pub fn time(v: &Value) -> String {
    let Some(n) = v.as_i64() else { return text(v) };
    let secs = if n > 100_000_000_000 { n / 1000 } else { n };
    jiff::Timestamp::from_second(secs).map(|t| t.to_string()).unwrap_or_else(|_| n.to_string())
}

/// The navigation entries: (path, label, admin only).
pub const NAV: &[(&str, &str, bool)] = &[
    ("/", "Overview", false),
    ("/catalog", "Catalog", false),
    ("/governance", "Governance", false),
    ("/agents", "Agents", false),
    ("/analytics", "Analytics", false),
    ("/events", "Events", false),
    ("/replay", "Replay", false),
    ("/keys", "API keys", false),
    ("/teams", "Teams", false),
    ("/admin", "Admin", true),
];

/// Who is looking at a page (for the header).
pub struct Viewer<'a> {
    /// Email.
    pub email: &'a str,
    /// Platform administrator.
    pub admin: bool,
    /// The CSRF token of the sign-in.
    pub csrf: &'a str,
}

/// A whole page.
pub fn page(title: &str, active: &str, viewer: Option<&Viewer<'_>>, body: &str) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · MCP Runtime</title>\
         <link rel=\"stylesheet\" href=\"/ui/assets/app.css\">\
         <script src=\"/ui/assets/app.js\" defer></script></head><body>",
        esc(title)
    );
    out.push_str("<header class=\"top\"><a class=\"brand\" href=\"/\">MCP Runtime</a>");
    if let Some(v) = viewer {
        out.push_str("<nav aria-label=\"Main\"><ul>");
        for (path, label, admin_only) in NAV {
            if *admin_only && !v.admin {
                continue;
            }
            let current = if *path == active { " aria-current=\"page\"" } else { "" };
            let _ = write!(out, "<li><a href=\"{path}\"{current}>{label}</a></li>");
        }
        out.push_str("</ul></nav>");
        let _ = write!(
            out,
            "<div class=\"who\"><span>{}</span>{}<form method=\"post\" action=\"/signout\">{}\
             <button type=\"submit\" class=\"link\">Sign out</button></form></div>",
            esc(v.email),
            if v.admin { " <span class=\"badge\">admin</span>" } else { "" },
            csrf_field(v.csrf)
        );
    }
    let _ = write!(out, "</header><main id=\"main\"><h1>{}</h1>{body}</main></body></html>", esc(title));
    out
}

/// The hidden CSRF input of a form.
pub fn csrf_field(token: &str) -> String {
    format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(token))
}

/// A POST form of one button (plus hidden fields).
pub fn button_form(action: &str, csrf: &str, label: &str, hidden: &[(&str, &str)], class: &str) -> String {
    let mut out =
        format!("<form method=\"post\" action=\"{}\" class=\"inline\">{}", esc(action), csrf_field(csrf));
    for (k, v) in hidden {
        let _ = write!(out, "<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v));
    }
    let _ = write!(out, "<button type=\"submit\" class=\"{}\">{}</button></form>", esc(class), esc(label));
    out
}

/// A table: headers and rows of already-escaped cells.
pub fn table(caption: &str, headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = String::from("<div class=\"scroll\"><table>");
    if !caption.is_empty() {
        let _ = write!(out, "<caption>{}</caption>", esc(caption));
    }
    out.push_str("<thead><tr>");
    for h in headers {
        let _ = write!(out, "<th scope=\"col\">{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    if rows.is_empty() {
        let _ = write!(
            out,
            "<tr><td colspan=\"{}\" class=\"empty\">Nothing yet.</td></tr>",
            headers.len().max(1)
        );
    }
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table></div>");
    out
}

/// A labelled text input.
pub fn input(name: &str, label: &str, value: &str, kind: &str, required: bool) -> String {
    format!(
        "<label>{}<input type=\"{}\" name=\"{}\" value=\"{}\"{}></label>",
        esc(label),
        esc(kind),
        esc(name),
        esc(value),
        if required { " required" } else { "" }
    )
}

/// A labelled textarea.
pub fn textarea(name: &str, label: &str, value: &str, rows: u32) -> String {
    format!(
        "<label>{}<textarea name=\"{}\" rows=\"{rows}\" spellcheck=\"false\">{}</textarea></label>",
        esc(label),
        esc(name),
        esc(value)
    )
}

/// A labelled select.
pub fn select(name: &str, label: &str, options: &[String], selected: &str) -> String {
    let mut out = format!("<label>{}<select name=\"{}\">", esc(label), esc(name));
    for o in options {
        let sel = if o == selected { " selected" } else { "" };
        let _ = write!(out, "<option{sel}>{}</option>", esc(o));
    }
    out.push_str("</select></label>");
    out
}

/// A notice box (`ok` or `error`).
pub fn notice(kind: &str, message: &str) -> String {
    format!("<p class=\"notice {}\" role=\"status\">{}</p>", esc(kind), esc(message))
}

/// A status badge.
pub fn badge(text: &str, kind: &str) -> String {
    format!("<span class=\"badge {}\">{}</span>", esc(kind), esc(text))
}

// ---- charts (inline SVG, no script) ----------------------------------------------------------

const W: f64 = 720.0;
const H: f64 = 220.0;
const PAD: f64 = 36.0;

fn nice_max(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(max.log10().floor());
    for step in [1.0, 2.0, 5.0, 10.0] {
        if step * mag >= max {
            return step * mag;
        }
    }
    10.0 * mag
}

/// Stacked columns over time: `(label, [(series value)])` with series names and classes.
pub fn stacked_columns(title: &str, points: &[(String, Vec<f64>)], series: &[(&str, &str)]) -> String {
    let max = nice_max(points.iter().map(|(_, v)| v.iter().sum::<f64>()).fold(0.0, f64::max));
    let n = points.len().max(1) as f64;
    let slot = (W - PAD * 2.0) / n;
    let bar = (slot * 0.8).max(1.0);
    let mut out = format!(
        "<figure class=\"chart\"><svg viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
        esc(title),
        esc(title)
    );
    axes(&mut out, max);
    for (i, (label, values)) in points.iter().enumerate() {
        let x = PAD + slot * i as f64 + (slot - bar) / 2.0;
        let mut y = H - PAD;
        for (j, v) in values.iter().enumerate() {
            let h = (v / max) * (H - PAD * 2.0);
            if h > 0.0 {
                y -= h;
                let class = series.get(j).map(|s| s.1).unwrap_or("s0");
                let name = series.get(j).map(|s| s.0).unwrap_or("");
                let _ = write!(
                    out,
                    "<rect class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\">\
                     <title>{}: {} {}</title></rect>",
                    esc(label),
                    v,
                    esc(name)
                );
            }
        }
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            out,
            "<text x=\"{PAD}\" y=\"{}\" class=\"tick\">{}</text>\
             <text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"end\">{}</text>",
            H - 8.0,
            esc(&first.0),
            W - PAD,
            H - 8.0,
            esc(&last.0)
        );
    }
    let _ = write!(out, "</svg><figcaption>{}:", esc(title));
    for (name, class) in series {
        let _ = write!(out, " <span class=\"key {class}\">{}</span>", esc(name));
    }
    out.push_str("</figcaption></figure>");
    out
}

fn axes(out: &mut String, max: f64) {
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{PAD}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>\
         <line class=\"axis\" x1=\"{PAD}\" y1=\"{PAD}\" x2=\"{PAD}\" y2=\"{}\"/>\
         <text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"end\">{max}</text>\
         <text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"end\">0</text>",
        H - PAD,
        W - PAD,
        H - PAD,
        H - PAD,
        PAD - 4.0,
        PAD + 4.0,
        PAD - 4.0,
        H - PAD
    );
}

/// Horizontal bars: `(label, value)`, one class for all.
pub fn bars(title: &str, rows: &[(String, f64)], class: &str, unit: &str) -> String {
    let max = nice_max(rows.iter().map(|r| r.1).fold(0.0, f64::max));
    let row_h = 24.0;
    let label_w = 220.0;
    let h = (rows.len().max(1) as f64) * row_h + 16.0;
    let mut out = format!(
        "<figure class=\"chart\"><svg viewBox=\"0 0 {W} {h}\" role=\"img\" aria-label=\"{}\" \
         xmlns=\"http://www.w3.org/2000/svg\"><title>{}</title>",
        esc(title),
        esc(title)
    );
    if rows.is_empty() {
        out.push_str("<text x=\"8\" y=\"20\" class=\"tick\">No data in this window.</text>");
    }
    for (i, (label, v)) in rows.iter().enumerate() {
        let y = 8.0 + row_h * i as f64;
        let w = (v / max) * (W - label_w - 80.0);
        let shown: String = label.chars().take(32).collect();
        let _ = write!(
            out,
            "<text x=\"{}\" y=\"{}\" class=\"tick\" text-anchor=\"end\">{}</text>\
             <rect class=\"{class}\" x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\"><title>{}: {v}{unit}</title></rect>\
             <text x=\"{}\" y=\"{}\" class=\"tick\">{}{}</text>",
            label_w - 6.0,
            y + 15.0,
            esc(&shown),
            row_h - 6.0,
            esc(label),
            label_w + w + 6.0,
            y + 15.0,
            round(*v),
            esc(unit)
        );
    }
    let _ = write!(out, "</svg><figcaption>{}</figcaption></figure>", esc(title));
    out
}

/// A number with at most one decimal.
pub fn round(v: f64) -> String {
    if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        assert_eq!(enc("a b/c"), "a%20b%2Fc");
    }

    #[test]
    fn charts_are_svg_without_script() {
        let svg =
            stacked_columns("calls", &[("a".into(), vec![1.0, 2.0])], &[("allow", "s1"), ("deny", "s2")]);
        assert!(svg.contains("<svg") && !svg.contains("<script"));
        let svg = bars("<x>", &[("t<".into(), 3.5)], "s1", " ms");
        assert!(svg.contains("t&lt;") && !svg.contains("<x>"));
    }
}

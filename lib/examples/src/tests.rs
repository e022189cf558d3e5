use crate::tools::{format_number, release_note, slugify};
use crate::{TOOL_NAMES, tools};

#[test]
fn slugify_collapses_separators() {
    assert_eq!(slugify("Hello World"), "hello-world");
    assert_eq!(slugify("  Hello,   World!  "), "hello-world");
    assert_eq!(slugify("MCP Runtime 2.0"), "mcp-runtime-2-0");
    assert_eq!(slugify("---"), "");
}

#[test]
fn sums_print_without_a_trailing_fraction() {
    assert_eq!(format_number(7.0 + 5.0), "12");
    assert_eq!(format_number(40.0 + 2.0), "42");
    assert_eq!(format_number(1.0 + 0.5), "1.5");
    assert_eq!(format_number(-3.0 + 1.0), "-2");
}

#[test]
fn release_note_lists_changes() {
    let note = release_note("1.2.0", &["fast reload".to_owned(), "  fewer allocs ".to_owned()]);
    assert_eq!(note, "Release 1.2.0\n\n- fast reload\n- fewer allocs");
    assert_eq!(release_note("1.2.1", &[]), "Release 1.2.1\n\n- No notable changes.");
}

#[test]
fn tool_definitions_match_the_published_names() {
    let names: Vec<String> = tools().iter().map(|tool| tool.name.to_string()).collect();
    assert_eq!(names, TOOL_NAMES);
    for tool in tools() {
        assert_eq!(tool.input_schema.get("type").and_then(|t| t.as_str()), Some("object"), "{}", tool.name);
        assert!(tool.description.is_some(), "{} has no description", tool.name);
    }
}

//! Each case's expected reading was checked against Docker Engine 20.10's
//! classic builder (`docker build` on a tiny context): which steps it runs.

use super::*;

fn images(text: &str) -> Vec<String> {
    from_instructions(text)
        .into_iter()
        .map(|f| f.image)
        .collect()
}

#[test]
fn reads_from_lines() {
    let text = "# syntax=docker/dockerfile:1\n\
                ARG BASE=debian\n\
                FROM --platform=$BUILDPLATFORM acme/base:1 AS build\n\
                # a comment\n\
                RUN make\n\
                from \\\n  # comment inside\n  acme/runtime:2 \\\n  as Final\n\
                FROM ${BASE}:12\n";
    let froms = from_instructions(text);
    assert_eq!(
        froms,
        vec![
            From {
                image: "acme/base:1".into(),
                stage: Some("build".into()),
                line: 3
            },
            From {
                image: "acme/runtime:2".into(),
                stage: Some("Final".into()),
                line: 6
            },
            From {
                image: "${BASE}:12".into(),
                stage: None,
                line: 10
            },
        ]
    );
}

#[test]
fn escape_directive_changes_continuation() {
    let text = "# escape=`\nFROM `\n  acme/win:1\nRUN dir C:\\\nFROM acme/two\n";
    assert_eq!(images(text), ["acme/win:1", "acme/two"]);
}

#[test]
fn continuation_joins_parts_as_they_are() {
    // The engine runs `RUN echo ab` and then `FROM other` here.
    let text = "FROM base\nRUN echo a\\\nb\nFR\\\nOM other\n";
    let all = instructions(text, Heredocs::Lines);
    assert_eq!(all[1].args, "echo ab");
    assert_eq!(images(text), ["base", "other"]);
    assert_eq!(from_instructions(text)[1].line, 4);
}

#[test]
fn spaces_after_the_escape_still_continue() {
    let text = "RUN echo a \\  \t\n  b\n";
    let all = instructions(text, Heredocs::Lines);
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].args, "echo a   b");
}

#[test]
fn comments_and_blank_lines_inside_a_continuation_are_dropped() {
    // The engine runs `RUN echo a   b` for both.
    for text in ["RUN echo a \\\n# FROM x\n  b\n", "RUN echo a \\\n\n  b\n"] {
        let all = instructions(text, Heredocs::Lines);
        assert_eq!(all.len(), 1, "{text:?}");
        assert_eq!(all[0].args, "echo a   b", "{text:?}");
    }
}

#[test]
fn directives_only_at_the_top() {
    // After a comment or instruction, `# escape=` is only a comment.
    let late = "# hello\n# escape=`\nRUN echo `\nFROM x\n";
    assert_eq!(images(late), ["x"]);
    let after_blank = "\n# escape=`\nRUN echo `\nFROM x\n";
    assert_eq!(images(after_blank), ["x"]);
    // At the top, with spaces and in any case, it is a directive.
    let top = "#  ESCAPE = `\nRUN echo `\nFROM x\n";
    assert_eq!(images(top), Vec::<String>::new());
    // An unknown directive ends the directives.
    let unknown = "# foo=bar\n# escape=`\nRUN echo `\nFROM x\n";
    assert_eq!(images(unknown), ["x"]);
    // A byte-order mark does not hide a directive.
    let bom = "\u{feff}# escape=`\nRUN echo `\nFROM x\n";
    assert_eq!(images(bom), Vec::<String>::new());
}

#[test]
fn heredocs_are_bodies_for_buildkit_and_lines_for_the_classic_builder() {
    let text = "RUN <<EOF\necho hi\nFROM other\nEOF\nRUN true\n";
    assert!(from_instructions(text).is_empty());
    let classic = froms(text, Heredocs::Lines);
    assert_eq!(classic[0].image, "other");
    assert_eq!(first_from_any_reading(text).map(|f| f.line), Some(3));
    // `<<-` strips leading tabs from the terminator; quoted names work.
    let dash = "RUN <<-\"END\" cat\n\tFROM x\n\tEND\nFROM after\n";
    assert_eq!(images(dash), ["after"]);
    // Two heredocs on one line are read one after the other.
    let two = "COPY <<A <<B /dst/\nFROM a\nA\nFROM b\nB\nFROM c\n";
    assert_eq!(images(two), ["c"]);
    // A here-string is not a heredoc.
    let here_string = "RUN cat <<<word\nFROM x\n";
    assert_eq!(images(here_string), ["x"]);
}

#[test]
fn a_test_from_is_found_under_every_reading() {
    assert!(first_from_any_reading("RUN true\nCOPY a /b\n").is_none());
    assert_eq!(
        first_from_any_reading("RUN true\nFR\\\nOM other\n").map(|f| f.image),
        Some("other".into())
    );
    // Behind a lost escape directive, a backtick does not continue a line.
    let escaped = "# escape=`\nRUN echo hi `\nFROM other\n";
    assert!(from_instructions(escaped).is_empty());
    assert_eq!(first_from_any_reading(escaped).map(|f| f.line), Some(3));
    // Text mentioning FROM inside an instruction is not a FROM.
    assert!(first_from_any_reading("RUN echo FROM x\n").is_none());
}

#[test]
fn layer_on_keeps_directives_first() {
    let test = "# escape=`\nRUN echo `\n  hi\n";
    let composed = layer_on("sha256:abc", test);
    assert_eq!(composed, "# escape=`\nFROM sha256:abc\nRUN echo `\n  hi\n");
    // The engine's reading of what it is given: one FROM, the base.
    assert_eq!(images(&composed), ["sha256:abc"]);
    assert_eq!(layer_on("id", "RUN x"), "FROM id\nRUN x\n");
}

#[test]
fn base_images_skip_stages_and_scratch() {
    let text = "FROM a AS one\nFROM one\nFROM scratch\nFROM b\nFROM a\n";
    assert_eq!(base_images(text), ["a", "b"]);
}

#[test]
fn final_base_follows_stages() {
    let text = "FROM acme/base AS build\nFROM build AS test\nFROM test\n";
    assert_eq!(final_base(text).as_deref(), Some("acme/base"));
    assert_eq!(final_base("FROM scratch\n"), None);
    assert_eq!(final_base("RUN x\n"), None);
}

#[test]
fn line_span_covers_the_line() {
    let text = "# c\nRUN x\nFROM a\n";
    let span = line_span(text, 3);
    assert_eq!(&text[span.offset()..span.offset() + span.len()], "FROM a");
}

#[test]
fn rename_bases_rewrites_images_not_stages() {
    use std::collections::BTreeMap;
    let text = "FROM acme/base:1 AS build\nRUN make\nFROM --platform=$TARGETPLATFORM acme/base:1\nCOPY --from=build /out /\nFROM build\n";
    let map = BTreeMap::from([
        (
            "acme/base:1".to_string(),
            "acme/base:1-linux-arm64".to_string(),
        ),
        ("build".to_string(), "nope".to_string()),
    ]);
    let out = rename_bases(text, &map).unwrap();
    assert_eq!(
        out,
        "FROM acme/base:1-linux-arm64 AS build\nRUN make\nFROM --platform=$TARGETPLATFORM acme/base:1-linux-arm64\nCOPY --from=build /out /\nFROM build\n"
    );
    let split = "FROM \\\n  acme/base:1\n";
    let err = rename_bases(split, &map).unwrap_err().to_string();
    assert!(err.contains("line 1"), "{err}");
}

#[test]
fn from_lines_are_read_with_the_build_arguments_as_the_engine_reads_them() {
    use std::collections::BTreeMap;
    let text = "ARG TARGETARCH=amd64 FLAVOUR\nARG LATER\nFROM debian:bookworm-${TARGETARCH}\nARG NOT_GLOBAL=x\nFROM tool:$FLAVOUR AS t\nFROM t\n";
    let none = BTreeMap::new();
    assert_eq!(
        base_images_with(text, &none),
        ["debian:bookworm-amd64", "tool:"]
    );
    let args = BTreeMap::from([
        ("TARGETARCH".to_string(), "arm64".to_string()),
        ("FLAVOUR".to_string(), "slim".to_string()),
        ("NOT_GLOBAL".to_string(), "y".to_string()),
    ]);
    assert_eq!(
        base_images_with(text, &args),
        ["debian:bookworm-arm64", "tool:slim"]
    );
    // Without variables, the same as base_images.
    assert_eq!(base_images_with("FROM a:1\n", &args), ["a:1"]);
}

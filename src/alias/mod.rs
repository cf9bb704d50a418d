//! Alias rules: tag templates evaluated over every image; the newest wins.
//!
//! A rule such as `{tag: "node:{{ major }}", when: "variant.default"}` is
//! rendered against each image's facts. Every image a tag renders for is a
//! candidate for it, newest version first; the executor gives the tag to the
//! first candidate whose tests passed, so a broken newest release does not
//! leave the tag dangling or pointing at a failed image.

mod compute;
pub mod value;

pub use crate::config::alias_rule::AliasRule;
pub use compute::compute;

/// One image an alias rule is evaluated for.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The image's full name, such as `nodesource/jessie:4.4.7`.
    pub image: crate::reference::ImageRef,
    /// The version the image packages; orders the candidates of a tag.
    pub version: semver::Version,
    /// The image's facts (an object): release facts merged with axis facts.
    pub facts: serde_json::Value,
}

/// Why alias rules could not be evaluated. Each names the rule (by its tag
/// template) and, where there is one, the image it was evaluated for.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AliasError {
    /// The tag template or `when` expression does not compile.
    #[error("alias rule `{rule}`: {message}")]
    Syntax { rule: String, message: String },
    /// The rule refers to a fact the image does not have.
    #[error(
        "alias rule `{rule}` uses `{field}`, which image {image} does not have (facts: {known})"
    )]
    Undefined {
        rule: String,
        field: String,
        image: String,
        known: String,
    },
    /// Rendering or evaluating failed for another reason.
    #[error("alias rule `{rule}` failed for image {image}: {message}")]
    Render {
        rule: String,
        image: String,
        message: String,
    },
    /// The rendered alias is not a valid image reference.
    #[error("alias rule `{rule}` renders `{tag}` for image {image}, which is not a valid image reference: {reason}")]
    InvalidTag {
        rule: String,
        tag: String,
        image: String,
        reason: String,
    },
    /// Two images of the same version compete for one tag: "newest" cannot
    /// choose, so the rule is ambiguous (usually a missing axis in the tag).
    #[error("alias `{tag}` (rule `{rule}`) would go to both {first} and {second}, which have the same version {version}; add what tells them apart (such as the OS or variant) to the tag, or a `when` condition")]
    Ambiguous {
        tag: String,
        rule: String,
        first: String,
        second: String,
        version: String,
    },
    /// An alias would overwrite an image's own tag.
    #[error("alias rule `{rule}` renders `{tag}`, which is the name of an image of this plan; an alias must not overwrite an image")]
    TagIsImage { rule: String, tag: String },
    /// A candidate's facts are not a JSON object.
    #[error("image {image}: its facts must be an object")]
    FactsNotObject { image: String },
}

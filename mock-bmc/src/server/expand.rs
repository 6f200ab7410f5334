//! The `$expand` query option: inlining the resources that references point to.
//!
//! Redfish (DSP0266, "Query parameters") defines three forms, each with `($levels=N)`:
//! `*` expands every reference, `.` only those outside `Links` sections (subordinate
//! resources), and `~` only those inside `Links` sections. A reference is an object whose only
//! property is `@odata.id`.

use std::collections::HashSet;

use serde_json::Value;

/// The largest `$levels` this mock accepts. A mockup whose service root advertises a smaller
/// `ExpandQuery.MaxLevels` gets that limit instead (see [`max_levels`]).
pub(crate) const MAX_LEVELS: u32 = 3;

/// Stop inlining after this many resources in one response, so `*` on a tree whose `Links`
/// form cycles cannot build a response of unbounded size.
const MAX_INLINED: usize = 10_000;

/// The set of references that an `$expand` request inlines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ExpandMode {
    /// `*`: every reference.
    All,
    /// `.`: references outside `Links` sections.
    Subordinate,
    /// `~`: references inside `Links` sections.
    Links,
}

/// A parsed `$expand` option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Expand {
    pub mode: ExpandMode,
    /// Levels of references to inline, from 1 to the BMC's limit.
    pub levels: u32,
}

/// Returns the deepest `$levels` that a BMC serving a mockup with service root `root`
/// accepts. That is the root's `ExpandQuery.MaxLevels` where it states one, as the real BMC
/// it was captured from does (1 on iDRAC 9 and iLO 5, 2 on XCC and Supermicro X13), at most
/// [`MAX_LEVELS`].
pub(crate) fn max_levels(root: Option<&Value>) -> u32 {
    root.and_then(|root| root.pointer("/ProtocolFeaturesSupported/ExpandQuery/MaxLevels"))
        .and_then(Value::as_u64)
        .map_or(MAX_LEVELS, |levels| levels.clamp(1, u64::from(MAX_LEVELS)) as u32)
}

impl Expand {
    /// Parses a decoded `$expand` value such as `.`, `*($levels=2)` or `~`, accepting
    /// `$levels` from 1 to `max_levels`.
    ///
    /// The error is the message for a 400 response. The second field of the error is true
    /// when the value is well formed but `$levels` is out of range.
    pub fn parse(value: &str, max_levels: u32) -> Result<Expand, (String, bool)> {
        let format_error = || {
            (
                format!(
                    "The value {value} for the query parameter $expand is not `*`, `.` or `~`, optionally followed by `($levels=N)`."
                ),
                false,
            )
        };
        let mut chars = value.chars();
        let mode = match chars.next() {
            Some('*') => ExpandMode::All,
            Some('.') => ExpandMode::Subordinate,
            Some('~') => ExpandMode::Links,
            _ => return Err(format_error()),
        };

        let rest = chars.as_str();
        let levels = if rest.is_empty() {
            1
        } else {
            rest.strip_prefix("($levels=")
                .and_then(|levels| levels.strip_suffix(')'))
                .and_then(|levels| levels.parse::<u32>().ok())
                .ok_or_else(format_error)?
        };
        if !(1..=max_levels).contains(&levels) {
            let message = format!(
                "The value {levels} for $levels is out of range: this service expands 1 to {max_levels} levels."
            );
            return Err((message, true));
        }
        Ok(Expand { mode, levels })
    }
}

/// Replaces the references in `resource` with the resources that `lookup` returns for them,
/// `expand.levels` deep. References that `lookup` cannot resolve stay references.
pub(crate) fn expand(resource: &mut Value, uri: &str, expand: Expand, lookup: &dyn Fn(&str) -> Option<Value>) {
    let mut expander = Expander {
        mode: expand.mode,
        lookup,
        ancestors: HashSet::from([uri.to_string()]),
        inlined: 0,
    };
    expander.expand_resource(resource, expand.levels);
}

struct Expander<'a> {
    mode: ExpandMode,
    lookup: &'a dyn Fn(&str) -> Option<Value>,
    /// URIs of the resources on the path from the response's root to the current one, which
    /// are not inlined again so that cycles end.
    ancestors: HashSet<String>,
    inlined: usize,
}

impl Expander<'_> {
    fn expand_resource(&mut self, resource: &mut Value, levels: u32) {
        let Some(object) = resource.as_object_mut() else {
            return;
        };
        for (key, value) in object.iter_mut() {
            self.expand_value(value, levels, key == "Links");
        }
    }

    fn expand_value(&mut self, value: &mut Value, levels: u32, in_links: bool) {
        match value {
            Value::Object(object) => {
                if let Some(uri) = reference_uri(object) {
                    if self.wants(in_links) {
                        self.inline(value, &uri, levels);
                    }
                    return;
                }
                for (key, child) in object.iter_mut() {
                    self.expand_value(child, levels, in_links || key == "Links");
                }
            }
            Value::Array(items) => {
                for item in items {
                    self.expand_value(item, levels, in_links);
                }
            }
            _ => {}
        }
    }

    fn wants(&self, in_links: bool) -> bool {
        match self.mode {
            ExpandMode::All => true,
            ExpandMode::Subordinate => !in_links,
            ExpandMode::Links => in_links,
        }
    }

    fn inline(&mut self, reference: &mut Value, uri: &str, levels: u32) {
        if self.inlined >= MAX_INLINED || self.ancestors.contains(uri) {
            return;
        }
        let Some(mut target) = (self.lookup)(uri) else {
            return;
        };
        self.inlined += 1;

        if levels > 1 {
            self.ancestors.insert(uri.to_string());
            self.expand_resource(&mut target, levels - 1);
            self.ancestors.remove(uri);
        }
        *reference = target;
    }
}

/// Returns the target of a reference: an object whose only property is `@odata.id`, pointing
/// to a whole resource (no `#` fragment).
fn reference_uri(object: &serde_json::Map<String, Value>) -> Option<String> {
    if object.len() != 1 {
        return None;
    }
    let uri = object.get("@odata.id")?.as_str()?;
    if uri.contains('#') {
        return None;
    }
    Some(uri.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn lookup(uri: &str) -> Option<Value> {
        match uri {
            "/s/1" => Some(
                json!({"Id": "1", "Memory": {"@odata.id": "/s/1/m"}, "Links": {"Chassis": [{"@odata.id": "/c/1"}]}}),
            ),
            "/s/1/m" => Some(json!({"Members": [{"@odata.id": "/s/1/m/a"}]})),
            "/s/1/m/a" => Some(json!({"Id": "a"})),
            "/c/1" => Some(json!({"Id": "c1", "Links": {"ComputerSystems": [{"@odata.id": "/s/1"}]}})),
            _ => None,
        }
    }

    fn systems() -> Value {
        json!({"Members": [{"@odata.id": "/s/1"}, {"@odata.id": "/s/9"}]})
    }

    #[test]
    fn parse_forms_and_levels() {
        let dot = Expand::parse(".", MAX_LEVELS).unwrap();
        assert_eq!(
            dot,
            Expand {
                mode: ExpandMode::Subordinate,
                levels: 1
            }
        );
        assert_eq!(Expand::parse("*($levels=3)", MAX_LEVELS).unwrap().levels, 3);
        assert_eq!(Expand::parse("~", MAX_LEVELS).unwrap().mode, ExpandMode::Links);
    }

    #[test]
    fn parse_rejects_bad_values() {
        assert!(!Expand::parse("Members", MAX_LEVELS).unwrap_err().1);
        assert!(!Expand::parse(".($levels=x)", MAX_LEVELS).unwrap_err().1);
        assert!(Expand::parse(".($levels=0)", MAX_LEVELS).unwrap_err().1);
        assert!(Expand::parse(".($levels=9)", MAX_LEVELS).unwrap_err().1);
        assert!(Expand::parse(".($levels=2)", 1).unwrap_err().1);
    }

    #[test]
    fn max_levels_follows_the_mockup_root() {
        let root = |levels: Value| json!({"ProtocolFeaturesSupported": {"ExpandQuery": {"MaxLevels": levels}}});
        assert_eq!(max_levels(Some(&root(json!(1)))), 1);
        assert_eq!(max_levels(Some(&root(json!(2)))), 2);
        assert_eq!(max_levels(Some(&root(json!(6)))), MAX_LEVELS);
        assert_eq!(max_levels(Some(&root(json!(0)))), 1);
        assert_eq!(max_levels(Some(&json!({}))), MAX_LEVELS);
        assert_eq!(max_levels(None), MAX_LEVELS);
    }

    #[test]
    fn dot_skips_links_and_stops_at_levels() {
        let mut body = systems();

        expand(
            &mut body,
            "/s",
            Expand::parse(".($levels=2)", MAX_LEVELS).unwrap(),
            &lookup,
        );

        let system = &body["Members"][0];
        assert_eq!(system["Id"], "1");
        assert_eq!(system["Memory"]["Members"][0], json!({"@odata.id": "/s/1/m/a"}));
        assert_eq!(system["Links"]["Chassis"][0], json!({"@odata.id": "/c/1"}));
        assert_eq!(
            body["Members"][1],
            json!({"@odata.id": "/s/9"}),
            "unknown target stays a reference"
        );
    }

    #[test]
    fn tilde_expands_only_links() {
        let mut body = lookup("/s/1").unwrap();

        expand(&mut body, "/s/1", Expand::parse("~", MAX_LEVELS).unwrap(), &lookup);

        assert_eq!(body["Memory"], json!({"@odata.id": "/s/1/m"}));
        assert_eq!(body["Links"]["Chassis"][0]["Id"], "c1");
    }

    #[test]
    fn star_ends_cycles_at_ancestors() {
        let mut body = lookup("/s/1").unwrap();

        expand(
            &mut body,
            "/s/1",
            Expand::parse("*($levels=3)", MAX_LEVELS).unwrap(),
            &lookup,
        );

        let chassis = &body["Links"]["Chassis"][0];
        assert_eq!(chassis["Id"], "c1");
        assert_eq!(chassis["Links"]["ComputerSystems"][0], json!({"@odata.id": "/s/1"}));
        assert_eq!(body["Memory"]["Members"][0]["Id"], "a");
    }
}

//! Which Gemini model ids are served today, and how each thinks.
//!
//! Sources (read 2026-11-30): "Gemini deprecations",
//! <https://ai.google.dev/gemini-api/docs/deprecations> (2.0 Flash shut down
//! 2026-06-01; 2.5 Flash / Pro closed to new keys; 3.7 and 3.5 Flash routed
//! to 3.8 and 3.6 since 2026-10-08), "Gemini thinking",
//! <https://ai.google.dev/gemini-api/docs/thinking> (levels per model and
//! their defaults).

/// How a served model behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// Gemini 3 or later: thinks by default, signs its answers, takes
    /// `thinkingLevel`.
    pub gemini3: bool,
    /// A Pro model (thinking cannot be turned off).
    pub pro: bool,
    /// The `thinkingLevel` values it takes.
    pub levels: &'static [&'static str],
    /// The level it thinks at when none is given.
    pub default_level: &'static str,
    /// 3.5 Flash-Lite / 3.6+: no trailing model turn, no custom penalties.
    pub strict: bool,
}

const ALL_LEVELS: &[&str] = &["MINIMAL", "LOW", "MEDIUM", "HIGH"];
const NO_MINIMAL: &[&str] = &["LOW", "MEDIUM", "HIGH"];

/// Gemini 3 at `levels`, defaulting to `default_level`.
const fn g3(levels: &'static [&'static str], default_level: &'static str, strict: bool) -> Spec {
    Spec {
        gemini3: true,
        pro: false,
        levels,
        default_level,
        strict,
    }
}

/// Before Gemini 3: `thinkingBudget` only, no thinking unless asked.
const fn g25(pro: bool) -> Spec {
    Spec {
        gemini3: false,
        pro,
        levels: &[],
        default_level: "",
        strict: false,
    }
}

/// The models served today, with their rules.
const SERVED: &[(&str, Spec)] = &[
    ("gemini-3.8-flash", g3(NO_MINIMAL, "MEDIUM", true)),
    ("gemini-3.6-flash", g3(ALL_LEVELS, "MEDIUM", true)),
    ("gemini-3.5-flash-lite", g3(ALL_LEVELS, "MINIMAL", true)),
    ("gemini-3.1-flash-lite", g3(ALL_LEVELS, "MINIMAL", false)),
    (
        "gemini-3.1-pro-preview",
        Spec {
            pro: true,
            ..g3(NO_MINIMAL, "HIGH", false)
        },
    ),
    ("gemini-3-flash-preview", g3(ALL_LEVELS, "HIGH", false)),
    ("gemini-2.5-flash-lite", g25(false)),
];

/// Aliases and deprecated ids the API answers as another model.
const ROUTES: &[(&str, &str)] = &[
    ("gemini-flash-latest", "gemini-3.8-flash"),
    ("gemini-flash-lite-latest", "gemini-3.5-flash-lite"),
    ("gemini-pro-latest", "gemini-3.1-pro-preview"),
    ("gemini-3.7-flash", "gemini-3.8-flash"),
    ("gemini-3.5-flash", "gemini-3.6-flash"),
];

/// Ids that no longer answer: `true` = closed to new users, `false` = shut down.
const RETIRED: &[(&str, bool)] = &[
    ("gemini-2.0-flash", false),
    ("gemini-2.0-flash-001", false),
    ("gemini-2.0-flash-lite", false),
    ("gemini-2.0-flash-lite-001", false),
    ("gemini-2.5-flash", true),
    ("gemini-2.5-pro", true),
];

/// What a model id resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved {
    /// Served: the id that answers (`modelVersion`) and its rules.
    Served { version: String, spec: Spec },
    /// Retired; `new_users` when only new keys are refused.
    Retired { new_users: bool },
    /// Unknown to the API.
    Unknown,
}

/// Resolves `id` (`extra` are ids served on top of today's, e.g. for an
/// account that still has 2.5 Flash).
pub fn resolve(id: &str, extra: &[String]) -> Resolved {
    if let Some((_, target)) = ROUTES.iter().find(|(from, _)| *from == id) {
        return Resolved::Served {
            version: (*target).to_owned(),
            spec: spec_for(target),
        };
    }
    let served = SERVED.iter().any(|(m, _)| *m == id) || extra.iter().any(|m| m == id || m == "*");
    if served {
        return Resolved::Served {
            version: id.to_owned(),
            spec: spec_for(id),
        };
    }
    match RETIRED.iter().find(|(m, _)| *m == id) {
        Some((_, new_users)) => Resolved::Retired {
            new_users: *new_users,
        },
        None => Resolved::Unknown,
    }
}

/// The rules of a served id; ids not in the table act as Gemini 3 when they
/// start `gemini-3` or higher, as before 3.x otherwise.
fn spec_for(id: &str) -> Spec {
    if let Some((_, spec)) = SERVED.iter().find(|(m, _)| *m == id) {
        return *spec;
    }
    let pro = id.contains("pro");
    let generation = id
        .strip_prefix("gemini-")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit() && c != '.').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap_or(0.0);
    if generation >= 3.0 {
        Spec {
            pro,
            ..g3(ALL_LEVELS, if pro { "HIGH" } else { "MEDIUM" }, false)
        }
    } else {
        g25(pro)
    }
}

/// Thinking tokens a Gemini 3 model spends at a level: made-up, stable numbers.
pub fn level_thoughts(level: &str) -> u64 {
    match level {
        "LOW" => 24,
        "MEDIUM" => 96,
        "HIGH" => 384,
        "XHIGH" => 1024,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_answer_as_their_target_and_retired_ids_are_refused() {
        let Resolved::Served { version, spec } = resolve("gemini-flash-latest", &[]) else {
            panic!("served");
        };
        assert_eq!(version, "gemini-3.8-flash");
        assert_eq!(spec.default_level, "MEDIUM");
        assert_eq!(
            resolve("gemini-2.5-flash", &[]),
            Resolved::Retired { new_users: true }
        );
        assert_eq!(
            resolve("gemini-2.0-flash", &[]),
            Resolved::Retired { new_users: false }
        );
        assert_eq!(resolve("gemini-9-ultra", &[]), Resolved::Unknown);
        assert!(matches!(
            resolve("gemini-2.5-flash", &["gemini-2.5-flash".into()]),
            Resolved::Served { .. }
        ));
        let Resolved::Served { spec, .. } = resolve("gemini-4-pro", &["*".into()]) else {
            panic!("served");
        };
        assert!(spec.gemini3 && spec.pro);
    }
}

//! Command-line argument assembly shared by the static pods and kubeadm-flags.env (spec §5.2).

use serde::{Deserialize, Serialize};

/// One `--name=value` argument; the v1beta4 `extraArgs` item `{name, value}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Arg {
    /// Flag name without leading dashes.
    pub name: String,
    /// Flag value (may be empty).
    pub value: String,
}

impl Arg {
    /// Build an argument from a name and a value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Arg {
            name: name.into(),
            value: value.into(),
        }
    }
}

impl<N: Into<String>, V: Into<String>> From<(N, V)> for Arg {
    fn from((n, v): (N, V)) -> Self {
        Arg::new(n, v)
    }
}

/// How the base and user arguments are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgOrder {
    /// kubeadm ≥ 1.36: sorted base arguments without the overridden names, then the user's
    /// arguments in the user's order (duplicates kept).
    UserOrderAfterSortedBase,
    /// kubeadm ≤ 1.35: the same selection, but the whole combined list sorted by name, then value.
    SortedAll,
}

/// kubeadm's `ArgumentsToCommand`: sort `base` by name then value, drop every base entry whose
/// name appears in `overrides`, append `overrides` (order per [`ArgOrder`]), format `--name=value`.
pub fn arguments_to_command(base: &[Arg], overrides: &[Arg], order: ArgOrder) -> Vec<String> {
    let mut args: Vec<Arg> = base
        .iter()
        .filter(|a| !overrides.iter().any(|o| o.name == a.name))
        .cloned()
        .collect();
    args.sort();
    match order {
        ArgOrder::UserOrderAfterSortedBase => args.extend(overrides.iter().cloned()),
        ArgOrder::SortedAll => {
            args.extend(overrides.iter().cloned());
            args.sort();
        }
    }
    args.iter()
        .map(|a| format!("--{}={}", a.name, a.value))
        .collect()
}

/// kubeadm's `GetArgValue(args, name, -1)`: the value of the last argument called `name`.
pub fn last_arg_value<'a>(args: &'a [Arg], name: &str) -> Option<&'a str> {
    args.iter()
        .rev()
        .find(|a| a.name == name)
        .map(|a| a.value.as_str())
}

/// kubeadm's `SetArgValues(args, name, value, 1)`: replace the value of the first argument called
/// `name`, or append it.
pub fn set_arg(args: &mut Vec<Arg>, name: &str, value: impl Into<String>) {
    let value = value.into();
    match args.iter_mut().find(|a| a.name == name) {
        Some(a) => a.value = value,
        None => args.push(Arg::new(name, value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(n: &str, v: &str) -> Arg {
        Arg::new(n, v)
    }

    #[test]
    fn spec_19_7_vector() {
        let base = [a("b", "2"), a("a", "1"), a("c", "3")];
        let extra = [a("z", "9"), a("b", "X"), a("b", "Y")];
        assert_eq!(
            arguments_to_command(&base, &extra, ArgOrder::UserOrderAfterSortedBase).join(" "),
            "--a=1 --c=3 --z=9 --b=X --b=Y"
        );
        assert_eq!(
            arguments_to_command(&base, &extra, ArgOrder::SortedAll).join(" "),
            "--a=1 --b=X --b=Y --c=3 --z=9"
        );
    }

    #[test]
    fn base_sorted_by_name_then_value() {
        let base = [a("x", "2"), a("x", "1"), a("w", "")];
        assert_eq!(
            arguments_to_command(&base, &[], ArgOrder::UserOrderAfterSortedBase),
            vec!["--w=", "--x=1", "--x=2"]
        );
    }

    #[test]
    fn set_and_get() {
        let mut v = vec![a("p", "1"), a("q", "2"), a("p", "3")];
        assert_eq!(last_arg_value(&v, "p"), Some("3"));
        assert_eq!(last_arg_value(&v, "r"), None);
        set_arg(&mut v, "p", "9");
        set_arg(&mut v, "r", "7");
        assert_eq!(v, vec![a("p", "9"), a("q", "2"), a("p", "3"), a("r", "7")]);
    }
}

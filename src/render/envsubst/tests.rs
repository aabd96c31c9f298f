use super::*;

fn vars(pairs: &[(&str, &str)]) -> Vars {
    Vars {
        values: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), Value::Known(v.to_string())))
            .collect(),
        strict: false,
    }
}

fn sub(text: &str, vars: &Vars) -> Result<String, Error> {
    substitute(text, vars)
}

#[test]
fn defaults_nest_and_every_form_means_empty_or_unset() {
    let v = vars(&[("APP", "web"), ("EMPTY", ""), ("CLAIM", "data")]);
    assert_eq!(sub("${CLAIM:-${APP}}", &v).unwrap(), "data");
    assert_eq!(sub("${NONE:-${APP}}", &v).unwrap(), "web");
    assert_eq!(sub("${NONE:-${ALSO:=x}-y}", &v).unwrap(), "x-y");
    assert_eq!(sub("${NONE:=3}", &v).unwrap(), "3");
    assert_eq!(sub("${EMPTY=d} ${EMPTY:=d}", &v).unwrap(), "d d");
    assert_eq!(sub("${NONE:-}", &v).unwrap(), "");
    assert_eq!(sub("${MISSING}", &v).unwrap(), "");
    assert_eq!(sub("a: ${APP}-${APP}", &v).unwrap(), "a: web-web");
    // `:+` and `:?` are defaults too in this implementation.
    assert_eq!(sub("${NONE:+p} ${APP:+p}", &v).unwrap(), "p web");
}

#[test]
fn escapes_and_bare_dollars_are_text() {
    let v = vars(&[("A", "x")]);
    assert_eq!(sub("$${A}", &v).unwrap(), "${A}");
    assert_eq!(sub("$$A $A $", &v).unwrap(), "$A $A $");
    assert_eq!(sub("$$${A}", &v).unwrap(), "$x");
    assert_eq!(sub("cost: 5$ {A}", &v).unwrap(), "cost: 5$ {A}");
}

#[test]
fn what_flux_refuses_is_an_error() {
    let v = vars(&[("A", "x")]);
    assert_eq!(sub("${A-x}", &v), Err(Error::MissingClosingBrace));
    assert_eq!(sub("${@}", &v), Err(Error::ParseVariableName));
    assert_eq!(sub("${A", &v), Err(Error::MissingClosingBrace));
    assert_eq!(sub("${A:-x", &v), Err(Error::ParseFuncSubstitution));
    // Digits are letters of a name to the scanner.
    assert_eq!(sub("${1x}", &v).unwrap(), "");
}

#[test]
fn functions() {
    let v = vars(&[("N", "Hello-World"), ("P", "a/b/c.tar.gz")]);
    assert_eq!(
        sub("${N,,} ${N^^} ${N,} ${#N}", &v).unwrap(),
        "hello-world HELLO-WORLD hello-World 11"
    );
    assert_eq!(
        sub("${N:6} ${N:0:5} ${N:-5} ${N:1:-1}", &v).unwrap(),
        "World Hello Hello-World ello-Worl"
    );
    assert_eq!(
        sub("${N/o/0} ${N//o/0} ${N/#Hello/Bye} ${N/%World/All}", &v).unwrap(),
        "Hell0-World Hell0-W0rld Bye-World Hello-All"
    );
    assert_eq!(
        sub("${P#*/} ${P##*/} ${P%.*} ${P%%.*}", &v).unwrap(),
        "b/c.tar.gz b/c.tar.gz a/b/c.tar a/b/c"
    );
}

#[test]
fn strict_mode_and_unknown_values() {
    let mut v = vars(&[("A", "x")]);
    v.strict = true;
    assert_eq!(sub("${B}", &v), Err(Error::NotSet("B".into())));
    assert_eq!(sub("${B:=d}", &v).unwrap(), "d");
    assert_eq!(sub("${B:=${C}}", &v), Err(Error::NotSet("C".into())));
    v.values.insert("S".into(), Value::Unknown);
    assert_eq!(
        sub("host: app.${S} ${A:-${S}}", &v).unwrap(),
        "host: app.${S} x"
    );
    assert_eq!(sub("${NONE:=${S}}", &v).unwrap(), "${NONE:=${S}}");
}

#[test]
fn names_flux_accepts() {
    assert!(valid_name("cluster_env"));
    assert!(valid_name("_X1"));
    assert!(!valid_name("1x"));
    assert!(!valid_name("a-b"));
    assert!(!valid_name(""));
}

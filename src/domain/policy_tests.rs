//! Every `when` operator on a present, a missing and a mistyped field; the order in which a
//! `match` reports its first failing part; pointers; globs.

use super::*;
use serde_json::json;

fn body() -> Value {
    json!({
        "intent": "payment.send",
        "resource": "acct/42",
        "payload": {"amount": 150, "currency": "EUR", "big": 9007199254740993_u64,
                    "rate": 1.5, "ok": true, "none": null, "tags": ["a"], "a/b": 1, "m~n": 2},
        "risk": {"score": 40}
    })
}

fn holds(path: &str, op: Op) -> bool {
    Condition {
        path: path.into(),
        op,
    }
    .holds(&body())
}

fn n(v: serde_json::Value) -> Number {
    v.as_number().unwrap().clone()
}

#[test]
fn eq_and_ne_compare_within_one_type() {
    assert!(holds("/payload/currency", Op::Eq(json!("EUR"))));
    assert!(!holds("/payload/currency", Op::Eq(json!("eur"))));
    assert!(holds("/payload/amount", Op::Eq(json!(150.0))));
    assert!(holds("/payload/ok", Op::Eq(json!(true))));
    assert!(holds("/payload/none", Op::Eq(json!(null))));
    assert!(holds("/payload/tags", Op::Eq(json!(["a"]))));
    // No coercion: the number 150 is not the string "150".
    assert!(!holds("/payload/amount", Op::Eq(json!("150"))));
    assert!(holds("/payload/currency", Op::Ne(json!("USD"))));
    assert!(!holds("/payload/currency", Op::Ne(json!("EUR"))));
    // A mistyped or missing field does not hold, for `ne` either.
    assert!(!holds("/payload/amount", Op::Ne(json!("USD"))));
    assert!(!holds("/payload/missing", Op::Ne(json!("USD"))));
    assert!(!holds("/payload/missing", Op::Eq(json!(null))));
}

#[test]
fn order_operators_on_numbers_only() {
    assert!(holds("/payload/amount", Op::Gt(n(json!(100)))));
    assert!(!holds("/payload/amount", Op::Gt(n(json!(150)))));
    assert!(holds("/payload/amount", Op::Gte(n(json!(150)))));
    assert!(!holds("/payload/amount", Op::Gte(n(json!(150.5)))));
    assert!(holds("/payload/amount", Op::Lt(n(json!(150.5)))));
    assert!(!holds("/payload/amount", Op::Lt(n(json!(150)))));
    assert!(holds("/payload/amount", Op::Lte(n(json!(150)))));
    assert!(!holds("/payload/amount", Op::Lte(n(json!(149)))));
    assert!(holds("/payload/rate", Op::Gt(n(json!(1)))));
    assert!(holds("/risk/score", Op::Lte(n(json!(40)))));
    // Exact beyond 2^53, where f64 would call these equal.
    assert!(holds(
        "/payload/big",
        Op::Gt(n(json!(9007199254740992_u64)))
    ));
    for op in [
        Op::Gt(n(json!(0))),
        Op::Gte(n(json!(0))),
        Op::Lt(n(json!(1000))),
        Op::Lte(n(json!(1000))),
    ] {
        // A string that reads as a number is still a string; missing never holds.
        assert!(!holds("/payload/currency", op.clone()));
        assert!(!holds("/payload/missing", op.clone()));
        assert!(!holds("/payload/ok", op.clone()));
        assert!(!holds("/payload/none", op));
    }
}

#[test]
fn in_glob_and_exists() {
    assert!(holds(
        "/payload/currency",
        Op::In(vec![json!("USD"), json!("EUR")])
    ));
    assert!(!holds("/payload/currency", Op::In(vec![json!("USD")])));
    assert!(holds(
        "/payload/amount",
        Op::In(vec![json!("x"), json!(150.0)])
    ));
    assert!(!holds("/payload/amount", Op::In(vec![json!("150")])));
    assert!(!holds("/payload/missing", Op::In(vec![json!(null)])));
    assert!(holds("/resource", Op::Glob("acct/*".into())));
    assert!(!holds("/resource", Op::Glob("user/*".into())));
    assert!(!holds("/payload/amount", Op::Glob("*".into())));
    assert!(!holds("/payload/missing", Op::Glob("*".into())));
    assert!(holds("/payload/none", Op::Exists(true)));
    assert!(holds("/payload/missing", Op::Exists(false)));
    assert!(!holds("/payload/missing", Op::Exists(true)));
    assert!(!holds("/payload/amount", Op::Exists(false)));
    // Escaped tokens reach keys holding `/` and `~`; an array index works as a token.
    assert!(holds("/payload/a~1b", Op::Eq(json!(1))));
    assert!(holds("/payload/m~0n", Op::Eq(json!(2))));
    assert!(holds("/payload/tags/0", Op::Eq(json!("a"))));
}

#[test]
fn a_match_reports_its_first_failing_part() {
    let agent = AgentId::from("a1");
    let other = [AgentId::from("a2")];
    let intents = ["payment.*".to_owned()];
    let when = [Condition {
        path: "/payload/amount".into(),
        op: Op::Gt(n(json!(200))),
    }];
    let b = body();
    let subject = Subject {
        agent: &agent,
        intent: "payment.send",
        risk_score: Some(40),
        body: &b,
    };
    let rule = Rule {
        intents: &intents,
        risk: None,
        agents: None,
        when: &[],
    };
    assert_eq!(rule.check(&subject), Ok(()));
    let wrong_intent = Rule {
        intents: &["db.*".to_owned()],
        ..rule
    };
    assert!(matches!(
        wrong_intent.check(&subject),
        Err(Miss::Intents { .. })
    ));
    let risky = Rule {
        risk: Some((50, 100)),
        ..rule
    };
    assert_eq!(
        risky.check(&Subject {
            risk_score: None,
            ..subject
        }),
        Ok(()),
        "no score counts as 100"
    );
    assert_eq!(
        risky.check(&subject),
        Err(Miss::Risk {
            score: 40,
            min: 50,
            max: 100
        })
    );
    let agents = Rule {
        agents: Some(&other),
        ..rule
    };
    assert!(matches!(agents.check(&subject), Err(Miss::Agents { .. })));
    let large = Rule {
        when: &when,
        ..rule
    };
    assert_eq!(
        large.check(&subject),
        Err(Miss::When {
            index: 0,
            path: "/payload/amount".into(),
            wants: "gt 200".into(),
            actual: Some(json!(150))
        })
    );
}

#[test]
fn pointers() {
    for ok in ["", "/", "/payload/amount", "/a~0b/c~1d", "/0"] {
        assert!(valid_pointer(ok), "{ok}");
    }
    for bad in ["payload/amount", "/a~2", "/a~", "#/a"] {
        assert!(!valid_pointer(bad), "{bad}");
    }
}

#[test]
fn star_spans_dots_and_question_is_one_char() {
    assert!(glob_match("*", ""));
    assert!(glob_match("*", "a.b.c"));
    assert!(glob_match(
        "infrastructure.*",
        "infrastructure.deployment.production"
    ));
    assert!(glob_match(
        "*.production",
        "infrastructure.deployment.production"
    ));
    assert!(glob_match("db.*.drop", "db.users.orders.drop"));
    assert!(glob_match("db.?", "db.x"));
    assert!(!glob_match("db.?", "db.xy"));
    assert!(!glob_match("db.?", "db."));
    assert!(!glob_match("infrastructure.*", "infra.deploy"));
    assert!(!glob_match("deploy", "deploy.production"));
    assert!(glob_match("a*b*c", "aXbYbZc"));
    assert!(!glob_match("a*b*c", "aXbYbZ"));
}

#[test]
fn case_does_not_matter() {
    assert!(glob_match("deploy.production", "Deploy.PRODUCTION"));
}

//! Reads `label<TAB>query` lines on stdin (each query on one line) and
//! prints one line per query:
//!
//! ```text
//! ok<TAB>label<TAB>metrics<TAB>selectors<TAB>groupings
//! error<TAB>label<TAB>message
//! ```
//!
//! * `metrics`: the metric names the query selects, `,`-separated;
//! * `selectors`: `;`-separated `metric=label,label` — the labels each
//!   selector matches on (`__name__` left out; `metric` is `?` if unnamed);
//! * `groupings`: `;`-separated `label,label@metric,metric` — the labels of
//!   each `by (...)` aggregation, `on (...)` or `group_left/right (...)`, and
//!   the metrics beneath it.
//!
//! Exits 1 if any query does not parse. promql-parser also type-checks
//! function arguments and operands (e.g. `rate` of an instant vector).

use std::collections::BTreeSet;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, LabelModifier, VectorSelector};

#[derive(Default)]
struct Found {
    metrics: BTreeSet<String>,
    selectors: Vec<String>,
    groupings: Vec<String>,
}

fn selector(vs: &VectorSelector, found: &mut Found) {
    let mut name = vs.name.clone();
    let mut labels = Vec::new();
    for m in &vs.matchers.matchers {
        if m.name == "__name__" {
            if matches!(m.op, MatchOp::Equal) {
                name = Some(m.value.clone());
            }
        } else {
            labels.push(m.name.clone());
        }
    }
    if let Some(n) = &name {
        found.metrics.insert(n.clone());
    }
    found.selectors.push(format!(
        "{}={}",
        name.as_deref().unwrap_or("?"),
        labels.join(",")
    ));
}

/// The metric names beneath `e`.
fn beneath(e: &Expr) -> BTreeSet<String> {
    let mut f = Found::default();
    walk(e, &mut f);
    f.metrics
}

fn grouping(labels: &[String], exprs: &[&Expr], found: &mut Found) {
    if labels.is_empty() {
        return;
    }
    let mut metrics = BTreeSet::new();
    for e in exprs {
        metrics.extend(beneath(e));
    }
    found.groupings.push(format!(
        "{}@{}",
        labels.join(","),
        metrics.into_iter().collect::<Vec<_>>().join(",")
    ));
}

fn walk(e: &Expr, found: &mut Found) {
    match e {
        Expr::Aggregate(a) => {
            if let Some(LabelModifier::Include(l)) = &a.modifier {
                grouping(&l.labels, &[&a.expr], found);
            }
            walk(&a.expr, found);
            if let Some(p) = &a.param {
                walk(p, found);
            }
        }
        Expr::Unary(u) => walk(&u.expr, found),
        Expr::Binary(b) => {
            if let Some(m) = &b.modifier {
                if let Some(LabelModifier::Include(l)) = &m.matching {
                    grouping(&l.labels, &[&b.lhs, &b.rhs], found);
                }
                grouping(
                    m.card.labels().map_or(&[][..], |l| &l.labels),
                    &[&b.lhs, &b.rhs],
                    found,
                );
            }
            walk(&b.lhs, found);
            walk(&b.rhs, found);
        }
        Expr::Paren(p) => walk(&p.expr, found),
        Expr::Subquery(s) => walk(&s.expr, found),
        Expr::VectorSelector(vs) => selector(vs, found),
        Expr::MatrixSelector(ms) => selector(&ms.vs, found),
        Expr::Call(c) => {
            for a in &c.args.args {
                walk(a, found);
            }
        }
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn main() -> ExitCode {
    let stdin = io::stdin();
    let mut stdout = io::stdout().lock();
    let mut failed = false;
    for line in stdin.lock().lines() {
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                eprintln!("promql-check: reading stdin: {e}");
                return ExitCode::from(2);
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        let (label, query) = line.split_once('\t').unwrap_or(("-", line.as_str()));
        match parser::parse(query) {
            Ok(expr) => {
                let mut found = Found::default();
                walk(&expr, &mut found);
                let metrics: Vec<_> = found.metrics.into_iter().collect();
                let _ = writeln!(
                    stdout,
                    "ok\t{label}\t{}\t{}\t{}",
                    metrics.join(","),
                    found.selectors.join(";"),
                    found.groupings.join(";")
                );
            }
            Err(e) => {
                failed = true;
                let msg = e.replace(['\n', '\t'], " ");
                let _ = writeln!(stdout, "error\t{label}\t{msg}");
            }
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

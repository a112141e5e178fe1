//! Reads `label<TAB>query` lines on stdin (queries on one line) and prints,
//! per line, `ok<TAB>label<TAB>metric,metric,...` with the metric names the
//! query selects, or `error<TAB>label<TAB>message`. Exits 1 if any query
//! does not parse (promql-parser also type-checks function arguments and
//! operands, e.g. `rate` of an instant vector).

use std::collections::BTreeSet;
use std::io::{self, BufRead, Write};
use std::process::ExitCode;

use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, VectorSelector};

fn selector_names(vs: &VectorSelector, out: &mut BTreeSet<String>) {
    if let Some(name) = &vs.name {
        out.insert(name.clone());
    }
    for m in &vs.matchers.matchers {
        if m.name == "__name__" && matches!(m.op, MatchOp::Equal) {
            out.insert(m.value.clone());
        }
    }
}

fn metric_names(e: &Expr, out: &mut BTreeSet<String>) {
    match e {
        Expr::Aggregate(a) => {
            metric_names(&a.expr, out);
            if let Some(p) = &a.param {
                metric_names(p, out);
            }
        }
        Expr::Unary(u) => metric_names(&u.expr, out),
        Expr::Binary(b) => {
            metric_names(&b.lhs, out);
            metric_names(&b.rhs, out);
        }
        Expr::Paren(p) => metric_names(&p.expr, out),
        Expr::Subquery(s) => metric_names(&s.expr, out),
        Expr::VectorSelector(vs) => selector_names(vs, out),
        Expr::MatrixSelector(ms) => selector_names(&ms.vs, out),
        Expr::Call(c) => {
            for a in &c.args.args {
                metric_names(a, out);
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
                let mut names = BTreeSet::new();
                metric_names(&expr, &mut names);
                let names: Vec<_> = names.into_iter().collect();
                let _ = writeln!(stdout, "ok\t{label}\t{}", names.join(","));
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

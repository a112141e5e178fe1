//! The legacy actions: the [`Action`] trait each one implements, and the
//! registry the walk looks an `Action=` value up in.
//!
//! An action says how its legacy parameters parse into a typed request
//! (refusing bad values before anything is sent), which 3.0 call(s) it
//! makes through the [`Scf3Client`] it is handed, and how the typed 3.0
//! answer maps back into the legacy answer. Everything else — decoding,
//! signature and replay checks, region, identity, TC3 signing, sending,
//! the 3.0 → legacy error table, the access log and metrics — is the
//! walk's (`crate::walk`), which knows no action by name.
//!
//! Adding an action: one new file in this directory implementing
//! [`Action`], and one line in the `registry!` list below
//! (docs/architecture.md).

pub mod client;
pub mod params;
pub mod settings;

use std::future::Future;
use std::pin::Pin;

pub use client::{ActionSettings, Failure, GaveUp, Judged, Polled, Scf3Client, Sent};
pub use params::LegacyParams;

use crate::error::BridgeError;
use crate::legacy::answer::LegacyAnswer;

/// A boxed, sendable future: what the registry's type-erased entries return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the access log and metrics say about a request, read off the
/// parsed request (`function`/`namespace` columns, the function label).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Subject<'a> {
    pub function: Option<&'a str>,
    pub namespace: Option<&'a str>,
}

/// One legacy action. Implemented by a unit struct per module; the
/// registry erases the types.
///
/// The walk calls, in order: [`Action::parse`] (after the signature and
/// replay checks), [`Action::subject`], then — once region and signing
/// identity are settled — [`Action::run`] with a client that signs and
/// sends 3.0 calls. An `Err(Failure::Scf(e))` from `run` becomes a legacy
/// error through [`Action::legacy_code`], else the shared table
/// (`translate::legacy_code_for`).
pub trait Action: Send + Sync + 'static {
    /// The legacy `Action` value, e.g. `ListFunctions` (case-sensitive).
    const NAME: &'static str;

    /// The 3.0 actions this legacy action may call, for documentation and
    /// tests (`X-TC-Action` values).
    const SCF3_ACTIONS: &'static [&'static str];

    /// Parameters that may carry an unsigned `@` upload value on POST (the
    /// legacy signature leaves `@` values out). Any other POST parameter
    /// whose value starts with `@` is refused with 4100 before this action
    /// sees it.
    const UPLOAD_PARAMS: &'static [&'static str] = &[];

    /// The typed legacy request.
    type Request: Send + 'static;

    /// Reads and checks the legacy parameters (already verified). Refuse
    /// a value with no valid 3.0 counterpart with
    /// [`params::invalid_value`] (legacy 4000 naming the parameter).
    fn parse(params: LegacyParams) -> Result<Self::Request, BridgeError>;

    /// The function and namespace the request is about, if any.
    fn subject(_request: &Self::Request) -> Subject<'_> {
        Subject::default()
    }

    /// Makes the 3.0 call(s) and maps the answer back. Multi-call
    /// sequences (create then wait, configuration then code) live here,
    /// driven through `scf`.
    fn run(
        request: Self::Request,
        scf: &mut Scf3Client<'_>,
    ) -> impl Future<Output = Result<LegacyAnswer, Failure>> + Send;

    /// This action's legacy code for a 3.0 error code, when it differs
    /// from the shared table (e.g. `GetFunction`'s
    /// `InvalidParameterValue.FunctionName` means "not found").
    fn legacy_code(_scf3_code: &str) -> Option<i64> {
        None
    }
}

/// A registered action, its types erased.
pub struct Entry {
    pub name: &'static str,
    pub scf3_actions: &'static [&'static str],
    pub upload_params: &'static [&'static str],
    pub(crate) run: crate::walk::RunFn,
}

const fn entry<A: Action>() -> Entry {
    Entry {
        name: A::NAME,
        scf3_actions: A::SCF3_ACTIONS,
        upload_params: A::UPLOAD_PARAMS,
        run: crate::walk::run_action::<A>,
    }
}

/// Declares each action module and registers its action: one line each.
macro_rules! registry {
    ($($module:ident :: $action:ident),+ $(,)?) => {
        $(pub mod $module;)+
        /// Every supported action, in the order the `InvalidAction`
        /// message lists them.
        pub static REGISTRY: &[Entry] = &[$(entry::<$module::$action>()),+];
    };
}

registry! {
    invoke_function::InvokeFunction,
    list_functions::ListFunctions,
    get_function::GetFunction,
    delete_function::DeleteFunction,
    get_account_settings::GetAccountSettings,
    create_function::CreateFunction,
    update_function::UpdateFunction,
    get_function_logs::GetFunctionLogs,
    set_trigger::SetTrigger,
    delete_trigger::DeleteTrigger,
}

/// The registered action called `name` (exact, case-sensitive).
pub fn lookup(name: &str) -> Option<&'static Entry> {
    REGISTRY.iter().find(|e| e.name == name)
}

/// `InvokeFunction, ListFunctions, …`: the supported actions, for the
/// `InvalidAction` message.
pub fn supported_names() -> String {
    let names: Vec<&str> = REGISTRY.iter().map(|e| e.name).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_found() {
        for e in REGISTRY {
            assert!(std::ptr::eq(lookup(e.name).unwrap(), e), "{}", e.name);
        }
        assert!(lookup("invokeFunction").is_none());
        assert!(lookup("").is_none());
    }

    #[test]
    fn supported_names_lists_every_action() {
        let names = supported_names();
        for e in REGISTRY {
            assert!(names.contains(e.name), "{names}");
        }
    }
}

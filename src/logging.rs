//! Logging set-up: JSON lines on stderr (text on a terminal), the filter
//! from `SCF_BRIDGE_LOG` or `log.filter`, and the handle that changes it at
//! run time (the admin `/log-level` endpoint and reloads use it).

use std::io::IsTerminal;
use std::sync::Arc;

use crate::admin::LogControl;
use crate::config::Settings;

/// JSON lines (or text on a terminal, or as `log.format` says) on stderr.
/// The filter is `SCF_BRIDGE_LOG` if set, else `log.filter`; it can be
/// changed at run time through the returned control.
pub fn init(settings: &Settings) -> Arc<dyn LogControl> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{fmt, reload, EnvFilter};
    let wanted = std::env::var("SCF_BRIDGE_LOG").unwrap_or_else(|_| settings.log.filter.clone());
    let filter = EnvFilter::try_new(&wanted).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let json = match settings.log.format.as_str() {
        "json" => true,
        "text" => false,
        _ => !std::io::stderr().is_terminal(),
    };
    crate::access_log::set_json(json);
    let registry = tracing_subscriber::registry().with(filter);
    if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_writer(std::io::stderr),
            )
            .init();
    } else {
        // Colour only for a person at a terminal.
        registry
            .with(
                fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .init();
    }
    Arc::new(FilterControl {
        handle,
        current: std::sync::Mutex::new(wanted),
    })
}

struct FilterControl {
    handle: tracing_subscriber::reload::Handle<
        tracing_subscriber::EnvFilter,
        tracing_subscriber::Registry,
    >,
    current: std::sync::Mutex<String>,
}

impl LogControl for FilterControl {
    fn current(&self) -> String {
        self.current.lock().map(|c| c.clone()).unwrap_or_default()
    }

    fn set(&self, filter: &str) -> Result<(), String> {
        let parsed = tracing_subscriber::EnvFilter::try_new(filter)
            .map_err(|e| format!("invalid filter `{filter}`: {e}"))?;
        self.handle.reload(parsed).map_err(|e| e.to_string())?;
        if let Ok(mut c) = self.current.lock() {
            *c = filter.to_owned();
        }
        Ok(())
    }
}
